/*
 * The backend process is killed (SIGKILL) while a restore writes into a new PVC. After a
 * restart on the same database, the restore ends `interrupted` (never stuck mid-phase), its
 * helper pod is gone, and the PVC it created is deleted (it would look restored but is not).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import knexFactory from 'knex';
import request from 'supertest';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { restoreFixture, simAdmin } from '../__testUtils__/restoreHarness';

jest.setTimeout(240_000);
const user = mockCredentials.user.header('user:default/guest');

async function freePort(): Promise<number> {
  return new Promise(resolve => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

describe('a backend killed mid-restore', () => {
  let sim: KubeSim;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: restoreFixture(192 * 1024 * 1024), http: true });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await sim?.stop();
  });

  it('leaves an interrupted restore, no helper pod and no half-restored PVC after the restart', async () => {
    const admin = simAdmin(sim);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-restore-crash-'));
    const dbFile = path.join(dir, 'backups.db');
    const volumeManager = {
      backupDir: path.join(dir, 'backups'),
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
    child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../__testUtils__/backendProcess.ts'), configFile], {
      cwd: path.resolve(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', d => (output += d));
    child.stderr!.on('data', d => (output += d));
    const base = `http://127.0.0.1:${port}/api/volume-manager`;
    const call = async (method: string, p: string, body?: object) => {
      const res = await fetch(`${base}${p}`, {
        method,
        headers: { Authorization: user, 'Content-Type': 'application/json' },
        body: body && JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    };
    await waitFor('the backend process', async () => (output.includes('backend ready') ? true : undefined)).catch(e => {
      throw new Error(`${e.message}\n${output.slice(-3000)}`);
    });

    const backup = await call('POST', '/backups', { cluster: 'sim', volumes: [{ namespace: 'apps', name: 'big' }], destination: 'local' });
    expect(backup.status).toBe(202);
    const item = await waitFor('the backup', async () => {
      const run = (await call('GET', `/backups/${backup.body.id}`)).body;
      return ['queued', 'running'].includes(run.items[0].status) ? undefined : run.items[0];
    });
    expect(item.status).toBe('succeeded');

    const created = await call('POST', '/restores', { itemId: item.id, target: { type: 'newPvc', cluster: 'sim', namespace: 'apps', name: 'big-copy' } });
    expect(created.status).toBe(202);
    const restoreId = created.body.id;
    await waitFor('the restore to write through its helper', async () => {
      const restore = (await call('GET', `/restores/${restoreId}`)).body;
      if (['succeeded', 'failed', 'canceled'].includes(restore.phase)) throw new Error(`ended too soon: ${JSON.stringify(restore)}`);
      return restore.phase === 'restoring' && restore.helperPod ? restore : undefined;
    });
    await new Promise(r => setTimeout(r, 300));

    child.kill('SIGKILL');
    await new Promise(r => child!.once('exit', r));
    expect(await admin.helperPods()).toHaveLength(1); // orphaned by the crash
    expect(await admin.claim('apps', 'big-copy')).toBeDefined();

    // Restart: a new backend on the same database.
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: dbFile }, useNullAsDefault: true });
    try {
      const { server } = await startPluginBackend({ knex, config: { volumeManager } });
      const restore = await waitFor('the restore to be interrupted', async () => {
        const res = await request(server).get(`/api/volume-manager/restores/${restoreId}`).set('Authorization', user);
        return res.body.phase === 'interrupted' ? res.body : undefined;
      }).catch(async error => {
        throw new Error(`${error.message}; restores in the database: ${JSON.stringify(await knex('restores').select())}`);
      });
      expect(restore.finishedAt).toEqual(expect.any(String));
      await waitFor('the helper pod to be deleted', async () => ((await admin.helperPods()).length === 0 ? true : undefined));
      await waitFor('the half-restored PVC to be deleted', async () => ((await admin.claim('apps', 'big-copy')) ? undefined : true));
      // The source PVC is untouched.
      expect(await admin.claim('apps', 'big')).toBeDefined();
    } finally {
      await knex.destroy();
    }
  });
});
