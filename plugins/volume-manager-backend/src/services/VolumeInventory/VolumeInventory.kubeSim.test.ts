/*
 * The inventory against kube-sim's `demo` fixture, through the real HTTP API of the plugin and
 * the real @kubernetes/client-node over HTTPS.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import type { Volume, VolumesResponse } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { createTestDatabases } from '../../__testUtils__/testDatabases';
import { downClusterKubeconfig, startPluginBackend } from '../../__testUtils__/kubeSimBackend';

jest.setTimeout(60_000);

const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');

describe('volume inventory against kube-sim', () => {
  let sim: KubeSim;
  let server: Parameters<typeof request>[0];

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo' });
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          clusters: [
            { name: 'demo', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-admin' },
            { name: 'down', kubeconfigPath: downClusterKubeconfig() },
          ],
          // Each test here observes a listing of its own (the cache has its own suite below).
          discovery: { cacheTtlSeconds: 0 },
        },
      },
    }));
  });

  afterAll(async () => {
    await sim?.stop();
  });

  async function volumes(query: string): Promise<VolumesResponse> {
    const res = await request(server).get(`/api/volume-manager/volumes${query}`).set('Authorization', user);
    expect(res.status).toBe(200);
    return res.body;
  }

  const byName = (items: Volume[]) => Object.fromEntries(items.map(v => [v.name, v]));

  it('lists every PVC with owner, mounts and capacity, while a down cluster is an error entry', async () => {
    const { items, errors } = await volumes('');
    const demo = byName(items.filter(v => v.cluster === 'demo'));
    expect(Object.keys(demo).sort()).toEqual([
      'data-payments-db-0',
      'index-search-indexer-0',
      'index-search-indexer-1',
      'payments-api-uploads',
      'payments-db-scratch',
      'platform-logs-archive',
      'platform-reports-output',
      'platform-scratch',
      'search-api-cache',
      'search-api-snapshots',
    ]);
    expect(demo['payments-api-uploads'].owner).toEqual({ kind: 'Deployment', name: 'payments-api' });
    expect(demo['payments-api-uploads'].accessModes).toEqual(['ReadWriteMany']);
    expect(demo['payments-api-uploads'].mounts).toHaveLength(2);
    expect(demo['data-payments-db-0'].owner).toEqual({ kind: 'StatefulSet', name: 'payments-db' });
    expect(demo['platform-logs-archive'].owner).toEqual({ kind: 'DaemonSet', name: 'platform-logs' });
    expect(demo['platform-logs-archive'].mounts.every(m => m.readOnly)).toBe(true);
    expect(demo['platform-reports-output'].owner).toEqual({ kind: 'CronJob', name: 'platform-reports' });
    expect(demo['platform-scratch'].owner).toEqual({ kind: 'Pod', name: 'platform-debug' });
    expect(demo['search-api-cache'].owner).toEqual({ kind: 'Deployment', name: 'search-api' });
    expect(demo['search-api-cache'].accessModes).toEqual(['ReadWriteOncePod']);
    expect(demo['payments-db-scratch'].owner).toBeNull();
    expect(demo['payments-db-scratch'].mounts).toEqual([]);
    expect(demo['payments-db-scratch'].phase).toBe('Bound');
    expect(demo['search-api-snapshots'].phase).toBe('Pending');
    expect(demo['index-search-indexer-0'].mounts).toEqual([
      expect.objectContaining({ node: 'node-storage', readOnly: false }),
    ]);
    expect(demo['data-payments-db-0'].capacity).toEqual({ requested: '8Gi', actual: '8Gi' });
    expect(demo['data-payments-db-0'].storageClass).toBe('standard');
    expect(demo['data-payments-db-0'].volumeName).toEqual(expect.any(String));
    expect(demo['data-payments-db-0'].lastSuccessfulBackup).toBeNull();

    expect(errors).toEqual([
      expect.objectContaining({ cluster: 'down', errorType: 'CLUSTER_UNREACHABLE' }),
    ]);
    expect(errors[0].message).toMatch(/Cluster 'down' is unreachable/);
  });

  it.each([
    ['payments-api', ['payments-api-uploads']],
    ['payments-db', ['data-payments-db-0', 'payments-db-scratch']],
    ['search-indexer', ['index-search-indexer-0', 'index-search-indexer-1']],
    ['search-api', ['search-api-cache', 'search-api-snapshots']],
    ['platform-logs', ['platform-logs-archive']],
    ['platform-reports', ['platform-reports-output']],
  ])('maps entity %s to its PVCs', async (name, expected) => {
    const { items } = await volumes(`?cluster=demo&entityRef=component:default/${name}`);
    expect(items.map(v => v.name).sort()).toEqual(expected);
    expect(items.every(v => v.entityRef === `component:default/${name}`)).toBe(true);
  });

  it('filters by namespace', async () => {
    const { items } = await volumes('?cluster=demo&namespace=platform');
    expect(items.map(v => v.name).sort()).toEqual([
      'platform-logs-archive',
      'platform-reports-output',
      'platform-scratch',
    ]);
  });

  it('binds namespaces to owners with one namespace list per inventory pass', async () => {
    const knex = await databases.init('SQLITE_3');
    const { server: bound } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }],
          // search is rebound in config (which wins over its label), so its entities lose it.
          ownership: { namespaceLabel: 'volume-manager.nkvm.io/owner', namespaces: { search: 'group:default/team-platform' } },
        },
      },
    });
    const before = sim.listRequestCount('namespaces');
    const res = await request(bound).get('/api/volume-manager/volumes').set('Authorization', user);
    expect(res.status).toBe(200);
    expect(sim.listRequestCount('namespaces')).toBe(before + 1);
    const owners = Object.fromEntries((res.body.items as Volume[]).map(v => [v.name, v.entityRef]));
    expect(owners).toEqual(
      expect.objectContaining({
        'data-payments-db-0': 'component:default/payments-db',
        'platform-logs-archive': 'component:default/platform-logs',
        'search-api-cache': undefined,
        'index-search-indexer-0': undefined,
      }),
    );
  });

  it('pages through cluster-wide lists', async () => {
    const before = sim.listRequestCount('pods');
    await volumes('?cluster=demo');
    expect(sim.listRequestCount('pods')).toBe(before + 1);
  });
});

describe('volume inventory cache on the scale fixture', () => {
  jest.setTimeout(300_000);
  let sim: KubeSim;
  let server: Parameters<typeof request>[0];
  const RESOURCES = ['persistentvolumeclaims', 'pods', 'apps/statefulsets', 'apps/replicasets', 'batch/jobs'];
  // The helper-pod janitor lists pods by label on its own schedule; those are not the inventory's.
  const janitorPodLists = () =>
    sim.requestLog.filter(e => /\/pods\?/.test(e.url) && e.url.includes('labelSelector')).length;
  const inventoryLists = (r: string) => sim.listRequestCount(r) - (r === 'pods' ? janitorPodLists() : 0);
  const counts = () => Object.fromEntries(RESOURCES.map(r => [r, inventoryLists(r)]));
  const delta = (before: Record<string, number>) =>
    Object.fromEntries(RESOURCES.map(r => [r, inventoryLists(r) - before[r]]));

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'scale' });
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          // Two names for the same cluster: one to measure a single listing, one for the burst.
          clusters: [
            { name: 'single', kubeconfigPath: sim.kubeconfigPath },
            { name: 'burst', kubeconfigPath: sim.kubeconfigPath },
          ],
          discovery: { timeoutSeconds: 120, cacheTtlSeconds: 60 },
        },
      },
    }));
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('serves twenty concurrent GET /volumes from one cluster-wide list per resource', async () => {
    let before = counts();
    const single = await request(server).get('/api/volume-manager/volumes?cluster=single').set('Authorization', user);
    expect(single.status).toBe(200);
    expect(single.body.items).toHaveLength(5_000);
    const oneListing = delta(before);
    expect(oneListing.persistentvolumeclaims).toBeGreaterThan(0);
    expect(oneListing.pods).toBeGreaterThan(0);

    before = counts();
    const burst = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(server).get('/api/volume-manager/volumes?cluster=burst').set('Authorization', user),
      ),
    );
    expect(burst.map(r => r.status)).toEqual(Array(20).fill(200));
    expect(burst.every(r => r.body.items.length === 5_000)).toBe(true);
    // Exactly what one listing takes (20,000 pods in pages of 500: 40 requests); without the
    // cache, twenty times as many.
    expect(oneListing.pods).toBe(40);
    expect(delta(before)).toEqual(oneListing);

    // Within the TTL, another request lists nothing at all.
    before = counts();
    const again = await request(server).get('/api/volume-manager/volumes?cluster=burst').set('Authorization', user);
    expect(again.body.items).toHaveLength(5_000);
    expect(delta(before)).toEqual(Object.fromEntries(RESOURCES.map(r => [r, 0])));
  });
});

describe('volume inventory with a restricted service account', () => {
  let sim: KubeSim;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('reports a forbidden namespace as an RBAC gap while the allowed ones answer', async () => {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          allowedNamespaces: ['payments', 'search', 'platform'],
          clusters: [{ name: 'restricted', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-restricted' }],
        },
      },
    });
    const res = await request(server).get('/api/volume-manager/volumes').set('Authorization', user);
    expect(res.status).toBe(200);
    const namespaces = [...new Set((res.body.items as Volume[]).map(v => v.namespace))].sort();
    expect(namespaces).toEqual(['payments', 'search']);
    expect(res.body.errors).toEqual([
      expect.objectContaining({ cluster: 'restricted', namespace: 'platform', errorType: 'RBAC_GAP', statusCode: 403 }),
    ]);
    expect(res.body.errors[0].message).toMatch(
      /RBAC gap: the volume-manager backend's identity on cluster 'restricted' may not list .* in namespace 'platform'/,
    );
    expect(res.body.errors[0].message).toMatch(/not a permission problem of the Backstage user/);
  });

  it("reads a namespace's owner label with get where the namespace list is forbidden", async () => {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          allowedNamespaces: ['payments', 'search'],
          ownership: { namespaceLabel: 'volume-manager.nkvm.io/owner' },
          clusters: [{ name: 'restricted', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-restricted' }],
        },
      },
    });
    const res = await request(server).get('/api/volume-manager/volumes').set('Authorization', user);
    expect(res.status).toBe(200);
    expect(res.body.errors).toEqual([]);
    const owners = Object.fromEntries((res.body.items as Volume[]).map(v => [v.name, v.entityRef]));
    expect(owners['payments-db-scratch']).toBe('component:default/payments-db');
    expect(owners['search-api-cache']).toBe('component:default/search-api');
  });

  it('reports forbidden namespace reads as an RBAC gap and leaves their PVCs unclaimed', async () => {
    const token = 'no-namespaces-token';
    sim.addToken(token, [
      { verbs: ['get', 'list'], apiGroups: ['', 'apps', 'batch'], resources: ['pods', 'persistentvolumeclaims', 'statefulsets', 'replicasets', 'jobs'] },
    ]);
    const kubeconfigPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'nkvm-nons-')), 'config');
    writeFileSync(kubeconfigPath, sim.kubeconfigFor(token));
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          ownership: { namespaceLabel: 'volume-manager.nkvm.io/owner' },
          clusters: [{ name: 'no-ns', kubeconfigPath }],
        },
      },
    });
    const res = await request(server).get('/api/volume-manager/volumes').set('Authorization', user);
    expect(res.status).toBe(200);
    expect((res.body.items as Volume[]).length).toBeGreaterThan(0);
    expect((res.body.items as Volume[]).filter(v => v.entityRef)).toEqual([]);
    const gaps = res.body.errors as Array<{ namespace?: string; errorType: string; message: string }>;
    expect(gaps.map(e => [e.namespace, e.errorType])).toEqual(
      expect.arrayContaining([
        ['payments', 'RBAC_GAP'],
        ['platform', 'RBAC_GAP'],
        ['search', 'RBAC_GAP'],
      ]),
    );
    expect(gaps[0].message).toMatch(/may not get namespaces .*no entity may claim its PVCs \(volumeManager.ownership\)/);
  });

  it('says what to configure when neither cluster-wide lists nor a namespace list are allowed', async () => {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          clusters: [{ name: 'restricted', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-restricted' }],
        },
      },
    });
    const res = await request(server).get('/api/volume-manager/volumes').set('Authorization', user);
    expect(res.status).toBe(200);
    expect(res.body.items).toEqual([]);
    expect(res.body.errors).toEqual([
      expect.objectContaining({ cluster: 'restricted', errorType: 'RBAC_GAP' }),
    ]);
    expect(res.body.errors[0].message).toMatch(/set volumeManager.allowedNamespaces/);
  });
});
