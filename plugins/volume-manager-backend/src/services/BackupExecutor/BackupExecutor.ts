/*
 * Backs up one PVC: inspect it and its users, start a helper pod that mounts it read-only, exec
 * `tar -czf - -C /data .`, stream stdout into the destination while hashing and counting, and
 * commit the archive only when the exec status says the command succeeded. The helper pod is
 * deleted whatever happens.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import { KubernetesApiError } from '../../kubernetes/errors';
import { ExecFailedError, execStream } from '../../kubernetes/execStream';
import { createPod } from '../../kubernetes/pods';
import {
  isTransientArchiveSinkError,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from '../ArchiveSinks/types';
import { abortable } from '../abortable';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import { describeHelperIdentity, HELPER_CONTAINER, helperPodSpec } from './helperPodSpec';
import {
  deleteHelper,
  explainRefusedHelper,
  hostnameOf,
  podsUsingClaim,
  tolerationsForVolumeNode,
  workloadSecurity,
} from './helperSupport';
import { waitForHelperPod } from './waitForHelperPod';

export const TAR_COMMAND = ['tar', '-czf', '-', '-C', '/data', '.'];

export interface BackupJob {
  runId: string;
  itemId: string;
  cluster: string;
  namespace: string;
  pvc: string;
  requestedBy: string;
}

export interface BackupJobHooks {
  signal: AbortSignal;
  onHelperPod(name: string, node: string | null): void;
  onProgress(bytes: number): void;
}

export interface BackupOutcome {
  bytes: number;
  sha256: string;
  archiveUri: string;
}

export class BackupRefusedError extends Error {
  readonly name = 'BackupRefusedError';
}

export class BackupCancelledError extends Error {
  readonly name = 'BackupCancelledError';
  constructor() {
    super('The backup was cancelled');
  }
}

/** Advice for a backup helper that admission refused. */
function backupAdmissionHint(pod: V1Pod): string | undefined {
  const added = pod.spec?.containers[0]?.securityContext?.capabilities?.add ?? [];
  if (added.includes('DAC_READ_SEARCH')) {
    return `The namespace is listed in volumeManager.helper.readAllNamespaces (root with DAC_READ_SEARCH), which only namespaces enforcing "privileged" admit; remove it there.`;
  }
  if (pod.spec?.securityContext?.runAsUser === 0) {
    return `The workload sets no non-root runAsUser, so the helper runs as root; set the workload's securityContext.runAsUser, or volumeManager.helper.defaultSecurityMode: nonroot.`;
  }
  return undefined;
}

/** tar met files the helper's identity may not read: say which identity, and the way out. */
function explainUnreadable(error: unknown, pod: V1Pod): unknown {
  if (!(error instanceof ExecFailedError) || !/Permission denied/.test(error.stderr)) return error;
  return new ExecFailedError(
    `${error.message} (the helper read as ${describeHelperIdentity(pod)}, the identity of the workload ` +
      `that mounts the PVC; files it cannot read need the namespace in volumeManager.helper.readAllNamespaces)`,
    error.exitCode,
    error.stderr,
  );
}

export function createBackupExecutor(options: {
  registry: ClusterRegistry;
  config: VolumeManagerConfig;
  logger: LoggerService;
  /** Labels every helper pod (see helperJanitor). */
  installationId: () => Promise<string>;
}) {
  const { registry, config, logger, installationId } = options;

  return {
    async run(job: BackupJob, sink: ArchiveSink, hooks: BackupJobHooks): Promise<BackupOutcome> {
      const cancelled = () => new BackupCancelledError();
      const client = await registry.getClient(job.cluster, job.requestedBy);
      let pvc: V1PersistentVolumeClaim;
      try {
        pvc = await client.get<V1PersistentVolumeClaim>('persistentvolumeclaims', job.namespace, job.pvc, {
          signal: hooks.signal,
        });
      } catch (error) {
        if (error instanceof KubernetesApiError && error.clusterStatusCode === 404) {
          throw new BackupRefusedError(`PVC '${job.namespace}/${job.pvc}' does not exist on cluster '${job.cluster}'`);
        }
        throw error;
      }
      if (pvc.status?.phase !== 'Bound') {
        throw new BackupRefusedError(
          `PVC '${job.namespace}/${job.pvc}' is ${pvc.status?.phase ?? 'not Bound'}; only Bound PVCs hold data to back up`,
        );
      }
      const users = await podsUsingClaim(client, job.namespace, job.pvc, hooks.signal);
      const modes = pvc.spec?.accessModes ?? [];
      if (modes.includes('ReadWriteOncePod') && users.length > 0) {
        throw new BackupRefusedError(
          `PVC '${job.namespace}/${job.pvc}' is ReadWriteOncePod and in use by pod '${users[0].metadata?.name}'; ` +
            `no second pod can mount it. Stop the workload, or back up from a snapshot clone.`,
        );
      }
      const user = users[0];
      const pinned = modes.includes('ReadWriteOnce') && !modes.includes('ReadWriteMany') && user?.spec?.nodeName;
      const spec = helperPodSpec({
        namespace: job.namespace,
        pvc: job.pvc,
        runId: job.runId,
        itemId: job.itemId,
        installationId: await installationId(),
        image: config.helper.image,
        activeDeadlineSeconds: config.helper.activeDeadlineSeconds,
        hostname: pinned ? await hostnameOf(client, user!.spec!.nodeName!, hooks.signal, cancelled) : undefined,
        tolerations: pinned
          ? user?.spec?.tolerations
          : (users.length === 0 && (await tolerationsForVolumeNode(client, pvc, hooks.signal, cancelled))) || undefined,
        workloadSecurity: workloadSecurity(user, job.pvc),
        defaultSecurityMode: config.helper.defaultSecurityMode,
        readAll: config.helper.readAllNamespaces.includes(job.namespace),
      });
      const podName = spec.metadata!.name!;

      const target: ArchiveTarget = {
        cluster: job.cluster,
        namespace: job.namespace,
        pvc: job.pvc,
        startedAt: new Date(),
      };
      const abortLate = (late: ArchiveUpload) =>
        late.abort().catch(e => logger.warn(`Could not remove a partial archive: ${e}`));
      // A sink (a module's) that ignores the signal cannot hold a cancelled item.
      const open = () => abortable(sink.open(target, { signal: hooks.signal }), hooks.signal, cancelled, abortLate);
      let upload: ArchiveUpload | undefined = await open();
      /** A commit still running after a cancel: abort() waits for it. */
      let committing: Promise<unknown> | undefined;
      let created = false;
      try {
        // Counted as created before the call: a cancel or timeout may end the request after the
        // server made the pod, and deleting a pod that does not exist is harmless. A refusal
        // the server answered (admission, quota, RBAC) made no pod.
        created = true;
        await createPod(client, spec, hooks.signal).catch(error => {
          if (error instanceof KubernetesApiError && error.clusterStatusCode !== undefined) created = false;
          throw explainRefusedHelper(error, spec, m => new BackupRefusedError(m), backupAdmissionHint);
        });
        hooks.onHelperPod(podName, pinned ? user!.spec!.nodeName! : null);
        const running = await waitForHelperPod(client, job.namespace, podName, {
          timeoutMs: config.helper.podTimeoutSeconds * 1000,
          signal: hooks.signal,
        });
        hooks.onHelperPod(podName, running.spec?.nodeName ?? null);

        // A sink failure marked transient (a remote server dropping the connection) re-runs
        // tar in the same helper pod into a fresh upload, with backoff: the stream itself
        // cannot be replayed without buffering the archive.
        const retry = config.remoteTransfer;
        for (let attempt = 1; ; attempt++) {
          const current: ArchiveUpload = upload ?? (await open());
          upload = current;
          try {
            const hash = createHash('sha256');
            let bytes = 0;
            await execStream(client, {
              namespace: job.namespace,
              pod: podName,
              container: HELPER_CONTAINER,
              command: TAR_COMMAND,
              destination: current.stream,
              onChunk: chunk => {
                hash.update(chunk);
                bytes += chunk.length;
                hooks.onProgress(bytes);
              },
              idleTimeoutMs: 10 * 60 * 1000,
              stallTimeoutMs: config.remoteTransfer.stallTimeoutMs,
              deadlineMs: config.helper.activeDeadlineSeconds * 1000,
              signal: hooks.signal,
            });
            const sha256 = hash.digest('hex');
            const commit = current.commit({ sha256, bytes }, { signal: hooks.signal });
            committing = commit.catch(() => {});
            const { uri } = await abortable(commit, hooks.signal, cancelled);
            committing = undefined;
            upload = undefined;
            return { bytes, sha256, archiveUri: uri };
          } catch (error) {
            if (!hooks.signal.aborted) committing = undefined; // a failed commit has settled
            if (!isTransientArchiveSinkError(error) || attempt >= retry.attempts || hooks.signal.aborted) {
              throw error;
            }
            upload = undefined;
            await current.abort().catch(e => logger.warn(`Could not remove a partial archive: ${e}`));
            const delayMs = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** (attempt - 1));
            logger.warn(
              `Upload to '${sink.id}' failed (attempt ${attempt} of ${retry.attempts}); streaming again in ${delayMs} ms: ${(error as Error).message}`,
              { itemId: job.itemId, pvc: `${job.namespace}/${job.pvc}` },
            );
            await sleep(delayMs, undefined, { signal: hooks.signal }).catch(() => {
              throw new BackupCancelledError();
            });
          }
        }
      } catch (error) {
        if (upload && committing) {
          // The sink is still committing (it ignored the cancel): abort once that settled.
          const pending = upload;
          committing.then(() => abortLate(pending));
        } else if (upload) {
          await abortLate(upload);
        }
        throw explainUnreadable(error, spec);
      } finally {
        if (created) await deleteHelper(client, job.namespace, podName, logger);
      }
    },
  };
}

export type BackupExecutor = ReturnType<typeof createBackupExecutor>;
