/*
 * The restore API through the real backend against kube-sim's demo cluster: validation, the
 * three permission checks (backup.read on the source, restore.create and restore.inPlace on the
 * target's entity) with the cross-team attacks performed, source resolution by time, conflicts,
 * and round trips checked on disk in the PV directories.
 *
 * Users (catalog/org.yaml): alice is in team-payments, bob in team-search, carol is an admin.
 * Non-admins get every volume-manager permission only for entities they own.
 * Entities: payments-db (team-payments) claims the StatefulSet payments-db's `data-payments-db-N`
 * and payments-db-scratch; search-indexer (team-search) claims `index-search-indexer-N`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import { restoreInPlacePermission, type Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import request from 'supertest';
import { demoCatalogEntities } from '../__testUtils__/demoCatalog';
import { finishedRun, startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { ownerOnlyPermissions } from '../__testUtils__/ownerOnlyPermissions';
import { simAdmin, snapshot } from '../__testUtils__/restoreHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(180_000);
const databases = createTestDatabases();
type Server = Parameters<typeof request>[0];

const alice = mockCredentials.user.header('user:default/alice');
const bob = mockCredentials.user.header('user:default/bob');
const carol = mockCredentials.user.header('user:default/carol');
const entities = demoCatalogEntities();

function expectError(res: request.Response, status: number, name: string, message: RegExp) {
  expect({ status: res.status, name: res.body.error?.name, message: res.body.error?.message }).toEqual({
    status,
    name,
    message: expect.stringMatching(message),
  });
}

describe('restore API', () => {
  let sim: KubeSim;
  let server: Server;
  let knex: Knex;
  let admin: ReturnType<typeof simAdmin>;
  /** Backups of payments-db-scratch (oldest first) and of index-search-indexer-0. */
  const scratchItems: Array<{ id: string; finishedAt: string }> = [];
  let searchItem: string;

  const post = (user: string, body: object) =>
    request(server).post('/api/volume-manager/restores').set('Authorization', user).send(body);
  const get = (user: string, p: string) => request(server).get(`/api/volume-manager${p}`).set('Authorization', user);

  async function backup(namespace: string, name: string) {
    const res = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', carol)
      .send({ cluster: 'demo', volumes: [{ namespace, name }], destination: 'local' });
    expect(res.status).toBe(202);
    const run = await finishedRun(server, res.body.id, carol);
    expect(run.items[0].status).toBe('succeeded');
    return run.items[0];
  }

  async function finished(id: string, user = carol): Promise<Restore> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const res = await get(user, `/restores/${id}`);
      expect(res.status).toBe(200);
      if (['succeeded', 'failed', 'canceled', 'interrupted'].includes(res.body.phase)) return res.body;
      if (Date.now() > deadline) throw new Error(`restore ${id} did not finish: ${JSON.stringify(res.body)}`);
      await new Promise(r => setTimeout(r, 200));
    }
  }

  const pvDirOf = async (namespace: string, name: string) => sim.pvDir((await admin.claim(namespace, name)).spec.volumeName);

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
    admin = simAdmin(sim);
    knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      entities,
      // As the demo policy: in-place restores are for admins only.
      permissions: ownerOnlyPermissions(entities, { adminOnly: [restoreInPlacePermission.name] }),
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-restore-api-')),
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }],
          destinations: [{ id: 'offsite', type: 'ftp', host: 'ftp.example.com', username: 'u', password: 'p', remoteDir: '/b' }],
        },
      },
    }));
    for (let i = 0; i < 2; i++) {
      const item = await backup('payments', 'payments-db-scratch');
      scratchItems.push({ id: item.id, finishedAt: item.finishedAt! });
      await new Promise(r => setTimeout(r, 1100));
    }
    // A newer backup of another PVC: "newest" must mean newest of the PVC asked for.
    await backup('payments', 'data-payments-db-0');
    searchItem = (await backup('search', 'index-search-indexer-0')).id;
  });

  afterAll(async () => {
    await sim?.stop();
  });

  afterEach(async () => {
    // No helper pod outlives its restore.
    for (let i = 0; i < 100 && (await admin.helperPods()).length > 0; i++) await new Promise(r => setTimeout(r, 100));
    const left = await admin.helperPods();
    if (left.length > 0) throw new Error(`helper pods left: ${left.join(', ')}`);
  });

  const newPvc = (namespace: string, name?: string) => ({ type: 'newPvc', cluster: 'demo', namespace, ...(name && { name }) });

  describe('refuses bad input with 400', () => {
    it.each([
      ['unknown fields', () => ({ itemId: scratchItems[0].id, target: newPvc('payments'), extra: 1 }), /Unrecognized key/],
      // The labels decide which entity claims the new PVC: the backend sets them, never the caller.
      ['labels in the target', () => ({ itemId: scratchItems[0].id, target: { ...newPvc('search'), labels: { 'backstage.io/kubernetes-id': 'search-indexer' } } }), /Unrecognized key.*labels/],
      ['no target', () => ({ itemId: scratchItems[0].id }), /target/],
      ['a target namespace that is not DNS-1123', () => ({ itemId: scratchItems[0].id, target: newPvc('Pay_ments') }), /namespace: must be a DNS-1123 label/],
      ['a target name that is not DNS-1123', () => ({ itemId: scratchItems[0].id, target: newPvc('payments', '../etc') }), /name: must be a DNS-1123 subdomain/],
      ['a target name over 253 characters', () => ({ itemId: scratchItems[0].id, target: newPvc('payments', 'a'.repeat(254)) }), /name/],
      ['an item id that is not a uuid', () => ({ itemId: 'x; rm -rf /', target: newPvc('payments') }), /must be a backup item id/],
      ['an asOf that is not RFC 3339', () => ({ source: { cluster: 'demo', namespace: 'payments', pvc: 'payments-db-scratch', asOf: 'yesterday' }, target: newPvc('payments') }), /RFC 3339/],
      ['an unknown target cluster', () => ({ itemId: scratchItems[0].id, target: { ...newPvc('payments'), cluster: 'nope' } }), /Unknown cluster 'nope'/],
      ['an unknown source cluster', () => ({ source: { cluster: 'nope', namespace: 'payments', pvc: 'x' }, target: newPvc('payments') }), /Unknown cluster 'nope'/],
      ['a bad size', () => ({ itemId: scratchItems[0].id, target: { ...newPvc('payments'), size: '1e9; drop' } }), /quantity/],
      ['a confirm that does not repeat the name', () => ({ itemId: scratchItems[0].id, target: { type: 'existingPvc', cluster: 'demo', namespace: 'payments', name: 'payments-db-scratch', mode: 'merge', confirm: 'payments-db' } }), /confirm must repeat its name exactly \('payments-db-scratch'\)/],
      ['an existing target that does not exist', () => ({ itemId: scratchItems[0].id, target: { type: 'existingPvc', cluster: 'demo', namespace: 'payments', name: 'nope', mode: 'merge', confirm: 'nope' } }), /No PVC 'payments\/nope'/],
    ])('%s', async (_, body, message) => {
      expectError(await post(carol, body()), 400, 'InputError', message);
    });
  });

  it('answers 404 for an unknown item and for a PVC with no backup at that time', async () => {
    expectError(
      await post(carol, { itemId: '00000000-0000-4000-8000-000000000000', target: newPvc('payments') }),
      404,
      'NotFoundError',
      /No backup item/,
    );
    expectError(
      await post(carol, { source: { cluster: 'demo', namespace: 'payments', pvc: 'payments-db-scratch', asOf: '2001-01-01T00:00:00Z' }, target: newPvc('payments') }),
      404,
      'NotFoundError',
      /No succeeded backup of 'payments\/payments-db-scratch'.*at or before/,
    );
    expectError(await get(carol, '/restores/00000000-0000-4000-8000-000000000000'), 404, 'NotFoundError', /No restore/);
  });

  it("refuses an owner restoring another team's backup into their own namespace (backup.read on the source)", async () => {
    // bob (team-search) takes payments' data into a PVC his search-indexer would own.
    expectError(
      await post(bob, { itemId: scratchItems[0].id, target: newPvc('search', 'index-search-indexer-9') }),
      403,
      'NotAllowedError',
      /may not restore the backups of 'component:default\/payments-db'/,
    );
  });

  it("refuses an owner restoring their backup into another team's PVC (restore.create on the target)", async () => {
    // alice (team-payments) writes payments' data into a PVC search-indexer would own.
    expectError(
      await post(alice, { itemId: scratchItems[0].id, target: newPvc('search', 'index-search-indexer-9') }),
      403,
      'NotAllowedError',
      /may not restore into 'search\/index-search-indexer-9' \(component:default\/search-indexer\)/,
    );
    // ...or into a new PVC no entity would own there (payments-db claims PVCs in payments only),
    // which only an unconditional policy allows.
    expectError(
      await post(alice, { itemId: scratchItems[0].id, target: newPvc('search') }),
      403,
      'NotAllowedError',
      /no single owner entity/,
    );
    expect(await admin.claim('search', 'index-search-indexer-9')).toBeUndefined();
  });

  it('refuses in-place restores without restore.inPlace, even to the owner', async () => {
    const res = await post(alice, {
      itemId: scratchItems[0].id,
      target: { type: 'existingPvc', cluster: 'demo', namespace: 'payments', name: 'payments-db-scratch', mode: 'replace', confirm: 'payments-db-scratch' },
    });
    expectError(res, 403, 'NotAllowedError', /may not overwrite the existing PVC 'payments\/payments-db-scratch'.*restore\.inPlace/);
  });

  it('refuses a new PVC whose name is taken, and an item whose destination cannot serve it', async () => {
    expectError(
      await post(carol, { itemId: scratchItems[0].id, target: newPvc('payments', 'data-payments-db-0') }),
      409,
      'ConflictError',
      /already exists/,
    );
    const runOf = async (itemId: string) => (await knex('backup_item').where({ id: itemId }).first()).run_id;
    const runId = await runOf(scratchItems[0].id);
    try {
      await knex('backup_run').where({ id: runId }).update({ destination: 'adhoc:ftp' });
      expectError(await post(carol, { itemId: scratchItems[0].id, target: newPvc('payments') }), 409, 'ConflictError', /one-off destination/);
      await knex('backup_run').where({ id: runId }).update({ destination: 'gone' });
      expectError(await post(carol, { itemId: scratchItems[0].id, target: newPvc('payments') }), 400, 'InputError', /'gone'.*not configured/);
    } finally {
      await knex('backup_run').where({ id: runId }).update({ destination: 'local' });
    }
  });

  it('lets an owner restore into a new PVC of their own entity, end to end, checked on disk', async () => {
    const res = await post(alice, {
      source: { cluster: 'demo', namespace: 'payments', pvc: 'payments-db-scratch' },
      target: newPvc('payments', 'data-payments-db-1'),
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      phase: 'queued',
      itemId: scratchItems[1].id, // the newest of that PVC, not the newer backup of another PVC
      entityRef: 'component:default/payments-db',
      requestedBy: 'user:default/alice',
      targetPvc: { cluster: 'demo', namespace: 'payments', name: 'data-payments-db-1' },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/claimedBy|leaseExpiresAt|cancelRequested/);
    const done = await finished(res.body.id, alice);
    expect(done).toMatchObject({ phase: 'succeeded', error: null });
    expect(done.checks.length).toBeGreaterThan(0);
    expect(done.checks.every(c => c.ok)).toBe(true);
    expect(await compareTrees(await pvDirOf('payments', 'payments-db-scratch'), await pvDirOf('payments', 'data-payments-db-1'))).toEqual([]);

    // Visible to the owner and admins, not to another team.
    expect((await get(alice, `/restores/${res.body.id}`)).status).toBe(200);
    expectError(await get(bob, `/restores/${res.body.id}`), 404, 'NotFoundError', /No restore/);
    const list = await get(alice, `/restores?entityRef=${encodeURIComponent('component:default/payments-db')}`);
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: Restore) => r.id)).toContain(res.body.id);
    expectError(await get(alice, '/restores'), 400, 'InputError', /entityRef is required/);
    expectError(await get(bob, `/restores?entityRef=${encodeURIComponent('component:default/payments-db')}`), 403, 'NotAllowedError', /payments-db/);
    expect((await get(carol, '/restores?namespace=payments&limit=1')).body.items).toHaveLength(1);
  });

  it('resolves asOf to the newest backup of that PVC at that time', async () => {
    const between = new Date(Date.parse(scratchItems[1].finishedAt) - 500).toISOString();
    const res = await post(carol, {
      source: { cluster: 'demo', namespace: 'payments', pvc: 'payments-db-scratch', asOf: between },
      target: newPvc('payments'),
    });
    expect(res.status).toBe(202);
    expect(res.body.itemId).toBe(scratchItems[0].id);
    // The default name: <pvc>-restore-<first 8 of the restore id>.
    expect(res.body.targetPvc.name).toBe(`payments-db-scratch-restore-${res.body.id.slice(0, 8)}`);
    // The copy is labelled for the source's entity, which may claim PVCs in this namespace.
    expect(res.body.entityRef).toBe('component:default/payments-db');
    expect(res.body.target.labels).toEqual({ 'backstage.io/kubernetes-id': 'payments-db' });
    expect((await finished(res.body.id)).phase).toBe('succeeded');
  });

  it("lets an owner restore into a new PVC of any name in the entity's namespace; the copy shows on the entity's tab", async () => {
    const res = await post(alice, { itemId: scratchItems[1].id, target: newPvc('payments', 'scratch-copy') });
    expect(res.status).toBe(202);
    expect(res.body.entityRef).toBe('component:default/payments-db');
    expect((await finished(res.body.id, alice)).phase).toBe('succeeded');
    const claim = await admin.claim('payments', 'scratch-copy');
    expect(claim.metadata.labels).toMatchObject({ 'backstage.io/kubernetes-id': 'payments-db' });
    const tab = await get(alice, `/volumes?cluster=demo&entityRef=${encodeURIComponent('component:default/payments-db')}`);
    expect(tab.status).toBe(200);
    expect(tab.body.items.find((v: { name: string }) => v.name === 'scratch-copy')).toMatchObject({ entityRef: 'component:default/payments-db' });
  });

  it('allows one restore of a PVC at a time (409), and cancels through the API', async () => {
    const target = newPvc('search', 'index-search-indexer-7');
    const first = await post(carol, { itemId: searchItem, target });
    expect(first.status).toBe(202);
    const second = await post(carol, { itemId: searchItem, target });
    expectError(second, 409, 'ConflictError', /already (has a restore|exists)/);
    // alice may not even see a restore into search's PVC (bob, its owner, could cancel it).
    expectError(await request(server).post(`/api/volume-manager/restores/${first.body.id}/cancel`).set('Authorization', alice), 404, 'NotFoundError', /No restore/);
    const cancel = await request(server).post(`/api/volume-manager/restores/${first.body.id}/cancel`).set('Authorization', carol);
    expect(cancel.status).toBe(200);
    const done = await finished(first.body.id);
    expect(done.phase).toBe('canceled');
    // A canceled restore into a new PVC leaves no PVC behind.
    for (let i = 0; i < 100 && (await admin.claim('search', 'index-search-indexer-7')); i++) await new Promise(r => setTimeout(r, 100));
    expect(await admin.claim('search', 'index-search-indexer-7')).toBeUndefined();
  });

  it('replaces an existing PVC after a safety backup (admin), and the data is the archive', async () => {
    const dir = await pvDirOf('payments', 'payments-db-scratch');
    const asBackedUp = await snapshot(dir);
    writeFileSync(path.join(dir, 'written-after-the-backup.txt'), 'gone after a replace\n');
    const res = await post(carol, {
      itemId: scratchItems[0].id,
      target: { type: 'existingPvc', cluster: 'demo', namespace: 'payments', name: 'payments-db-scratch', mode: 'replace', confirm: 'payments-db-scratch', safetyBackup: true },
    });
    expect(res.status).toBe(202);
    const done = await finished(res.body.id);
    expect(done).toMatchObject({ phase: 'succeeded' });
    expect(done.safetyBackupRunId).toEqual(expect.any(String));
    const safety = await finishedRun(server, done.safetyBackupRunId!, carol);
    expect(safety.items[0]).toMatchObject({ status: 'succeeded', namespace: 'payments', pvc: 'payments-db-scratch' });
    // A mirror restore: the archive's tree, and nothing written since.
    expect(await compareTrees(asBackedUp, dir)).toEqual([]);
  });
});
