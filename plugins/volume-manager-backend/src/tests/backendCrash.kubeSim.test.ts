/*
 * The backend process is killed (SIGKILL) while it streams a backup. After a restart, the item
 * ends as `interrupted` (never stuck at `running`), its helper pod is deleted, and no archive
 * exists under a final name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import knexFactory from 'knex';
import request from 'supertest';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { faultFixture } from '../__testUtils__/faultFixture';

jest.setTimeout(180_000);
const user = mockCredentials.user.header('user:default/guest');

async function freePort(): Promise<number> {
  return new Promise(resolve => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

async function helperPods(sim: KubeSim): Promise<string[]> {
  const res = await fetch(
    `${sim.url}/api/v1/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=nerdy-k8s-volume-manager')}`,
    { headers: { Authorization: `Bearer ${sim.adminToken}` } },
  );
  return ((await res.json()).items ?? []).map((p: { metadata: { name: string } }) => p.metadata.name);
}

describe('a backend killed mid-run', () => {
  let sim: KubeSim;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: faultFixture(256 * 1024 * 1024), http: true });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await sim?.stop();
  });

  it('leaves an interrupted item, no helper pod and no archive after the restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-crash-'));
    const dbFile = path.join(dir, 'backups.db');
    const backupDir = path.join(dir, 'backups');
    const volumeManager = {
      backupDir,
      leaseSeconds: 2,
      clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
    };
    const port = await freePort();
    const configFile = path.join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        backend: {
          baseUrl: `http://127.0.0.1:${port}`,
          listen: { port, host: '127.0.0.1' },
          database: { client: 'better-sqlite3', connection: ':memory:', plugin: { 'volume-manager': { connection: { directory: dir, filename: 'backups.db' } } } },
        },
        volumeManager,
      }),
    );

    let output = '';
    // node itself (not npx) so SIGKILL hits the process that runs the backup
    child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../__testUtils__/backendProcess.ts'), configFile], {
      cwd: path.resolve(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', d => (output += d));
    child.stderr!.on('data', d => (output += d));
    const base = `http://127.0.0.1:${port}/api/volume-manager`;
    await waitFor('the backend process', async () => (output.includes('backend ready') ? true : undefined)).catch(e => {
      throw new Error(`${e.message}\n${output.slice(-3000)}`);
    });

    const created = await fetch(`${base}/backups`, {
      method: 'POST',
      headers: { Authorization: user, 'Content-Type': 'application/json' },
      body: JSON.stringify({ cluster: 'sim', volumes: [{ namespace: 'faults', name: 'big' }], destination: 'local' }),
    });
    expect(created.status).toBe(202);
    const { id: runId } = await created.json();
    await waitFor('bytes to stream', async () => {
      const run = await (await fetch(`${base}/backups/${runId}`, { headers: { Authorization: user } })).json();
      return run.items[0].status === 'running' && run.items[0].helperPod ? run : undefined;
    });
    await new Promise(r => setTimeout(r, 500));

    child.kill('SIGKILL');
    await new Promise(r => child!.once('exit', r));
    expect(await helperPods(sim)).toHaveLength(1); // orphaned by the crash

    // Restart: a new backend on the same database.
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    try {
      const { server } = await startPluginBackend({ knex, config: { volumeManager } });
      const run = await waitFor('the item to be interrupted', async () => {
        const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', user);
        return res.body.items?.[0]?.status === 'interrupted' ? res.body : undefined;
      }).catch(async error => {
        const rows = await knex('backup_item').select();
        throw new Error(`${error.message}; items in the database: ${JSON.stringify(rows)}`);
      });
      expect(run.items[0].error).toMatch(/stopped/);
      expect(run.status).toBe('interrupted');
      await waitFor('the helper pod to be deleted', async () => ((await helperPods(sim)).length === 0 ? true : undefined));
      const archives = existsSync(backupDir)
        ? readdirSync(backupDir, { recursive: true }).map(String).filter(f => f.endsWith('.tar.gz') || f.endsWith('.sha256'))
        : [];
      expect(archives).toEqual([]);
    } finally {
      await knex.destroy();
    }
  });
});
