/*
 * Restores one backup item into a PVC, in the order issue #14 asks for, so nothing is written to
 * the target before the archive checked out:
 *
 * 1. verifying: the archive is read once from its destination; the bytes are hashed (sha256)
 *    and gunzipped into the tar pre-scan as they stream. The hash must equal the backup record
 *    and the `.sha256` sidecar, and the scan must find a complete archive with no absolute
 *    names, `..`, escaping links, devices or FIFOs. Anything else refuses the restore.
 * 2. preflight: the target. A new PVC must not exist yet and is created (size never below the
 *    archive's uncompressed size); an existing PVC must be Bound, mounted by no pod, and large
 *    enough. A `replace` takes the safety backup (hooks.safetyBackup) here.
 * 3. restoring: a helper pod mounts the target read-write (helperPodSpec in write mode) and the
 *    archive is streamed a second time from the destination into
 *    `sh -c 'head -c <N> | tar -xzpf - ...'` over exec stdin: the read is bounded by the known
 *    archive length, so the end of input never depends on the exec protocol version. The bytes
 *    are hashed again and must equal the verified hash. An existing PVC is extracted into the
 *    staging directory `/data/.nkvm-restore-<id>` and swapped in by a second exec only after
 *    that; a new PVC, which holds nothing yet, is extracted straight into `/data`.
 *
 * On any failure or cancel the staging directory is removed, the helper pod is deleted and a PVC
 * this restore created is deleted, so an existing PVC is left as it was. The swap is the commit
 * point: once it starts it is not cancelled (it renames; a merge copies).
 */
import { createHash } from 'node:crypto';
import { Writable, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { V1PersistentVolumeClaim, V1Pod, V1Toleration } from '@kubernetes/client-node';
import type { RestoreCheck, VolumeOwner } from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import type { StoredRestore } from '../../database/RestoreStore';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { createClaim, deleteClaim, findClaim } from '../../kubernetes/claims';
import { KubernetesApiError } from '../../kubernetes/errors';
import { ExecFailedError, execStream } from '../../kubernetes/execStream';
import { createPod } from '../../kubernetes/pods';
import type { ArchiveDownload, ArchiveSink } from '../ArchiveSinks/types';
import { abortable } from '../abortable';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import {
  describeHelperIdentity,
  helperPodSpec,
  INSTALLATION_ID_LABEL,
  RESTORE_HELPER_CONTAINER,
  RESTORE_ID_LABEL,
  restoreHelperPodName,
  type WorkloadIdentity,
} from '../BackupExecutor/helperPodSpec';
import {
  deleteHelper,
  explainRefusedHelper,
  hostnameOf,
  ownersOf,
  podsUsingClaim,
  templateSecurity,
  tolerationsForVolumeNode,
  waitForPodGone,
  workloadSecurity,
} from '../BackupExecutor/helperSupport';
import { waitForHelperPod } from '../BackupExecutor/waitForHelperPod';
import { createTarScanner, UnsafeArchiveError, type TarScanResult } from '../RestoreScan/tarScan';
import { formatBytes, mebibytes, parseQuantity } from './quantity';
import {
  RestoreCancelledError,
  RestoreRefusedError,
  type RestoreExecutor,
  type RestoreHooks,
  type RestoreOutcome,
} from './types';

/** Where an in-place restore stages the archive, on the target volume itself. */
export const STAGING_PREFIX = '.nkvm-restore-';
/** A new PVC gets at least this much more than the archive's uncompressed size. */
export const NEW_PVC_HEADROOM = 1.1;
const STDOUT_TAIL = 4096;

/**
 * The extraction: bounded read of exactly the archive's length, then tar. `$1` is the
 * directory, `$2` the byte count, `$3` `fresh` (recreate the directory: staging), `empty`
 * (empty /data first: a direct `replace`) or `keep`; the rest are tar's ownership flags.
 */
const EXTRACT_SCRIPT = [
  'set -e',
  'dir="$1"; n="$2"; prep="$3"; shift 3',
  'if [ "$prep" = fresh ]; then rm -rf "$dir"; mkdir -m 700 "$dir"; fi',
  'if [ "$prep" = empty ]; then find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; fi',
  'head -c "$n" | tar -xzf - -C "$dir" "$@"',
].join('\n');

/**
 * The swap of a staged restore. `$1` staging name, `$2` `replace` or `merge`, `$3` `chown` to
 * give directories (and /data) the archive's owners too. Both modes only rename files, so the
 * swap needs no space beyond the staging directory:
 * - replace: everything in /data but the staging directory goes, then its entries move up;
 * - merge: directories are created where missing (a symlink or file in their way is removed,
 *   never followed), every other entry is renamed over its target (a directory in its way is
 *   removed), then each directory gets the archive's mode, times (and owner), deepest first.
 * The staging directory is first renamed to `<staging>.swap`: a cleanup after an interruption
 * removes a staging directory, never a swap in progress. /data itself gets the archive root's
 * mode (and owner).
 */
const SWAP_SCRIPT = [
  'set -e',
  'stage="$1"; mode="$2"; owner="$3"',
  'cd /data',
  'mv "$stage" "$stage.swap"',
  'swap="/data/$stage.swap"',
  'cd "$swap"',
  'if [ "$mode" = replace ]; then',
  '  find /data -mindepth 1 -maxdepth 1 ! -name "$stage.swap" -exec rm -rf {} +',
  '  find . -mindepth 1 -maxdepth 1 -exec mv {} /data/ \\;',
  'else',
  `  find . -mindepth 1 -type d -exec sh -c 'set -e; for d; do t="/data/$d"; if [ -L "$t" ] || { [ -e "$t" ] && [ ! -d "$t" ]; }; then rm -rf "$t"; fi; [ -d "$t" ] || mkdir "$t"; done' sh {} +`,
  `  find . -mindepth 1 ! -type d -exec sh -c 'set -e; for f; do t="/data/$f"; if [ -L "$t" ]; then rm -f "$t"; elif [ -d "$t" ]; then rm -rf "$t"; fi; mv -f "$f" "$t"; done' sh {} +`,
  `  find . -depth -mindepth 1 -type d -exec sh -c 'set -e; for d; do t="/data/$d"; if [ "$0" = chown ]; then chown "$(stat -c %u:%g "$d")" "$t"; fi; chmod "$(stat -c %a "$d")" "$t" || [ "$0" != chown ]; touch -r "$d" "$t" || [ "$0" != chown ]; done' "$owner" {} +`,
  'fi',
  'if [ "$owner" = chown ]; then chown "$(stat -c %u:%g "$swap")" /data; fi',
  'chmod "$(stat -c %a "$swap")" /data || [ "$owner" != chown ]',
  'touch -r "$swap" /data || [ "$owner" != chown ]',
  'cd /data',
  'rm -rf "$swap"',
].join('\n');

const DF_SCRIPT = 'df -kP /data | tail -n 1';

interface Verified {
  sha256: string;
  bytes: number;
  scan: TarScanResult;
}

interface Target {
  client: ClusterClient;
  namespace: string;
  name: string;
  /** The identity the helper takes for `ownership: workload`. */
  identity?: WorkloadIdentity;
  tolerations?: V1Toleration[];
  hostname?: string;
  /** Extract into the staging directory (existing PVC), or straight into /data. */
  staged: boolean;
  /** A `replace` extracted straight into /data (allowDirectExtraction): empty it first. */
  emptyFirst: boolean;
}

/** A Writable that keeps only the last few KiB written (a helper command's stdout). */
function tail(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text = (text + chunk.toString('utf8')).slice(-STDOUT_TAIL);
      callback();
    },
  });
  return { stream, text: () => text };
}

function describeOwner(owner: VolumeOwner, pod: V1Pod): string {
  const name = pod.metadata?.name ?? '?';
  return owner.kind === 'Pod' ? `pod '${name}' (a bare pod)` : `pod '${name}' (${owner.kind} '${owner.name}')`;
}

/** A safe staging name: the restore id reduced to DNS-label characters. */
export function stagingName(restoreId: string): string {
  const id = restoreId.toLowerCase().replace(/[^a-z0-9-]/g, '').slice(0, 63);
  if (!id) throw new RestoreRefusedError(`Restore id '${restoreId}' gives no usable staging directory name`);
  return `${STAGING_PREFIX}${id}`;
}

/** Advice for a restore helper that admission refused. */
function restoreAdmissionHint(pod: V1Pod): string | undefined {
  const added = pod.spec?.containers[0]?.securityContext?.capabilities?.add ?? [];
  if (added.includes('CHOWN')) {
    return `Ownership 'preserve' runs the helper as root with CHOWN, FOWNER, DAC_OVERRIDE and FSETID to give files their archived owners, which namespaces enforcing "restricted" refuse; restore with ownership 'workload' (files then belong to the workload's uid), or into a namespace enforcing "baseline".`;
  }
  if (pod.spec?.securityContext?.runAsUser === 0) {
    return `The workload sets no non-root runAsUser, so the helper runs as root; set the workload's securityContext.runAsUser, or volumeManager.helper.defaultSecurityMode: nonroot.`;
  }
  return undefined;
}

export function createRestoreExecutor(options: {
  registry: ClusterRegistry;
  config: VolumeManagerConfig;
  logger: LoggerService;
  /** Labels every helper pod and created PVC (see helperJanitor). */
  installationId: () => Promise<string>;
  /** Exec subprotocols to offer (tests force v4 or v5); default: all execStream speaks. */
  execProtocols?: string[];
}): RestoreExecutor {
  const { registry, config, logger, installationId, execProtocols } = options;
  const cancelled = () => new RestoreCancelledError();
  /** Cleanup steps run after a cancel too: each is bounded by this instead of the restore's signal. */
  const cleanupSignal = () => AbortSignal.timeout(Math.max(30_000, config.helper.podTimeoutSeconds * 1000 * 2));

  async function openArchive(restore: StoredRestore, sink: ArchiveSink, signal: AbortSignal): Promise<ArchiveDownload> {
    if (!sink.read) {
      throw new RestoreRefusedError(
        `Destination '${sink.id}' (${sink.type}) cannot read archives back, so it cannot serve restores`,
      );
    }
    return abortable(sink.read(restore.source.archiveUri, { signal }), signal, cancelled, late => late.stream.destroy());
  }

  /** Step 1: one read of the archive, hashed and scanned as it streams. */
  async function verify(restore: StoredRestore, sink: ArchiveSink, hooks: RestoreHooks, checks: RestoreCheck[]): Promise<Verified> {
    const { signal } = hooks;
    const expected = restore.source.sha256.toLowerCase();
    const download = await openArchive(restore, sink, signal);
    const total = download.bytes ?? null;
    const hash = createHash('sha256');
    const scanner = createTarScanner();
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    let scanError: Error | undefined;
    gunzip.on('data', (chunk: Buffer) => {
      if (scanError) return;
      try {
        scanner.write(chunk);
      } catch (error) {
        scanError = error as Error;
      }
    });
    gunzip.on('error', error => {
      scanError ??= new UnsafeArchiveError(`the archive is not valid gzip: ${error.message}`);
    });
    const settled = (event: 'drain' | 'end') =>
      new Promise<void>(resolve => {
        const done = () => {
          gunzip.off(event, done);
          gunzip.off('error', done);
          gunzip.off('close', done);
          resolve();
        };
        gunzip.once(event, done);
        gunzip.once('error', done);
        gunzip.once('close', done);
      });
    const stream: Readable = download.stream;
    const onAbort = () => stream.destroy(new RestoreCancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    let bytes = 0;
    try {
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        hooks.onProgress(bytes, total);
        if (!scanError && !gunzip.write(chunk)) await settled('drain');
      }
      if (!scanError) {
        const ended = settled('end');
        gunzip.end();
        await ended;
      }
    } catch (error) {
      if (signal.aborted) throw cancelled();
      throw new Error(`Could not read the archive from destination '${sink.id}': ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      gunzip.destroy();
      stream.destroy();
    }
    let scan: TarScanResult | undefined;
    if (!scanError) {
      try {
        scan = scanner.end();
      } catch (error) {
        scanError = error as Error;
      }
    }
    const sha256 = hash.digest('hex');
    checks.push(
      sha256 === expected
        ? { name: 'sha256', ok: true, message: `The archive's sha256 ${sha256} matches the backup record` }
        : {
            name: 'sha256',
            ok: false,
            message: `The archive's sha256 is ${sha256} but the backup recorded ${expected}: the archive changed after it was written`,
          },
      download.sidecarSha256.toLowerCase() === expected
        ? { name: 'sidecar', ok: true, message: 'The .sha256 sidecar matches the backup record' }
        : {
            name: 'sidecar',
            ok: false,
            message: `The .sha256 sidecar says ${download.sidecarSha256} but the backup recorded ${expected}`,
          },
      scan
        ? {
            name: 'tar-scan',
            ok: true,
            message: `${scan.entries} entries, ${formatBytes(scan.fileBytes)} uncompressed; no absolute names, '..', escaping links, devices or FIFOs`,
          }
        : { name: 'tar-scan', ok: false, message: `Refused: ${scanError?.message ?? 'the archive could not be scanned'}` },
    );
    hooks.onChecks([...checks]);
    const failed = checks.filter(c => !c.ok);
    if (failed.length > 0 || !scan) {
      throw new RestoreRefusedError(`The archive failed verification: ${failed.map(c => c.message).join('; ')}`);
    }
    hooks.onScan({ entries: scan.entries, uncompressedBytes: scan.fileBytes });
    return { sha256, bytes, scan };
  }

  /** Where a new PVC's defaults come from: the source PVC, if it still exists and can be read. */
  async function sourceClaim(restore: StoredRestore, signal: AbortSignal): Promise<V1PersistentVolumeClaim | undefined> {
    try {
      const client = await registry.getClient(restore.source.cluster, restore.requestedBy);
      return await findClaim(client, restore.source.namespace, restore.source.pvc, signal);
    } catch (error) {
      if (signal.aborted) throw cancelled();
      logger.warn(`Could not read the source PVC of restore ${restore.id} for defaults: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** The identity of the workload whose files these are (ownership `workload`). */
  async function identityFor(
    client: ClusterClient,
    namespace: string,
    claim: string,
    signal: AbortSignal,
  ): Promise<WorkloadIdentity | undefined> {
    const users = await podsUsingClaim(client, namespace, claim, signal).catch(() => []);
    return workloadSecurity(users[0], claim) ?? (await templateSecurity(client, namespace, claim, signal));
  }

  async function prepareNewPvc(
    restore: StoredRestore,
    client: ClusterClient,
    verified: Verified,
    hooks: RestoreHooks,
    checks: RestoreCheck[],
  ): Promise<Target> {
    const target = restore.target;
    if (target.type !== 'newPvc') throw new Error('not a new-PVC restore');
    const { namespace, name } = restore.targetPvc!;
    const needed = verified.scan.fileBytes;
    const source = await sourceClaim(restore, hooks.signal);
    const requested = target.size !== undefined ? parseQuantity(target.size) : undefined;
    if (target.size !== undefined && requested === undefined) {
      throw new RestoreRefusedError(`Size '${target.size}' is not a Kubernetes quantity (for example 10Gi)`);
    }
    if (requested !== undefined && requested < needed) {
      checks.push({ name: 'capacity', ok: false, message: `${target.size} is less than the archive's ${formatBytes(needed)} uncompressed` });
      hooks.onChecks([...checks]);
      throw new RestoreRefusedError(
        `The target is too small: the requested size ${target.size} is less than the archive's uncompressed size of ${formatBytes(needed)}`,
      );
    }
    const sourceQuantity = source?.status?.capacity?.storage ?? source?.spec?.resources?.requests?.storage;
    const preferred = target.size ?? (sourceQuantity === undefined ? undefined : String(sourceQuantity));
    const minimum = Math.ceil(needed * NEW_PVC_HEADROOM);
    // The requested (or the source's) size as written, unless the data needs more.
    const size = preferred !== undefined && (parseQuantity(preferred) ?? 0) >= minimum ? preferred : mebibytes(minimum);
    const sameCluster = restore.source.cluster === target.cluster;
    const storageClassName = target.storageClassName ?? (sameCluster ? source?.spec?.storageClassName : undefined);
    const accessModes = target.accessModes?.length ? target.accessModes : source?.spec?.accessModes ?? ['ReadWriteOnce'];

    if (await findClaim(client, namespace, name, hooks.signal)) {
      checks.push({ name: 'target', ok: false, message: `A PVC named '${name}' already exists in '${namespace}'` });
      hooks.onChecks([...checks]);
      throw new RestoreRefusedError(
        `A PVC named '${namespace}/${name}' already exists on cluster '${target.cluster}'; choose another name, or restore into it as an existing PVC`,
      );
    }
    checks.push(
      { name: 'target', ok: true, message: `New PVC '${namespace}/${name}' (${storageClassName ?? 'default storage class'}, ${accessModes.join(', ')})` },
      { name: 'capacity', ok: true, message: `${size} for ${formatBytes(needed)} uncompressed` },
    );
    hooks.onChecks([...checks]);
    const identity =
      restore.ownership === 'workload' && sameCluster
        ? await identityFor(
            await registry.getClient(restore.source.cluster, restore.requestedBy),
            restore.source.namespace,
            restore.source.pvc,
            hooks.signal,
          )
        : undefined;

    const claim: V1PersistentVolumeClaim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name,
        namespace,
        labels: {
          // The backend's labels that make the source's entity claim the PVC (RestoreService).
          ...target.labels,
          [INSTALLATION_ID_LABEL]: await installationId(),
          [RESTORE_ID_LABEL]: restore.id,
        },
      },
      spec: {
        accessModes,
        resources: { requests: { storage: size } },
        ...(storageClassName && { storageClassName }),
      },
    };
    // Recorded before the call: a cancel or timeout may end the request after the server made
    // the PVC. Cleanup deletes only a PVC that carries this restore's id, never another's.
    hooks.onCreatedPvc();
    await createClaim(client, claim, hooks.signal).catch(error => {
      if (error instanceof KubernetesApiError && error.clusterStatusCode === 409) {
        throw new RestoreRefusedError(`A PVC named '${namespace}/${name}' was created by someone else meanwhile`);
      }
      throw error;
    });
    return { client, namespace, name, identity, staged: false, emptyFirst: false };
  }

  async function prepareExistingPvc(
    restore: StoredRestore,
    client: ClusterClient,
    verified: Verified,
    hooks: RestoreHooks,
    checks: RestoreCheck[],
  ): Promise<Target> {
    const target = restore.target;
    if (target.type !== 'existingPvc') throw new Error('not an existing-PVC restore');
    const { namespace, name } = restore.targetPvc!;
    const refuse = (check: string, message: string): never => {
      checks.push({ name: check, ok: false, message });
      hooks.onChecks([...checks]);
      throw new RestoreRefusedError(message);
    };
    const pvc = await findClaim(client, namespace, name, hooks.signal);
    if (!pvc) return refuse('target', `PVC '${namespace}/${name}' does not exist on cluster '${target.cluster}'`);
    if (pvc.status?.phase !== 'Bound') {
      return refuse('target', `PVC '${namespace}/${name}' is ${pvc.status?.phase ?? 'not Bound'}; only a Bound PVC can be restored into`);
    }
    checks.push({ name: 'target', ok: true, message: `PVC '${namespace}/${name}' is Bound` });

    const users = await podsUsingClaim(client, namespace, name, hooks.signal);
    if (users.length > 0) {
      const owners = await ownersOf(client, namespace, users, hooks.signal);
      return refuse(
        'not-mounted',
        `PVC '${namespace}/${name}' is mounted by ${users.map((p, i) => describeOwner(owners[i], p)).join(', ')}; ` +
          `scale the workload down (or delete the pods) so nothing writes to it, then restore again`,
      );
    }
    checks.push({ name: 'not-mounted', ok: true, message: 'No pod mounts the PVC' });

    const needed = verified.scan.fileBytes;
    const capacity = parseQuantity(String(pvc.status?.capacity?.storage ?? pvc.spec?.resources?.requests?.storage ?? ''));
    if (capacity !== undefined && capacity < needed) {
      return refuse(
        'capacity',
        `The target is too small: PVC '${namespace}/${name}' holds ${formatBytes(capacity)}, the archive ${formatBytes(needed)} uncompressed`,
      );
    }
    checks.push({
      name: 'capacity',
      ok: true,
      message: `${capacity === undefined ? 'unknown capacity' : formatBytes(capacity)} for ${formatBytes(needed)} uncompressed`,
    });
    hooks.onChecks([...checks]);

    const identity =
      restore.ownership === 'workload' ? await templateSecurity(client, namespace, name, hooks.signal) : undefined;
    const tolerations = await tolerationsForVolumeNode(client, pvc, hooks.signal, cancelled);
    return {
      client,
      namespace,
      name,
      identity,
      tolerations,
      staged: true,
      emptyFirst: false,
    };
  }

  /** Runs a short command in the helper; resolves with its stdout (tail). */
  async function runInHelper(
    client: ClusterClient,
    namespace: string,
    pod: string,
    command: string[],
    signal: AbortSignal,
  ): Promise<string> {
    const out = tail();
    await execStream(client, {
      namespace,
      pod,
      container: RESTORE_HELPER_CONTAINER,
      command,
      destination: out.stream,
      idleTimeoutMs: config.helper.activeDeadlineSeconds * 1000,
      deadlineMs: config.helper.activeDeadlineSeconds * 1000,
      signal,
    });
    return out.text();
  }

  function helperSpec(restore: StoredRestore, target: Target, installation: string): V1Pod {
    return helperPodSpec({
      namespace: target.namespace,
      pvc: target.name,
      restore: { restoreId: restore.id, ownership: restore.ownership },
      installationId: installation,
      image: config.helper.image,
      activeDeadlineSeconds: config.helper.activeDeadlineSeconds,
      hostname: target.hostname,
      tolerations: target.tolerations,
      workloadSecurity: target.identity,
      defaultSecurityMode: config.helper.defaultSecurityMode,
    });
  }

  /** Creates a helper and waits for it; returns whether the server may have created it. */
  async function startHelper(client: ClusterClient, spec: V1Pod, signal: AbortSignal, state: { created: boolean }) {
    state.created = true;
    await createPod(client, spec, signal).catch(error => {
      if (error instanceof KubernetesApiError && error.clusterStatusCode !== undefined) state.created = false;
      throw explainRefusedHelper(error, spec, m => new RestoreRefusedError(m), restoreAdmissionHint);
    });
    return waitForHelperPod(client, spec.metadata!.namespace!, spec.metadata!.name!, {
      timeoutMs: config.helper.podTimeoutSeconds * 1000,
      signal,
      purpose: 'restore',
    });
  }

  /**
   * Removes a staging directory. In the restore's helper when it still runs; otherwise (the pod
   * was killed) in a short-lived helper of its own.
   */
  async function removeStaging(restore: StoredRestore, target: Target, helper: string | undefined) {
    const stage = stagingName(restore.id);
    const command = ['rm', '-rf', `/data/${stage}`];
    if (helper) {
      try {
        await runInHelper(target.client, target.namespace, helper, command, cleanupSignal());
        return;
      } catch (error) {
        logger.info(`Removing the staging directory in helper ${helper} failed (${(error as Error).message}); using a new helper`);
      }
    }
    const spec = helperSpec(restore, target, await installationId());
    spec.metadata!.name = `${spec.metadata!.name}-clean`;
    const state = { created: false };
    try {
      const signal = cleanupSignal();
      await startHelper(target.client, spec, signal, state);
      await runInHelper(target.client, target.namespace, spec.metadata!.name!, command, signal);
    } finally {
      if (state.created) await deleteHelper(target.client, target.namespace, spec.metadata!.name!, logger);
    }
  }

  /** Deletes a PVC only if this restore made it (its restore-id label says so). */
  async function deleteCreatedPvc(client: ClusterClient, restore: StoredRestore, namespace: string, name: string) {
    const pvc = await findClaim(client, namespace, name, cleanupSignal());
    if (!pvc) return;
    if (pvc.metadata?.labels?.[RESTORE_ID_LABEL] !== restore.id) {
      logger.warn(`Not deleting PVC ${namespace}/${name}: restore ${restore.id} did not create it`);
      return;
    }
    await deleteClaim(client, namespace, name, cleanupSignal());
  }

  /** Step 3: stream the archive again into tar in the helper, then swap a staged restore in. */
  async function write(
    restore: StoredRestore,
    sink: ArchiveSink,
    hooks: RestoreHooks,
    target: Target,
    verified: Verified,
    helper: string,
    checks: RestoreCheck[],
    state: { execEnded: boolean; swapStarted: boolean },
  ) {
    const { signal } = hooks;
    const stage = stagingName(restore.id);
    const dir = target.staged ? `/data/${stage}` : '/data';
    const ownerFlags = restore.ownership === 'preserve' ? ['-p', '--numeric-owner'] : ['-p', '--no-same-owner'];
    let prep = 'keep';
    if (target.staged) prep = 'fresh';
    else if (target.emptyFirst) prep = 'empty';
    const download = await openArchive(restore, sink, signal);
    if (download.sidecarSha256.toLowerCase() !== verified.sha256) {
      download.stream.destroy();
      throw new RestoreRefusedError('The archive\'s .sha256 sidecar changed between verification and extraction');
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const changed = () =>
      new RestoreRefusedError(
        `The archive changed between verification and extraction (${bytes} bytes read this time, ${verified.bytes} verified); the extracted data was discarded`,
      );
    // The second read must be the verified archive: a longer or shorter stream stops the exec
    // at once (with v4 a short one would leave `head` waiting), a different one fails below.
    const mismatch = new AbortController();
    const stdin = download.stream;
    stdin.on('error', () => {}); // execStream reports it while it runs; a late one (cancel) is moot
    stdin.on('end', () => {
      if (bytes !== verified.bytes) mismatch.abort();
    });
    try {
      await execStream(target.client, {
        namespace: target.namespace,
        pod: helper,
        container: RESTORE_HELPER_CONTAINER,
        command: ['sh', '-c', EXTRACT_SCRIPT, 'sh', dir, String(verified.bytes), prep, ...ownerFlags],
        destination: tail().stream,
        stdin,
        onStdinChunk: (chunk: Buffer) => {
          hash.update(chunk);
          bytes += chunk.length;
          if (bytes > verified.bytes) mismatch.abort();
          hooks.onProgress(Math.min(bytes, verified.bytes), verified.bytes);
        },
        idleTimeoutMs: 10 * 60 * 1000,
        stallTimeoutMs: config.remoteTransfer.stallTimeoutMs,
        deadlineMs: config.helper.activeDeadlineSeconds * 1000,
        signal: AbortSignal.any([signal, mismatch.signal]),
        ...(execProtocols && { protocols: execProtocols }),
      });
      state.execEnded = true;
    } catch (error) {
      // tar exited (with a status): nothing runs in the helper any more.
      state.execEnded = error instanceof ExecFailedError && error.exitCode !== undefined;
      if (signal.aborted) throw cancelled();
      if (mismatch.signal.aborted) throw changed();
      // All bytes went in but tar failed: say so if they were not the verified archive.
      if (bytes === verified.bytes && hash.copy().digest('hex') !== verified.sha256) throw changed();
      throw error;
    } finally {
      stdin.destroy();
    }
    if (bytes !== verified.bytes || hash.digest('hex') !== verified.sha256) throw changed();
    checks.push({ name: 'extract', ok: true, message: `Extracted ${verified.scan.entries} entries; the streamed archive matched the verified sha256` });
    hooks.onChecks([...checks]);
    if (!target.staged) return;
    if (signal.aborted) throw cancelled();
    const mode = restore.target.type === 'existingPvc' ? restore.target.mode : 'merge';
    // The commit point: not cancelled once started.
    state.swapStarted = true;
    await runInHelper(
      target.client,
      target.namespace,
      helper,
      ['sh', '-c', SWAP_SCRIPT, 'sh', stage, mode, restore.ownership === 'preserve' ? 'chown' : 'keep'],
      AbortSignal.timeout(config.helper.activeDeadlineSeconds * 1000),
    ).catch(error => {
      throw new Error(
        `Swapping the restored files into place failed (${(error as Error).message}); the volume may be partly restored, the rest is in /data/${stage}.swap`,
        { cause: error },
      );
    });
  }

  /** Free space for staging, from `df -kP /data` in the helper. */
  async function checkStagingSpace(
    restore: StoredRestore,
    target: Target,
    helper: string,
    verified: Verified,
    hooks: RestoreHooks,
    checks: RestoreCheck[],
  ) {
    if (restore.target.type !== 'existingPvc') return;
    const out = await runInHelper(target.client, target.namespace, helper, ['sh', '-c', DF_SCRIPT], hooks.signal);
    const available = Number(out.trim().split(/\s+/)[3]) * 1024;
    const needed = Math.ceil(verified.scan.tarBytes * NEW_PVC_HEADROOM);
    if (!Number.isFinite(available)) {
      throw new Error(`Could not read the free space of the volume from 'df -kP /data': ${out.trim().slice(0, 200)}`);
    }
    if (available >= needed) {
      checks.push({ name: 'staging-space', ok: true, message: `${formatBytes(available)} free for ${formatBytes(needed)} of staging` });
      hooks.onChecks([...checks]);
      return;
    }
    if (!restore.target.allowDirectExtraction) {
      checks.push({ name: 'staging-space', ok: false, message: `${formatBytes(available)} free, staging needs ${formatBytes(needed)}` });
      hooks.onChecks([...checks]);
      throw new RestoreRefusedError(
        `The volume has ${formatBytes(available)} free but staging the archive needs ${formatBytes(needed)}: ` +
          `it cannot be restored without risk. Grow the PVC, or allow direct extraction (a failure then leaves it partly restored)`,
      );
    }
    checks.push({
      name: 'staging-space',
      ok: true,
      message: `${formatBytes(available)} free, less than the ${formatBytes(needed)} staging needs: extracting directly (allowed by the request)`,
    });
    hooks.onChecks([...checks]);
    target.staged = false;
    target.emptyFirst = restore.target.mode === 'replace';
  }

  return {
    async run(restore: StoredRestore, sink: ArchiveSink, hooks: RestoreHooks): Promise<RestoreOutcome> {
      const { signal } = hooks;
      const checks: RestoreCheck[] = [];
      if (!restore.targetPvc) throw new RestoreRefusedError('The restore has no target PVC');
      stagingName(restore.id);

      hooks.onPhase('verifying');
      const verified = await verify(restore, sink, hooks, checks);
      if (signal.aborted) throw cancelled();

      hooks.onPhase('preflight');
      const kube = await registry.getClient(restore.target.cluster, restore.requestedBy);
      let target: Target | undefined;
      let createdPvc = false;
      const onCreatedPvc = () => {
        createdPvc = true;
        hooks.onCreatedPvc();
      };
      const helperState = { created: false };
      let helperName: string | undefined;
      let extractionStarted = false;
      const writeState = { execEnded: false, swapStarted: false };
      let done = false;
      try {
        target =
          restore.target.type === 'newPvc'
            ? await prepareNewPvc(restore, kube, verified, { ...hooks, onCreatedPvc }, checks)
            : await prepareExistingPvc(restore, kube, verified, hooks, checks);
        if (restore.target.type === 'existingPvc' && restore.target.mode === 'replace' && restore.target.safetyBackup !== false) {
          if (signal.aborted) throw cancelled();
          try {
            await abortable(hooks.safetyBackup(), signal, cancelled);
          } catch (error) {
            if (signal.aborted) throw cancelled();
            throw new RestoreRefusedError(`The safety backup of the PVC failed, so nothing was restored: ${(error as Error).message}`);
          }
          checks.push({ name: 'safety-backup', ok: true, message: 'A backup of the PVC was taken first' });
          hooks.onChecks([...checks]);
        }
        if (signal.aborted) throw cancelled();

        hooks.onPhase('restoring');
        const spec = helperSpec(restore, target, await installationId());
        helperName = spec.metadata!.name!;
        await startHelper(kube, spec, signal, helperState).catch(error => {
          if (signal.aborted) throw cancelled();
          throw error;
        });
        hooks.onHelperPod(helperName);
        checks.push({ name: 'helper', ok: true, message: `Helper '${helperName}' writes as ${describeHelperIdentity(spec)}` });
        hooks.onChecks([...checks]);
        await checkStagingSpace(restore, target, helperName, verified, hooks, checks);
        extractionStarted = true;
        await write(restore, sink, hooks, target, verified, helperName, checks, writeState);
        done = true;
        return { entries: verified.scan.entries, uncompressedBytes: verified.scan.fileBytes };
      } catch (error) {
        if (target?.staged && extractionStarted && !writeState.swapStarted) {
          const staged = target;
          // A tar that may still run (cancel, a dropped connection) dies with its pod before the
          // staging directory goes; one that exited leaves the helper free to remove it.
          const helper = helperState.created && writeState.execEnded ? helperName : undefined;
          if (!helper && helperState.created && helperName) {
            await deleteHelper(kube, staged.namespace, helperName, logger);
            if (!(await waitForPodGone(kube, staged.namespace, helperName, config.helper.podTimeoutSeconds * 1000))) {
              logger.warn(`Helper ${helperName} of restore ${restore.id} is still terminating; removing its staging directory anyway`);
            }
            helperState.created = false;
          }
          await removeStaging(restore, staged, helper).catch(e =>
            logger.error(`Could not remove the staging directory of restore ${restore.id} from ${staged.namespace}/${staged.name}`, e as Error),
          );
        }
        if (signal.aborted && !(error instanceof RestoreRefusedError)) throw cancelled();
        throw restore.ownership === 'workload' && error instanceof ExecFailedError && /Permission denied/.test(error.stderr)
          ? new RestoreRefusedError(`${error.message} (the helper wrote as the workload's identity; restore with ownership 'preserve' to write every file)`)
          : error;
      } finally {
        if (helperState.created && helperName) await deleteHelper(kube, restore.targetPvc.namespace, helperName, logger);
        if (createdPvc && !done) {
          await deleteCreatedPvc(kube, restore, restore.targetPvc.namespace, restore.targetPvc.name).catch(e =>
            logger.error(`Could not delete PVC ${restore.targetPvc!.namespace}/${restore.targetPvc!.name} of failed restore ${restore.id}`, e as Error),
          );
        }
      }
    },

    async cleanup(restore: StoredRestore): Promise<void> {
      const t = restore.targetPvc;
      if (!t) return;
      const kube = await registry.getClient(t.cluster, restore.requestedBy);
      await deleteHelper(kube, t.namespace, restoreHelperPodName(restore.id), logger);
      if (restore.createdPvc) {
        await deleteCreatedPvc(kube, restore, t.namespace, t.name);
        return;
      }
      if (restore.target.type !== 'existingPvc') return;
      // A staging directory may be left on the volume: remove it where a helper can reach it.
      const pvc = await findClaim(kube, t.namespace, t.name, cleanupSignal());
      if (pvc?.status?.phase !== 'Bound') return;
      const users = await podsUsingClaim(kube, t.namespace, t.name, cleanupSignal());
      const modes = pvc.spec?.accessModes ?? [];
      if (users.length > 0 && modes.includes('ReadWriteOncePod')) {
        logger.warn(`Restore ${restore.id}: PVC ${t.namespace}/${t.name} is in use (ReadWriteOncePod); remove /${stagingName(restore.id)} from it by hand`);
        return;
      }
      const pinned = modes.includes('ReadWriteOnce') && !modes.includes('ReadWriteMany') && users[0]?.spec?.nodeName;
      const target: Target = {
        client: kube,
        namespace: t.namespace,
        name: t.name,
        staged: true,
        emptyFirst: false,
        hostname: pinned ? await hostnameOf(kube, users[0].spec!.nodeName!, cleanupSignal(), cancelled) : undefined,
        tolerations: pinned ? users[0].spec?.tolerations : await tolerationsForVolumeNode(kube, pvc, cleanupSignal(), cancelled),
        identity: restore.ownership === 'workload' ? await templateSecurity(kube, t.namespace, t.name, cleanupSignal()) : undefined,
      };
      await removeStaging(restore, target, undefined);
    },
  };
}
