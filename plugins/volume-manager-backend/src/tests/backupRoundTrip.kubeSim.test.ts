/*
 * Backups end to end against kube-sim: real helper pods, real exec over WebSockets, real tar,
 * real files. Every archive must extract to the fixture's PV tree byte for byte.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import type { BackupRun, Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';

jest.setTimeout(120_000);
const run = promisify(execFile);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');

type Server = Parameters<typeof request>[0];

async function waitForRun(server: Server, runId: string, timeoutMs = 60_000): Promise<BackupRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', user);
    expect(res.status).toBe(200);
    const body = res.body as BackupRun;
    if (body.items.every(i => !['queued', 'running'].includes(i.status))) return body;
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${JSON.stringify(body.items.map(i => i.status))}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

function finalArchives(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

async function helperPods(sim: KubeSim): Promise<string[]> {
  const res = await fetch(
    `${sim.url}/api/v1/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=nerdy-k8s-volume-manager')}`,
    { headers: { Authorization: `Bearer ${sim.adminToken}` } },
  ).catch(() => undefined);
  if (res) return ((await res.json()).items ?? []).map((p: { metadata: { name: string } }) => p.metadata.name);
  // https with a self-signed CA: ask through kubectl instead
  const { stdout } = await run('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', [
    '--kubeconfig', sim.kubeconfigPath, 'get', 'pods', '-A', '-l',
    'app.kubernetes.io/managed-by=nerdy-k8s-volume-manager', '-o', 'name',
  ]);
  return stdout.split('\n').filter(Boolean);
}

describe('backups against kube-sim', () => {
  let sim: KubeSim;
  let server: Server;
  let backupDir: string;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
    backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-backups-'));
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir,
          // platform-debug's odd tree holds 0600 files of other uids and a workload that sets no
          // uid: only root with DAC_READ_SEARCH reads all of it, so `platform` opts in, as in the demo.
          helper: { podTimeoutSeconds: 10, readAllNamespaces: ['platform'] },
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-admin' }],
        },
      },
    }));
  });

  afterAll(async () => {
    await sim?.stop();
  });

  it('backs up every Bound, non-RWOP PVC and each archive extracts to the PV tree byte for byte', async () => {
    const inventory = await request(server).get('/api/volume-manager/volumes?cluster=demo').set('Authorization', user);
    const candidates = (inventory.body.items as Volume[]).filter(
      v => v.phase === 'Bound' && !v.accessModes.includes('ReadWriteOncePod'),
    );
    expect(candidates.length).toBeGreaterThanOrEqual(8);

    const created = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({
        cluster: 'demo',
        volumes: candidates.map(v => ({ namespace: v.namespace, name: v.name })),
        destination: 'local',
      });
    expect(created.status).toBe(202);
    expect(created.body.items).toHaveLength(candidates.length);

    const done = await waitForRun(server, created.body.id);
    for (const item of done.items) {
      expect({ pvc: item.pvc, status: item.status, error: item.error }).toEqual({
        pvc: item.pvc,
        status: 'succeeded',
        error: null,
      });
      const file = fileURLToPath(item.archiveUri!);
      expect(file.startsWith(path.join(backupDir, 'demo', item.namespace, item.pvc) + path.sep)).toBe(true);
      expect(path.basename(file)).toMatch(new RegExp(`^${item.pvc}-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
      const bytes = readFileSync(file);
      expect(bytes.length).toBe(item.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(item.sha256);
      const { stdout: sum } = await run('sha256sum', ['-c', `${path.basename(file)}.sha256`], { cwd: path.dirname(file) });
      expect(sum).toContain(': OK');

      const volume = candidates.find(v => v.name === item.pvc)!;
      const out = mkdtempSync(path.join(os.tmpdir(), 'nkvm-extract-'));
      await run('tar', ['-xzpf', file, '--numeric-owner', '--same-owner', '-C', out]);
      expect(await compareTrees(sim.pvDir(volume.volumeName!), out)).toEqual([]);
    }
    // RWO PVCs in use were backed up on their pod's node, the tainted storage node included
    // (the helper carried the workload's toleration).
    for (const pvc of ['index-search-indexer-0', 'index-search-indexer-1']) {
      expect(done.items.find(i => i.pvc === pvc)?.node).toBe('node-storage');
    }
    expect(finalArchives(backupDir).filter(f => f.endsWith('.partial'))).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);

    // The inventory now knows each PVC's last successful backup.
    const after = await request(server).get('/api/volume-manager/volumes?cluster=demo').set('Authorization', user);
    for (const v of after.body.items as Volume[]) {
      const item = done.items.find(i => i.pvc === v.name && i.namespace === v.namespace);
      expect(v.lastSuccessfulBackup?.sha256 ?? null).toBe(item?.sha256 ?? null);
    }
  });

  it('fails fast on an in-use ReadWriteOncePod PVC, leaving no archive and no pod', async () => {
    const created = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({ cluster: 'demo', volumes: [{ namespace: 'search', name: 'search-api-cache' }], destination: 'local' });
    expect(created.status).toBe(202);
    const done = await waitForRun(server, created.body.id);
    expect(done.items[0].status).toBe('failed');
    expect(done.items[0].error).toMatch(/ReadWriteOncePod and in use by pod 'search-api-/);
    expect(finalArchives(path.join(backupDir, 'demo', 'search', 'search-api-cache'))).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);
  });
});
