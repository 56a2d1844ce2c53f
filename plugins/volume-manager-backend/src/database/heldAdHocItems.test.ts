/*
 * Items of a run with a one-off destination: only the replica holding the credentials may claim
 * them, it keeps them leased while they wait, and when it dies they end `interrupted`, whether
 * they were running or still queued.
 */
import { createTestDatabases } from '../__testUtils__/testDatabases';
import type { NewRun } from './BackupStore';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const LEASE = 60_000;

describe.each(databases.eachSupportedId())('held ad-hoc items on %p', databaseId => {
  let t = Date.parse('2026-11-26T05:00:00.000Z');
  const now = () => new Date(t);

  async function store() {
    const knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
    return DatabaseBackupStore.fromKnex(knex, { now, databaseNow: now });
  }

  const run = (holder?: NewRun['holder']): NewRun => ({
    cluster: 'sim',
    destination: holder ? 'adhoc:scp' : 'local',
    requestedBy: 'user:default/alice',
    items: [{ namespace: 'ns', pvc: 'a' }, { namespace: 'ns', pvc: 'b' }],
    holder,
  });

  it('lets only the holder claim them, with their ids, and interrupts them when its lease runs out', async () => {
    const s = await store();
    const created = await s.createRun(run({ workerId: 'replica-a', leaseMs: LEASE }));
    const ids = created.items.map(i => i.id);

    expect(await s.claimNextItem('replica-b', LEASE)).toBeUndefined();
    expect(await s.claimNextItem('replica-b', LEASE, { adHocItemIds: [] })).toBeUndefined();
    const claimed = await s.claimNextItem('replica-a', LEASE, { adHocItemIds: ids });
    expect(claimed?.id).toBe(ids[0]);
    expect(claimed?.destination).toBe('adhoc:scp');

    // The holder renews its waiting item; the lease sweep leaves it alone.
    t += LEASE / 2;
    await s.renewHeldQueuedItems('replica-a', [ids[1]], LEASE);
    await s.renewLease(ids[0], 'replica-a', LEASE);
    t += LEASE / 2 + 1;
    expect(await s.interruptExpiredItems()).toEqual([]);

    // Another worker cannot renew it; the holder dies: both items end interrupted.
    await s.renewHeldQueuedItems('replica-b', [ids[1]], 10 * LEASE);
    t += LEASE + 1;
    const interrupted = await s.interruptExpiredItems();
    expect(interrupted.map(i => [i.id, i.status]).sort()).toEqual(
      [
        [ids[0], 'interrupted'],
        [ids[1], 'interrupted'],
      ].sort(),
    );
    expect(interrupted.find(i => i.id === ids[1])?.error).toMatch(
      /replica holding this backup's one-off destination stopped before it ran .* no other replica has its credentials/,
    );
    expect((await s.getRun(created.id))?.status).toBe('interrupted');
  });

  it('leaves runs to configured destinations claimable by every replica, and unleased while queued', async () => {
    const s = await store();
    const created = await s.createRun(run());
    t += 10 * LEASE;
    expect(await s.interruptExpiredItems()).toEqual([]);
    expect((await s.claimNextItem('replica-b', LEASE))?.runId).toBe(created.id);
  });
});
