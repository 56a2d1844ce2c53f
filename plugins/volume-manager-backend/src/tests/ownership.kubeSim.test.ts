/*
 * The ownership attack, end to end through the plugin's HTTP API against kube-sim's demo cluster:
 * team-search registers an entity annotated with payments-db's kubernetes-id (its ref sorts
 * before payments-db's, so "the first match wins" would hand it payments' PVCs) and tries to back
 * up, download and read the history of payments' data.
 *
 * Users (catalog/org.yaml): alice is in team-payments, bob in team-search, carol is an admin.
 * Non-admins get every volume-manager permission only for entities they own (a conditional
 * decision); carol is allowed unconditionally.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import type { BackupRun, Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { demoCatalogEntities } from '../__testUtils__/demoCatalog';
import { ownerOnlyPermissions } from '../__testUtils__/ownerOnlyPermissions';

jest.setTimeout(120_000);
const databases = createTestDatabases();
type Server = Parameters<typeof request>[0];

const alice = mockCredentials.user.header('user:default/alice');
const bob = mockCredentials.user.header('user:default/bob');
const carol = mockCredentials.user.header('user:default/carol');

const OWNER_ENTITY = 'component:default/payments-db';
const ATTACKER_ENTITY = 'component:default/cache-warmer';
const attacker: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'cache-warmer',
    namespace: 'default',
    annotations: { 'backstage.io/kubernetes-id': 'payments-db' },
  },
  spec: { type: 'service', lifecycle: 'production', owner: 'team-search' },
};
const entities = [...demoCatalogEntities(), attacker];
const target = { namespace: 'payments', name: 'payments-db-scratch' };

async function startBackend(sim: KubeSim, ownership?: object) {
  const knex = await databases.init('SQLITE_3');
  const { server } = await startPluginBackend({
    knex,
    entities,
    permissions: ownerOnlyPermissions(entities),
    config: {
      volumeManager: {
        backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-ownership-')),
        clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }],
        ...(ownership && { ownership }),
      },
    },
  });
  return server;
}

const backup = (server: Server, user: string) =>
  request(server)
    .post('/api/volume-manager/backups')
    .set('Authorization', user)
    .send({ cluster: 'demo', volumes: [target], destination: 'local' });

async function finished(server: Server, user: string, runId: string): Promise<BackupRun> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await request(server).get(`/api/volume-manager/backups/${runId}`).set('Authorization', user);
    expect(res.status).toBe(200);
    const run = res.body as BackupRun;
    if (run.items.every(i => !['queued', 'running'].includes(i.status))) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not finish`);
    await new Promise(r => setTimeout(r, 100));
  }
}

async function volumesOf(server: Server, user: string, entityRef?: string): Promise<Volume[]> {
  const query = entityRef ? `?entityRef=${encodeURIComponent(entityRef)}` : '';
  const res = await request(server).get(`/api/volume-manager/volumes${query}`).set('Authorization', user);
  expect(res.status).toBe(200);
  return (res.body.items as Volume[]).filter(v => v.namespace === target.namespace && v.name === target.name);
}

/** The attacker's reach to one stored item: download, the run, and the owner's history. */
async function expectNoReach(server: Server, user: string, run: BackupRun) {
  const item = run.items[0];
  const archive = await request(server)
    .get(`/api/volume-manager/backups/${run.id}/items/${item.id}/archive`)
    .set('Authorization', user);
  expect({ status: archive.status, error: archive.body.error?.name }).toEqual({ status: 403, error: 'NotAllowedError' });
  const runView = await request(server).get(`/api/volume-manager/backups/${run.id}`).set('Authorization', user);
  expect(runView.status).toBe(404);
}

describe('ownership cannot be taken with a catalog edit', () => {
  let sim: KubeSim;
  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  describe('with the namespace binding (volume-manager.nkvm.io/owner)', () => {
    let server: Server;
    beforeAll(async () => {
      server = await startBackend(sim, { namespaceLabel: 'volume-manager.nkvm.io/owner' });
    });

    it("drops the attacker's claim from the inventory", async () => {
      const [volume] = await volumesOf(server, carol);
      expect(volume.entityRef).toBe(OWNER_ENTITY);
      expect(volume.ambiguousOwnership).toBeUndefined();
      expect(await volumesOf(server, bob, ATTACKER_ENTITY)).toEqual([]);
      expect((await volumesOf(server, alice, OWNER_ENTITY)).map(v => v.entityRef)).toEqual([OWNER_ENTITY]);
    });

    it("lets the owner back up and refuses the attacker's backup, download and history", async () => {
      const created = await backup(server, alice);
      expect(created.status).toBe(202);
      const run = await finished(server, alice, created.body.id);
      expect(run.items.map(i => [i.pvc, i.status])).toEqual([[target.name, 'succeeded']]);

      const refused = await backup(server, bob);
      expect({ status: refused.status, error: refused.body.error?.name }).toEqual({ status: 403, error: 'NotAllowedError' });
      await expectNoReach(server, bob, run);
      const history = await request(server)
        .get(`/api/volume-manager/backups?entityRef=${encodeURIComponent(OWNER_ENTITY)}`)
        .set('Authorization', bob);
      expect(history.status).toBe(403);
      const own = await request(server)
        .get(`/api/volume-manager/backups?entityRef=${encodeURIComponent(ATTACKER_ENTITY)}`)
        .set('Authorization', bob);
      expect(own.status).toBe(200);
      expect(own.body.items).toEqual([]);

      const download = await request(server)
        .get(`/api/volume-manager/backups/${run.id}/items/${run.items[0].id}/archive`)
        .set('Authorization', alice);
      expect(download.status).toBe(200);
    });
  });

  describe('without a binding', () => {
    let server: Server;
    beforeAll(async () => {
      server = await startBackend(sim);
    });

    it('reports the PVC as ambiguous, in the owner\'s and in the attacker\'s tab', async () => {
      const ambiguous = { entityRefs: [ATTACKER_ENTITY, OWNER_ENTITY] };
      const [volume] = await volumesOf(server, carol);
      expect(volume.entityRef).toBeUndefined();
      expect(volume.ambiguousOwnership).toEqual(ambiguous);
      // A PVC with no owner entity is not in a conditional user's cluster-wide list.
      expect(await volumesOf(server, alice)).toEqual([]);
      for (const [user, ref] of [[alice, OWNER_ENTITY], [bob, ATTACKER_ENTITY]]) {
        const [tab] = await volumesOf(server, user, ref);
        expect(tab.ambiguousOwnership).toEqual(ambiguous);
        expect(tab.entityRef).toBeUndefined();
      }
    });

    it("refuses both teams' conditional users and lets an admin back it up", async () => {
      for (const user of [alice, bob]) {
        const refused = await backup(server, user);
        expect({ status: refused.status, error: refused.body.error?.name }).toEqual({ status: 403, error: 'NotAllowedError' });
      }
      const created = await backup(server, carol);
      expect(created.status).toBe(202);
      const run = await finished(server, carol, created.body.id);
      expect(run.items.map(i => [i.pvc, i.status])).toEqual([[target.name, 'succeeded']]);
      for (const user of [alice, bob]) {
        await expectNoReach(server, user, run);
        // Neither claimant's history holds the item, and neither tab shows its details.
        for (const ref of [OWNER_ENTITY, ATTACKER_ENTITY]) {
          const history = await request(server)
            .get(`/api/volume-manager/backups?entityRef=${encodeURIComponent(ref)}`)
            .set('Authorization', user);
          expect(history.body.items ?? []).toEqual([]);
        }
      }
      const [tab] = await volumesOf(server, alice, OWNER_ENTITY);
      expect(tab.lastSuccessfulBackup).toBeNull();
      const [adminView] = await volumesOf(server, carol, OWNER_ENTITY);
      expect(adminView.lastSuccessfulBackup?.runId).toBe(run.id);
    });
  });
});
