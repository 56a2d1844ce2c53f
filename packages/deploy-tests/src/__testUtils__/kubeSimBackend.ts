/** The volume-manager backend plugin against kube-sim, as an HTTP client would drive it. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials, mockServices, startTestBackend, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { KubeSim } from '@nkvm/kube-sim';
import type { BackupRun, Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import volumeManagerPlugin from '@nkvm/backstage-plugin-volume-manager-backend';
import { KUBECTL } from './repo';

export const HELPER_SELECTOR = 'app.kubernetes.io/managed-by=nerdy-k8s-volume-manager';
const USER = mockCredentials.user.header('user:default/guest');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `nkvm-${prefix}-`));
}

/**
 * kubectl (the real one) against kube-sim as its admin. Asynchronous on purpose: kube-sim runs
 * in this process, so a synchronous child would block the server it talks to.
 */
export function kubectl(sim: KubeSim, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(KUBECTL, ['--kubeconfig', sim.kubeconfigPath, '--cache-dir', tempDir('kubectl'), ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => (stderr += d));
    child.on('error', reject);
    child.on('close', code =>
      code === 0 ? resolve(stdout) : reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr}`)),
    );
    child.stdin.end(input ?? '');
  });
}

export async function helperPods(sim: KubeSim): Promise<string[]> {
  return (await kubectl(sim, ['get', 'pods', '-A', '-l', HELPER_SELECTOR, '-o', 'name'])).split('\n').filter(Boolean);
}

/** The installation id the test backends run with: the janitor deletes only helpers labelled with it. */
export const INSTALLATION_ID = 'deploy-tests';

export async function startBackend(options: { kubeconfig: string; backupDir: string; helper?: object; databases: TestDatabases }) {
  const knex = await options.databases.init('SQLITE_3');
  // The plugin as a host backend installs it; permissions ALLOW (the policy is tested elsewhere),
  // an empty catalog (no entity matching needed to back up by namespace/name).
  const { server } = await startTestBackend({
    features: [
      volumeManagerPlugin,
      mockServices.database.factory({ knex }),
      mockServices.rootConfig.factory({
        data: {
          volumeManager: {
            backupDir: options.backupDir,
            installationId: INSTALLATION_ID,
            helper: { podTimeoutSeconds: 15, ...options.helper },
            clusters: [{ name: 'demo', kubeconfigPath: options.kubeconfig }],
          },
        },
      }),
      mockServices.permissions.factory({ result: AuthorizeResult.ALLOW }),
      catalogServiceMock.factory({ entities: [] }),
    ],
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/volume-manager`;
  const api = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { Authorization: USER, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    api,
    async volumes(): Promise<{ items: Volume[]; errors: unknown[] }> {
      const res = await api('GET', '/volumes?cluster=demo');
      if (res.status !== 200) throw new Error(`GET /volumes: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async backup(volumes: Array<{ namespace: string; name: string }>, timeoutMs = 60_000): Promise<BackupRun> {
      const created = await api('POST', '/backups', { cluster: 'demo', volumes, destination: 'local' });
      if (created.status !== 202) throw new Error(`POST /backups: ${created.status} ${JSON.stringify(created.body)}`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = (await api('GET', `/backups/${created.body.id}`)).body as BackupRun;
        if (run.items.every(i => !['queued', 'running'].includes(i.status))) return run;
        if (Date.now() > deadline) throw new Error(`run still ${JSON.stringify(run.items.map(i => i.status))}`);
        await new Promise(r => setTimeout(r, 200));
      }
    },
  };
}

/** Writes a kubeconfig for a kube-sim token to a file. */
export function kubeconfigFile(sim: KubeSim, token: string): string {
  const file = path.join(tempDir('sa-kubeconfig'), 'config');
  writeFileSync(file, sim.kubeconfigFor(token));
  return file;
}

/** An orphaned helper pod: our labels, an item id no live run owns. */
export function orphanHelperPod(namespace: string, name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: {
        'app.kubernetes.io/managed-by': 'nerdy-k8s-volume-manager',
        'volume-manager.nkvm.io/item-id': '00000000-0000-4000-8000-000000000000',
        'volume-manager.nkvm.io/installation-id': INSTALLATION_ID,
      },
    },
    spec: { restartPolicy: 'Never', containers: [{ name: 'helper', image: 'alpine:3.20', command: ['sleep', '3600'] }] },
  });
}
