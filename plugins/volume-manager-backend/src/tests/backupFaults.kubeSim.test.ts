/*
 * Faults during backups against kube-sim. Whatever fails, no `.tar.gz` may appear under its
 * final name and no helper pod may remain.
 */
import { mkdtempSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { faultFixture } from '../__testUtils__/faultFixture';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
type Server = Parameters<typeof request>[0];

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile())
    .map(e => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

async function getRun(server: Server, runId: string): Promise<BackupRun> {
  const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', user);
  expect(res.status).toBe(200);
  return res.body;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

async function finished(server: Server, runId: string) {
  return waitFor('the run to finish', async () => {
    const run = await getRun(server, runId);
    return run.items.every(i => !['queued', 'running'].includes(i.status)) ? run : undefined;
  });
}

async function helperPods(sim: KubeSim): Promise<string[]> {
  const res = await fetch(
    `${sim.url}/api/v1/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=nerdy-k8s-volume-manager')}`,
    { headers: { Authorization: `Bearer ${sim.adminToken}` } },
  );
  return ((await res.json()).items ?? []).map((p: { metadata: { name: string } }) => p.metadata.name);
}

async function deletePod(sim: KubeSim, namespace: string, name: string) {
  const res = await fetch(`${sim.url}/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${sim.adminToken}` },
  });
  expect(res.status).toBe(200);
}

async function backup(server: Server, namespace: string, name: string): Promise<string> {
  const res = await request(server)
    .post('/api/volume-manager/backups')
    .set('Authorization', user)
    .send({ cluster: 'sim', volumes: [{ namespace, name }], destination: 'local' });
  expect(res.status).toBe(202);
  return res.body.id;
}

describe('backup faults', () => {
  let sim: KubeSim;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: faultFixture(192 * 1024 * 1024), http: true });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  async function backend(volumeManager: object) {
    const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-faults-'));
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir,
          clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
          ...volumeManager,
        },
      },
    });
    return { server, backupDir };
  }

  it('fails with the pod\'s own reason when the helper image cannot be pulled', async () => {
    const { server, backupDir } = await backend({ helper: { image: 'registry.invalid/nope:1', podTimeoutSeconds: 20 } });
    const run = await finished(server, await backup(server, 'faults', 'locked'));
    expect(run.items[0].status).toBe('failed');
    expect(run.items[0].error).toMatch(/ImagePullBackOff/);
    expect(run.items[0].error).toMatch(/registry\.invalid\/nope:1/);
    expect(files(backupDir)).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);
  });

  it('fails when tar exits non-zero (a non-root helper cannot read a 0600 file)', async () => {
    const { server, backupDir } = await backend({ helper: { defaultSecurityMode: 'nonroot' } });
    const run = await finished(server, await backup(server, 'faults', 'locked'));
    expect(run.items[0].status).toBe('failed');
    expect(run.items[0].error).toMatch(/exited with code 2/);
    expect(run.items[0].error).toMatch(/secret\.key/);
    expect(run.items[0].error).toMatch(/the helper read as uid 65534, no capabilities.*volumeManager\.helper\.readAllNamespaces/);
    expect(files(backupDir)).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);
  });

  it('fails when the exec is killed mid-stream, keeping nothing under the final name', async () => {
    const { server, backupDir } = await backend({});
    const runId = await backup(server, 'faults', 'big');
    const running = await waitFor('bytes to stream', async () => {
      const run = await getRun(server, runId);
      const item = run.items[0];
      return item.status === 'running' && item.helperPod && (item.progress?.bytes ?? 0) > 0 ? item : undefined;
    });
    await deletePod(sim, 'faults', running.helperPod!);
    const run = await finished(server, runId);
    expect(run.items[0].status).toBe('failed');
    expect(run.items[0].error).toMatch(/exec|exit|closed|status/i);
    expect(files(backupDir).filter(f => f.endsWith('.tar.gz') || f.endsWith('.sha256'))).toEqual([]);
    expect(files(backupDir)).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);
  });

  it('cancels a running backup', async () => {
    const { server, backupDir } = await backend({});
    const runId = await backup(server, 'faults', 'big');
    await waitFor('the backup to run', async () => {
      const run = await getRun(server, runId);
      return (run.items[0].progress?.bytes ?? 0) > 0 ? run : undefined;
    });
    const cancel = await request(server).post(`/api/volume-manager/backups/${runId}/cancel`).set('Authorization', user);
    expect(cancel.status).toBe(200);
    const run = await finished(server, runId);
    expect(run.items[0].status).toBe('cancelled');
    expect(run.status).toBe('cancelled');
    expect(files(backupDir)).toEqual([]);
    expect(await helperPods(sim)).toEqual([]);
  });
});
