/*
 * Faults while a restore writes, against kube-sim: cancel mid-stream, the exec connection cut,
 * tar exiting non-zero, the archive changing between the two reads. Whatever fails: no helper
 * pod left, a new PVC deleted, an existing PVC exactly as it was (no staging directory either).
 * Also: the bounded read makes v4 (no stdin half-close) work, and cleanup() of an interrupted
 * restore removes its helper, its staging directory and only the PVC it created.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { readVolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import { createClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import { helperPodSpec } from '../BackupExecutor/helperPodSpec';
import {
  craftTarGz,
  recordingHooks,
  restoreFixture,
  restoreHarness,
  simAdmin,
  snapshot,
  type ArchiveRef,
} from '../../__testUtils__/restoreHarness';
import { createRestoreExecutor, stagingName } from './RestoreExecutor';
import { RestoreCancelledError, RestoreRefusedError } from './types';

jest.setTimeout(180_000);

/** A TCP proxy in front of kube-sim whose connections the test can cut. */
async function cuttableProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(client => {
    const upstream = net.connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cutAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

function stagingLeftovers(dir: string): string[] {
  return readdirSync(dir).filter(n => n.startsWith('.nkvm-restore-'));
}

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 25));
  }
}

describe('restore faults against kube-sim', () => {
  let sim: KubeSim;
  let admin: ReturnType<typeof simAdmin>;
  let harness: ReturnType<typeof restoreHarness>;
  let big: ArchiveRef;
  let bigPv: string;
  let bigBefore: string;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: restoreFixture(160 * 1024 * 1024), http: true });
    admin = simAdmin(sim);
    harness = restoreHarness(sim);
    await admin.scaleDeploymentToZero('apps', 'app', 'app=app');
    bigPv = sim.pvDir((await admin.claim('apps', 'big')).spec.volumeName);
    big = await harness.backup('apps', 'big');
    bigBefore = await snapshot(bigPv);
  });

  afterAll(async () => {
    await sim?.stop();
  });

  // Whatever a test did, nothing may be left behind and the big PVC must be as it was.
  afterEach(async () => {
    const problems = [
      ...(await admin.helperPods()).map(p => `helper pod left: ${p}`),
      ...stagingLeftovers(bigPv).map(d => `staging directory left: ${d}`),
      ...(await compareTrees(bigBefore, bigPv, { mtime: true })),
    ];
    if (problems.length > 0) throw new Error(problems.join('\n'));
  });

  /** Bytes of the second read (the write) have reached the helper. */
  const writing = (record: ReturnType<typeof recordingHooks>['record'], at = 8 * 1024 * 1024) => () =>
    record.written > at ? true : undefined;

  it('cancel mid-stream into a new PVC: canceled, the PVC deleted, no helper left', async () => {
    const controller = new AbortController();
    const { hooks, record } = recordingHooks({ signal: controller.signal });
    const restore = harness.restoreOf(big, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'cancelled-copy' });
    const running = harness.executor.run(restore, harness.sink, hooks).catch(e => e);
    // Past verification (a whole read) and into the write.
    await until('the write to stream', writing(record));
    controller.abort();
    const error = await running;
    expect(error).toBeInstanceOf(RestoreCancelledError);
    expect(record.createdPvc).toBe(true);
    await until('the PVC to go', async () => ((await admin.claim('other', 'cancelled-copy')) ? undefined : true), 10_000);
  });

  it('cancel mid-stream into an existing PVC (replace): the volume exactly as it was', async () => {
    const controller = new AbortController();
    const { hooks, record } = recordingHooks({ signal: controller.signal });
    const restore = harness.restoreOf(big, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'big',
      mode: 'replace',
      confirm: 'big',
    });
    const running = harness.executor.run(restore, harness.sink, hooks).catch(e => e);
    await until('the write to stream', writing(record));
    // The staging directory is being filled on the volume right now.
    expect(existsSync(path.join(bigPv, stagingName(restore.id)))).toBe(true);
    controller.abort();
    expect(await running).toBeInstanceOf(RestoreCancelledError);
    expect(record.safetyBackups).toBe(1);
  });

  it('the exec connection cut mid-stream: failed, staging removed, the volume exactly as it was', async () => {
    const proxy = await cuttableProxy(new URL(sim.url));
    const dir = path.dirname(harness.backupDir);
    const kubeconfig = path.join(dir, `proxy-${Date.now()}.kubeconfig`);
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{ name: sim, cluster: { server: "${proxy.url}" } }]`,
        `users: [{ name: u, user: { token: "${sim.adminToken}" } }]`,
        'contexts: [{ name: sim, context: { cluster: sim, user: u } }]',
        'current-context: sim',
      ].join('\n'),
    );
    try {
      const config = readVolumeManagerConfig(
        new ConfigReader({
          volumeManager: { backupDir: harness.backupDir, helper: { podTimeoutSeconds: 20 }, clusters: [{ name: 'sim', kubeconfigPath: kubeconfig }] },
        }),
        {},
      );
      const logger = mockServices.logger.mock();
      const executor = createRestoreExecutor({
        registry: createClusterRegistry({ config, authStrategies: new Map(), logger }),
        config,
        logger,
        installationId: async () => 'restore-test',
      });
      const { hooks, record } = recordingHooks();
      const restore = harness.restoreOf(big, {
        type: 'existingPvc',
        cluster: 'sim',
        namespace: 'apps',
        name: 'big',
        mode: 'merge',
        confirm: 'big',
      });
      const running = executor.run(restore, harness.sink, hooks).catch(e => e);
      await until('the write to stream', writing(record));
      proxy.cutAll();
      const error = await running;
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(RestoreCancelledError);
      expect(error.message).toMatch(/exec stream|closed|broke/i);
    } finally {
      await proxy.close();
    }
  });

  it('tar exiting non-zero into a new PVC: failed with tar\'s reason, the PVC deleted', async () => {
    // ownership workload: the Deployment's uid 999 may not write into the new volume's
    // root-owned directory.
    const { hooks, record } = recordingHooks();
    const small = await harness.backup('apps', 'data');
    const restore = harness.restoreOf(small, { type: 'newPvc', cluster: 'sim', namespace: 'apps', name: 'not-writable' }, { ownership: 'workload' });
    const error = await harness.executor.run(restore, harness.sink, hooks).catch(e => e);
    expect({ name: error.name, message: error.message }).toEqual({ name: 'RestoreRefusedError', message: expect.stringMatching(/exited with code 2: .*Permission denied/s) });
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(/restore with ownership 'preserve'/);
    expect(record.createdPvc).toBe(true);
    await until('the PVC to go', async () => ((await admin.claim('apps', 'not-writable')) ? undefined : true), 10_000);
  });

  it('the archive changing between verification and extraction: failed, the staging discarded', async () => {
    const small = await harness.backup('apps', 'tiny');
    // Another valid archive, shorter than the one verified.
    const other = harness.storeArchive('apps', 'tiny', craftTarGz([{ name: './', type: '5', mode: 0o755 }, { name: 'planted', content: 'not from the backup\n' }]));
    const file = fileURLToPath(small.archiveUri);
    const tinyPv = sim.pvDir((await admin.claim('apps', 'tiny')).spec.volumeName);
    const before = await snapshot(tinyPv);
    const { hooks, record } = recordingHooks();
    // Swap in another valid archive (sidecar untouched) once verification is done.
    hooks.onPhase = phase => {
      record.phases.push(phase);
      if (phase === 'preflight') copyFileSync(fileURLToPath(other.archiveUri), file);
    };
    const restore = harness.restoreOf(small, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'tiny',
      mode: 'replace',
      confirm: 'tiny',
      safetyBackup: false,
    });
    const error = await harness.executor.run(restore, harness.sink, hooks).catch(e => e);
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(/changed between verification and extraction.*discarded/);
    expect(stagingLeftovers(tinyPv)).toEqual([]);
    expect(await compareTrees(before, tinyPv, { mtime: true })).toEqual([]);
  });

  it.each([['v4.channel.k8s.io'], ['v5.channel.k8s.io']])(
    'ends the input by its length, whatever the protocol (%s)',
    async protocol => {
      const logger = mockServices.logger.mock();
      const executor = createRestoreExecutor({
        registry: harness.registry,
        config: harness.config,
        logger,
        installationId: async () => 'restore-test',
        execProtocols: [protocol],
      });
      const name = `by-length-${protocol.slice(0, 2)}`;
      const restore = harness.restoreOf(big, { type: 'newPvc', cluster: 'sim', namespace: 'other', name });
      const started = Date.now();
      await executor.run(restore, harness.sink, recordingHooks().hooks);
      const pv = sim.pvDir((await admin.claim('other', name)).spec.volumeName);
      expect(await compareTrees(bigBefore, pv)).toEqual([]);
      // The command ended on its own, not when kube-sim's orphan grace ran out.
      expect(Date.now() - started).toBeLessThan(60_000);
    },
  );

  it('cleanup() of an interrupted restore: its helper, its staging directory, only the PVC it made', async () => {
    const restore = harness.restoreOf(big, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'big',
      mode: 'replace',
      confirm: 'big',
    });
    const stage = path.join(bigPv, stagingName(restore.id));
    mkdirSync(path.join(stage, 'half/written'), { recursive: true });
    writeFileSync(path.join(stage, 'half/written/file'), 'partial');
    const helper = helperPodSpec({
      namespace: 'apps',
      pvc: 'big',
      restore: { restoreId: restore.id, ownership: 'preserve' },
      installationId: 'restore-test',
      image: 'alpine:3.20',
      activeDeadlineSeconds: 600,
      defaultSecurityMode: 'root',
    });
    expect((await admin.call('POST', '/api/v1/namespaces/apps/pods', helper)).status).toBe(201);
    await harness.executor.cleanup(restore);
    await harness.executor.cleanup(restore); // idempotent
    expect(existsSync(stage)).toBe(false);

    // A new-PVC restore: its labelled PVC goes.
    const created = harness.restoreOf(big, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'interrupted-copy' });
    const pvc = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'interrupted-copy', labels: { 'volume-manager.nkvm.io/restore-id': created.id } },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    };
    expect((await admin.call('POST', '/api/v1/namespaces/other/persistentvolumeclaims', pvc)).status).toBe(201);
    await harness.executor.cleanup({ ...created, createdPvc: true });
    await until('the PVC to go', async () => ((await admin.claim('other', 'interrupted-copy')) ? undefined : true), 10_000);
  });
});
