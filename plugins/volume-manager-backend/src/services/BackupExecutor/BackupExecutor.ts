/*
 * Backs up one PVC: inspect it and its users, start a helper pod that mounts it read-only, exec
 * `tar -czf - -C /data .`, stream stdout into the destination while hashing and counting, and
 * commit the archive only when the exec status says the command succeeded. The helper pod is
 * deleted whatever happens.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod, V1Toleration } from '@kubernetes/client-node';
import { HELPER_POD_MANAGED_BY_LABEL } from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { KubernetesApiError } from '../../kubernetes/errors';
import { ExecFailedError, execStream } from '../../kubernetes/execStream';
import { createPod, deletePod, getNode, listPods } from '../../kubernetes/pods';
import {
  isTransientArchiveSinkError,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from '../ArchiveSinks/types';
import { abortable } from '../abortable';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import {
  describeHelperIdentity,
  HELPER_CONTAINER,
  helperPodSpec,
  type WorkloadIdentity,
} from './helperPodSpec';
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

function mountsClaim(pod: V1Pod, claim: string): boolean {
  return (pod.spec?.volumes ?? []).some(v => v.persistentVolumeClaim?.claimName === claim);
}

function isActive(pod: V1Pod): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

function workloadSecurity(pod: V1Pod | undefined, claim: string): WorkloadIdentity | undefined {
  if (!pod) return undefined;
  const volumeNames = new Set(
    (pod.spec?.volumes ?? []).filter(v => v.persistentVolumeClaim?.claimName === claim).map(v => v.name),
  );
  const container = (pod.spec?.containers ?? []).find(c =>
    (c.volumeMounts ?? []).some(m => volumeNames.has(m.name)),
  );
  const podCtx = pod.spec?.securityContext;
  const containerCtx = container?.securityContext;
  return {
    runAsUser: containerCtx?.runAsUser ?? podCtx?.runAsUser,
    runAsGroup: containerCtx?.runAsGroup ?? podCtx?.runAsGroup,
    runAsNonRoot: containerCtx?.runAsNonRoot ?? podCtx?.runAsNonRoot,
    fsGroup: podCtx?.fsGroup,
    supplementalGroups: podCtx?.supplementalGroups,
  };
}

async function hostnameOf(client: ClusterClient, node: string, signal: AbortSignal): Promise<string> {
  try {
    const n = await getNode(client, node, signal);
    return n.metadata?.labels?.['kubernetes.io/hostname'] ?? node;
  } catch {
    if (signal.aborted) throw new BackupCancelledError();
    return node; // without `get nodes`, the node name is the usual hostname label
  }
}

/**
 * The tolerations a helper needs to land where an unmounted PVC's volume lives: a node-local PV
 * (local-path, local volumes) carries node affinity, and if that node is tainted no pod is there
 * to copy tolerations from. Without read access to the PV or the node this gives none, and the
 * helper's Pending reason says why.
 */
async function tolerationsForVolumeNode(
  client: ClusterClient,
  pvc: V1PersistentVolumeClaim,
  signal: AbortSignal,
): Promise<V1Toleration[] | undefined> {
  const volumeName = pvc.spec?.volumeName;
  if (!volumeName) return undefined;
  try {
    const pv = await client.get<V1PersistentVolume>('persistentvolumes', undefined, volumeName, { signal });
    const hostnames = (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [])
      .flatMap(term => term.matchExpressions ?? [])
      .filter(e => e.key === 'kubernetes.io/hostname' && e.operator === 'In')
      .flatMap(e => e.values ?? []);
    if (hostnames.length !== 1) return undefined;
    const node = await getNode(client, hostnames[0], signal);
    const tolerations = (node.spec?.taints ?? [])
      .filter(t => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
      .map(t => ({ key: t.key, operator: t.value ? 'Equal' : 'Exists', ...(t.value && { value: t.value }), effect: t.effect }));
    return tolerations.length ? tolerations : undefined;
  } catch {
    if (signal.aborted) throw new BackupCancelledError();
    return undefined;
  }
}

/**
 * A helper pod that admission or a quota refused is the namespace's rule, not a bug: say so,
 * with the identity the helper asked for and what would let it in.
 */
function explainRefusedHelper(error: unknown, pod: V1Pod): unknown {
  if (!(error instanceof KubernetesApiError)) return error;
  const refusal = error.refusal;
  if (refusal === 'admission') {
    const added = pod.spec?.containers[0]?.securityContext?.capabilities?.add ?? [];
    let hint = '';
    if (added.includes('DAC_READ_SEARCH')) {
      hint = `The namespace is listed in volumeManager.helper.readAllNamespaces (root with DAC_READ_SEARCH), which only namespaces enforcing "privileged" admit; remove it there.`;
    } else if (pod.spec?.securityContext?.runAsUser === 0) {
      hint = `The workload sets no non-root runAsUser, so the helper runs as root; set the workload's securityContext.runAsUser, or volumeManager.helper.defaultSecurityMode: nonroot.`;
    }
    return new BackupRefusedError(
      `${error.message} The helper asked for ${describeHelperIdentity(pod)}.${hint ? ` ${hint}` : ''}`,
    );
  }
  if (refusal === 'quota') return new BackupRefusedError(error.message);
  return error;
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

  async function deleteHelper(client: ClusterClient, namespace: string, name: string) {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await deletePod(client, namespace, name);
        return;
      } catch (error) {
        if (attempt === 3) {
          logger.error(`Could not delete helper pod ${namespace}/${name}; the janitor will retry`, error as Error);
        } else {
          await new Promise(r => setTimeout(r, 500 * attempt));
        }
      }
    }
  }

  return {
    async run(job: BackupJob, sink: ArchiveSink, hooks: BackupJobHooks): Promise<BackupOutcome> {
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
      const users = (await listPods(client, { namespace: job.namespace, signal: hooks.signal }))
        .filter(p => isActive(p) && mountsClaim(p, job.pvc))
        .filter(p => !p.metadata?.labels?.[HELPER_POD_MANAGED_BY_LABEL])
        .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
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
        hostname: pinned ? await hostnameOf(client, user!.spec!.nodeName!, hooks.signal) : undefined,
        tolerations: pinned
          ? user?.spec?.tolerations
          : (users.length === 0 && (await tolerationsForVolumeNode(client, pvc, hooks.signal))) || undefined,
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
      const cancelled = () => new BackupCancelledError();
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
          throw explainRefusedHelper(error, spec);
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
        if (created) await deleteHelper(client, job.namespace, podName);
      }
    },
  };
}

export type BackupExecutor = ReturnType<typeof createBackupExecutor>;
