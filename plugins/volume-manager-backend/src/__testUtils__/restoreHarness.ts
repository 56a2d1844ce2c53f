/*
 * Drives the restore executor directly against kube-sim: a backend-less harness with the real
 * cluster registry, the real backup executor (to make archives), the local sink, a recorder of
 * the executor's hooks, a tar writer for hostile archives, and admin calls to the simulator.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ConfigReader } from '@backstage/config';
import { mockServices } from '@backstage/backend-test-utils';
import type { Fixture, KubeSim } from '@nkvm/kube-sim';
import type { RestoreCheck, RestoreOwnership, RestoreTarget } from '@nkvm/backstage-plugin-volume-manager-common';
import { readVolumeManagerConfig, type VolumeManagerConfig } from '../config/readVolumeManagerConfig';
import type { StoredRestore } from '../database/RestoreStore';
import { LocalArchiveSink } from '../services/ArchiveSinks/LocalArchiveSink';
import { createBackupExecutor } from '../services/BackupExecutor/BackupExecutor';
import { createClusterRegistry } from '../services/ClusterRegistry/ClusterRegistry';
import { createRestoreExecutor } from '../services/RestoreExecutor/RestoreExecutor';
import type { RestoreHooks } from '../services/RestoreExecutor/types';

export const run = promisify(execFile);
export const MANAGED = 'app.kubernetes.io/managed-by=nerdy-k8s-volume-manager';

export interface ArchiveRef {
  namespace: string;
  pvc: string;
  archiveUri: string;
  sha256: string;
  bytes: number;
}

export function restoreHarness(sim: KubeSim, volumeManager: object = {}) {
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-restore-'));
  const config: VolumeManagerConfig = readVolumeManagerConfig(
    new ConfigReader({
      volumeManager: {
        backupDir,
        // The odd tree holds 0600 files of other uids: backups read them as root with DAC_READ_SEARCH.
        helper: { podTimeoutSeconds: 20, readAllNamespaces: ['apps'] },
        clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
        ...volumeManager,
      },
    }),
    {},
  );
  const logger = mockServices.logger.mock();
  const registry = createClusterRegistry({ config, authStrategies: new Map(), logger });
  const sink = new LocalArchiveSink(backupDir);
  const installationId = async () => 'restore-test';
  const backupExecutor = createBackupExecutor({ registry, config, logger, installationId });
  const executor = createRestoreExecutor({ registry, config, logger, installationId });
  let counter = 0;

  async function backup(namespace: string, pvc: string): Promise<ArchiveRef> {
    counter++;
    const outcome = await backupExecutor.run(
      { runId: `run-${counter}`, itemId: `item-${counter}-${Date.now()}`, cluster: 'sim', namespace, pvc, requestedBy: 'user:default/guest' },
      sink,
      { signal: new AbortController().signal, onHelperPod: () => {}, onProgress: () => {} },
    );
    return { namespace, pvc, ...outcome };
  }

  /** Stores crafted archive bytes as a local archive with a correct sidecar. */
  function storeArchive(namespace: string, pvc: string, bytes: Buffer): ArchiveRef {
    counter++;
    const dir = path.join(backupDir, 'sim', namespace, pvc);
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${pvc}-20260101T0000${String(counter).padStart(2, '0')}Z.tar.gz`);
    writeFileSync(file, bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(`${file}.sha256`, `${sha256}  ${path.basename(file)}\n`);
    return { namespace, pvc, archiveUri: pathToFileURL(file).href, sha256, bytes: bytes.length };
  }

  function restoreOf(
    archive: ArchiveRef,
    target: RestoreTarget,
    options: { ownership?: RestoreOwnership; id?: string } = {},
  ): StoredRestore {
    counter++;
    const id = options.id ?? `${counter.toString(16).padStart(4, '0')}aaaa-bbbb-4ccc-8ddd-${Date.now().toString(16).padStart(12, '0')}`;
    const now = new Date().toISOString();
    const name = target.name ?? `${archive.pvc}-restore-${id.slice(0, 8)}`;
    return {
      id,
      phase: 'verifying',
      itemId: `item-${id}`,
      source: { cluster: 'sim', namespace: archive.namespace, pvc: archive.pvc, archiveUri: archive.archiveUri, sha256: archive.sha256, destination: 'local' },
      target,
      targetPvc: { cluster: target.cluster, namespace: target.namespace, name },
      ownership: options.ownership ?? 'preserve',
      entityRef: null,
      requestedBy: 'user:default/guest',
      createdAt: now,
      startedAt: now,
      finishedAt: null,
      bytesDone: 0,
      bytesTotal: null,
      entries: null,
      uncompressedBytes: null,
      checks: [],
      safetyBackupRunId: null,
      helperPod: null,
      error: null,
      claimedBy: 'test-worker',
      leaseExpiresAt: null,
      cancelRequested: false,
      createdPvc: false,
    };
  }

  return { backupDir, config, logger, registry, sink, executor, backup, storeArchive, restoreOf };
}

/** Records what the executor reports through its hooks. */
export function recordingHooks(options: { signal?: AbortSignal; safetyBackup?: () => Promise<string> } = {}) {
  const record = {
    phases: [] as string[],
    checks: [] as RestoreCheck[],
    progress: [] as Array<[number, number | null]>,
    scan: undefined as { entries: number; uncompressedBytes: number } | undefined,
    helperPods: [] as Array<string | null>,
    /** Bytes reported after the helper pod started: the write's progress. */
    written: 0,
    createdPvc: false,
    safetyBackups: 0,
  };
  const hooks: RestoreHooks = {
    signal: options.signal ?? new AbortController().signal,
    onPhase: phase => record.phases.push(phase),
    onProgress: (done, total) => {
      record.progress.push([done, total]);
      if (record.helperPods.length > 0) record.written = done;
    },
    onScan: result => {
      record.scan = result;
    },
    onChecks: checks => {
      record.checks = checks;
    },
    onHelperPod: name => record.helperPods.push(name),
    onCreatedPvc: () => {
      record.createdPvc = true;
    },
    safetyBackup: async () => {
      record.safetyBackups++;
      return options.safetyBackup ? options.safetyBackup() : 'safety-run';
    },
  };
  return { hooks, record };
}

/** Admin calls to an http-mode kube-sim. */
export function simAdmin(sim: KubeSim) {
  const call = async (method: string, p: string, body?: unknown, contentType = 'application/json') => {
    const res = await fetch(`${sim.url}${p}`, {
      method,
      headers: { Authorization: `Bearer ${sim.adminToken}`, 'Content-Type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    call,
    async claim(namespace: string, name: string) {
      const res = await call('GET', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`);
      return res.status === 200 ? res.body : undefined;
    },
    async helperPods(): Promise<string[]> {
      const res = await call('GET', `/api/v1/pods?labelSelector=${encodeURIComponent(MANAGED)}`);
      return (res.body.items ?? []).map((p: { metadata: { name: string } }) => p.metadata.name);
    },
    async podsOf(namespace: string, labelSelector: string): Promise<string[]> {
      const res = await call('GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(labelSelector)}`);
      return (res.body.items ?? []).map((p: { metadata: { name: string } }) => p.metadata.name);
    },
    /** What a Deployment controller does on scale to 0 (kube-sim runs no controllers). */
    async scaleDeploymentToZero(namespace: string, name: string, podSelector: string) {
      const patched = await call(
        'PATCH',
        `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
        { spec: { replicas: 0 } },
        'application/merge-patch+json',
      );
      if (patched.status !== 200) throw new Error(`scale: ${JSON.stringify(patched.body)}`);
      for (const pod of await this.podsOf(namespace, podSelector)) {
        await call('DELETE', `/api/v1/namespaces/${namespace}/pods/${pod}?gracePeriodSeconds=0`);
      }
      for (let i = 0; i < 100 && (await this.podsOf(namespace, podSelector)).length > 0; i++) {
        await new Promise(r => setTimeout(r, 100));
      }
    },
  };
}

/** A copy of a tree (owners, modes, hard links, times), to compare against later. */
export async function snapshot(dir: string): Promise<string> {
  const out = mkdtempSync(path.join(os.tmpdir(), 'nkvm-snap-'));
  await run('cp', ['-a', `${dir}/.`, out]);
  return out;
}

/** One ustar header (+ content) for hostile test archives. */
function tarEntry(name: string, options: { type?: string; content?: string; linkname?: string; mode?: number }): Buffer {
  const header = Buffer.alloc(512);
  const content = Buffer.from(options.content ?? '');
  const write = (text: string, offset: number, length: number) => header.write(text, offset, length, 'utf8');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0');
  write(name, 0, 100);
  write(octal(options.mode ?? 0o644, 8), 100, 8);
  write(octal(0, 8), 108, 8);
  write(octal(0, 8), 116, 8);
  write(octal(options.type === '0' || options.type === undefined ? content.length : 0, 12), 124, 12);
  write(octal(1700000000, 12), 136, 12);
  header.fill(0x20, 148, 156);
  header.write(options.type ?? '0', 156, 1, 'latin1');
  write(options.linkname ?? '', 157, 100);
  header.write('ustar\u000000', 257, 8, 'latin1');
  let sum = 0;
  for (const b of header) sum += b;
  write(`${octal(sum, 7)}\0`, 148, 8);
  const padded = Buffer.alloc(Math.ceil(content.length / 512) * 512);
  content.copy(padded);
  return Buffer.concat([header, options.type === '0' || options.type === undefined ? padded : Buffer.alloc(0)]);
}

/** A gzipped tar of the given entries (directories have a trailing slash and type 5). */
export function craftTarGz(
  entries: Array<{ name: string; type?: string; content?: string; linkname?: string; mode?: number }>,
): Buffer {
  return gzipSync(Buffer.concat([...entries.map(e => tarEntry(e.name, e)), Buffer.alloc(1024)]));
}

/** The fixture of the restore tests: an odd tree mounted by a Deployment, a tiny PVC, a WFFC class. */
export function restoreFixture(bigBytes = 0): Fixture {
  return {
    name: 'restore',
    nodes: [{ name: 'node-a' }],
    namespaces: [
      { name: 'apps' },
      { name: 'other' },
      { name: 'locked', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
    ],
    storageClasses: [
      { name: 'standard', default: true, provisioner: 'rancher.io/local-path', volumeBindingMode: 'Immediate' },
      { name: 'local-wffc', provisioner: 'rancher.io/local-path', volumeBindingMode: 'WaitForFirstConsumer' },
    ],
    persistentVolumeClaims: [
      {
        name: 'data',
        namespace: 'apps',
        storageClass: 'standard',
        accessModes: ['ReadWriteOnce'],
        size: '1Gi',
        files: {
          seed: 5,
          files: 12,
          totalBytes: 300_000,
          compressibility: 0.5,
          depth: 2,
          oddities: true,
          entries: [
            { path: 'odd\nnewline name.txt', content: 'a newline in the name\n' },
            { path: "quote'n\"dollar$HOME.txt", content: 'shell metacharacters\n' },
            { path: 'pg/PG_VERSION', content: '16\n', mode: 0o600, uid: 999, gid: 999 },
          ],
        },
      },
      {
        name: 'tiny',
        namespace: 'apps',
        storageClass: 'standard',
        accessModes: ['ReadWriteOnce'],
        size: '64Ki',
        files: { seed: 6, files: 1, totalBytes: 100 },
      },
      ...(bigBytes > 0
        ? [
            {
              name: 'big',
              namespace: 'apps',
              storageClass: 'standard',
              accessModes: ['ReadWriteOnce'],
              size: '10Gi',
              files: { seed: 7, files: 4, totalBytes: bigBytes, compressibility: 0, depth: 1 },
            },
          ]
        : []),
    ],
    workloads: [
      {
        kind: 'Deployment',
        name: 'app',
        namespace: 'apps',
        replicas: 1,
        selector: { app: 'app' },
        podSpec: {
          securityContext: { runAsUser: 999, runAsGroup: 999 },
          containers: [
            {
              name: 'app',
              image: 'alpine:3.20',
              command: ['sleep', 'infinity'],
              volumeMounts: [{ name: 'd', mountPath: '/srv/data' }],
            },
          ],
          volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data' } }],
        },
      },
    ],
  };
}
