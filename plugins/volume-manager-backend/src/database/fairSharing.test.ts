/*
 * Fair sharing and clock skew, on real SQLite and PostgreSQL: queue limits per requester and
 * per entity (atomic under concurrent requests), requesters taking turns when items are
 * claimed, and leases judged by the database's clock rather than a replica's.
 */
import type { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import type { NewRun } from './BackupStore';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const SUCCEEDED = { status: 'succeeded' as const, bytes: 1, sha256: 'a'.repeat(64), archiveUri: 'file:///x' };

function run(requestedBy: string, pvcs: string[], entityRef?: string): NewRun {
  return {
    cluster: 'sim',
    destination: 'local',
    requestedBy,
    items: pvcs.map(pvc => ({ namespace: 'ns', pvc, entityRef })),
  };
}
const pvcs = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe.each(databases.eachSupportedId())('fair sharing on %p', databaseId => {
  let knex: Knex;

  beforeEach(async () => {
    knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  });

  it('refuses a requester past its limit with a 409 that says why, and counts only unfinished items', async () => {
    const store = DatabaseBackupStore.fromKnex(knex);
    const limits = { maxActivePerUser: 5 };
    await store.createRun(run('user:default/alice', pvcs('a', 4)), limits);
    const refused = store.createRun(run('user:default/alice', pvcs('b', 2)), limits);
    await expect(refused).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(/user:default\/alice has 4 queued or running .* limit is 5 per requester \(volumeManager\.queue\.maxActivePerUser\)/),
    });
    // Nothing of the refused run was stored.
    expect(Number((await knex('backup_run').count({ n: '*' }))[0].n)).toBe(1);
    // Another requester is not affected; finished items free the slots.
    await store.createRun(run('user:default/bob', pvcs('c', 5)), limits);
    const claimed = (await store.claimNextItem('w', 60_000))!;
    await store.finishItem(claimed.id, 'w', SUCCEEDED);
    await expect(store.createRun(run(claimed.requestedBy, pvcs('d', 1)), limits)).resolves.toBeDefined();
  });

  it('refuses an entity past its limit whoever asks', async () => {
    const store = DatabaseBackupStore.fromKnex(knex);
    const limits = { maxActivePerEntity: 3 };
    await store.createRun(run('user:default/alice', pvcs('a', 2), 'component:default/payments'), limits);
    await expect(
      store.createRun(run('user:default/bob', pvcs('b', 2), 'component:default/payments'), limits),
    ).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(/for component:default\/payments: 2 queued or running and 2 more .* limit is 3 per entity/),
    });
    await store.createRun(run('user:default/bob', pvcs('b', 2), 'component:default/search'), limits);
  });

  it('keeps the limit under concurrent requests', async () => {
    const store = DatabaseBackupStore.fromKnex(knex);
    const limits = { maxActivePerUser: 100 };
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, r) => store.createRun(run('user:default/alice', pvcs(`r${r}`, 30)), limits)),
    );
    expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(3);
    expect(
      results.filter(r => r.status === 'rejected').every(r => (r as PromiseRejectedResult).reason.name === 'ConflictError'),
    ).toBe(true);
    const [{ n }] = await knex('backup_item').where({ requested_by: 'user:default/alice' }).count({ n: '*' });
    expect(Number(n)).toBe(90);
  });

  it("claims two requesters' items alternately, however many one of them queued first", async () => {
    let t = Date.parse('2026-12-01T10:00:00.000Z');
    const now = () => new Date(t);
    const store = DatabaseBackupStore.fromKnex(knex, { now });
    await store.createRun(run('user:default/alice', pvcs('alice', 6)));
    t += 1_000;
    await store.createRun(run('user:default/bob', pvcs('bob', 2)));

    // One worker slot: each item finishes before the next claim.
    const order: string[] = [];
    for (;;) {
      t += 1_000;
      const item = await store.claimNextItem('w', 60_000);
      if (!item) break;
      order.push(item.pvc);
      t += 1_000;
      await store.finishItem(item.id, 'w', SUCCEEDED);
    }
    expect(order).toEqual(['alice-0', 'bob-0', 'alice-1', 'bob-1', 'alice-2', 'alice-3', 'alice-4', 'alice-5']);
  });

  it('gives a free slot to the requester with the fewest running items', async () => {
    const store = DatabaseBackupStore.fromKnex(knex);
    await store.createRun(run('user:default/alice', pvcs('alice', 10)));
    await store.createRun(run('user:default/bob', pvcs('bob', 1)));
    await store.createRun(run('user:default/carol', pvcs('carol', 1)));
    const claimed = [];
    for (let i = 0; i < 4; i++) claimed.push((await store.claimNextItem(`w${i}`, 60_000))!.pvc);
    expect(claimed.slice(0, 3).sort()).toEqual(['alice-0', 'bob-0', 'carol-0']);
    expect(claimed[3]).toBe('alice-1');
  });

  it('lets no replica whose clock runs 10 minutes ahead interrupt a live item', async () => {
    const replicaA = DatabaseBackupStore.fromKnex(knex);
    const ahead = () => new Date(Date.now() + 10 * 60_000);
    const replicaB = DatabaseBackupStore.fromKnex(knex, { now: ahead });
    await replicaA.createRun(run('user:default/alice', ['live']));
    const item = (await replicaA.claimNextItem('replica-a', 60_000))!;

    // The lease is set by the database's clock, not A's.
    const lease = Date.parse(item.leaseExpiresAt!);
    expect(Math.abs(lease - (Date.now() + 60_000))).toBeLessThan(5_000);

    expect(await replicaB.interruptExpiredItems()).toEqual([]);
    expect(await replicaB.liveItemIds()).toEqual([item.id]);
    expect((await replicaB.getItem(item.id))!.status).toBe('running');
    // B's renewal attempts on A's item do nothing; A still holds it and finishes it.
    expect(await replicaB.renewLease(item.id, 'replica-b', 1)).toBe(false);
    expect(await replicaA.finishItem(item.id, 'replica-a', SUCCEEDED)).toBe(true);
  });

  it('still interrupts an item whose lease ran out by the database clock', async () => {
    const replicaA = DatabaseBackupStore.fromKnex(knex);
    const behind = () => new Date(Date.now() - 10 * 60_000);
    const replicaB = DatabaseBackupStore.fromKnex(knex, { now: behind });
    await replicaA.createRun(run('user:default/alice', ['dead']));
    const item = (await replicaA.claimNextItem('replica-a', 200))!;
    await new Promise(r => setTimeout(r, 400));
    // B's clock runs behind, yet it sees the expiry.
    expect((await replicaB.interruptExpiredItems()).map(i => i.id)).toEqual([item.id]);
    expect(await replicaB.liveItemIds()).toEqual([]);
  });
});
