import { setTimeout as sleep } from 'node:timers/promises';
import knexFactory, { type Knex } from 'knex';
import { createTestDatabases, type TestDatabaseId } from '../../__testUtils__/testDatabases';
import { DatabaseBackupStore } from '../../database/DatabaseBackupStore';
import { DatabasePolicyStore } from '../../database/DatabasePolicyStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from '../../database/migrateBackupStore';
import type { DueTarget, NewPolicy } from '../../database/PolicyStore';
import { dispatchTick } from './dispatchTick';

jest.setTimeout(180_000);

const databases = createTestDatabases();

const T0 = Date.parse('2026-12-06T10:00:30.000Z');
const MINUTE = 60_000;
const PVC = { cluster: 'kube-sim', namespace: 'payments', pvc: 'data-db-0' };

function policy(overrides: Partial<NewPolicy> = {}): NewPolicy {
  return {
    scope: { kind: 'pvc', ...PVC },
    cron: '* * * * *',
    timezone: 'UTC',
    destination: 'local',
    retention: {},
    catchUp: 'one',
    includeManual: false,
    enabled: true,
    createdBy: 'user:default/alice',
    ...overrides,
  };
}

async function migratedKnex(id: TestDatabaseId): Promise<Knex> {
  const knex = await databases.init(id);
  await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  return knex;
}

/** Starts real backup runs through the backup store, as the backup service will. */
function runStarter(backups: DatabaseBackupStore, started: string[], delay = async () => {}) {
  return async (target: DueTarget) => {
    await delay();
    const run = await backups.createRun({
      cluster: target.cluster,
      destination: target.destination,
      requestedBy: `policy:${target.policyId}`,
      items: [{ namespace: target.namespace, pvc: target.pvc }],
    });
    started.push(run.id);
    return run.id;
  };
}

/** A worker that finishes every queued item, so the next slot finds the PVC idle. */
async function finishAll(backups: DatabaseBackupStore) {
  for (;;) {
    const item = await backups.claimNextItem('worker-1', 60_000);
    if (!item) return;
    await backups.finishItem(item.id, 'worker-1', { status: 'succeeded', bytes: 1, sha256: 'a'.repeat(64), archiveUri: 'file:///x' });
  }
}

describe.each(databases.eachSupportedId())('dispatchTick on %p', id => {
  let knex: Knex;
  let store: DatabasePolicyStore;
  let backups: DatabaseBackupStore;
  let clock: number;

  beforeAll(async () => {
    knex = await migratedKnex(id);
  });
  afterAll(async () => {
    await knex.destroy();
  });
  beforeEach(async () => {
    for (const table of ['policy_slots', 'policy_targets', 'policies', 'backup_item', 'backup_run']) {
      await knex(table).delete();
    }
    clock = T0;
    store = DatabasePolicyStore.fromKnex(knex, { now: () => new Date(clock) });
    backups = DatabaseBackupStore.fromKnex(knex);
  });

  it('runs the newest slot once after a 3-hour outage with catch-up one, and counts the rest missed', async () => {
    const { id: policyId } = await store.createPolicy(policy({ cron: '0 * * * *' }));
    const started: string[] = [];
    const now = new Date(T0 + 3 * 60 * MINUTE); // 13:00:30: 11:00, 12:00, 13:00 are due
    const result = await dispatchTick({ store, dispatcherId: 'a', startRun: runStarter(backups, started), now });
    expect(result).toMatchObject({ due: 1, lostClaims: 0, recorded: 1, failed: [], startFailures: [] });
    expect(result.started.map(s => s.slot.toISOString())).toEqual(['2026-12-06T13:00:00.000Z']);
    const stored = await store.getPolicy(policyId);
    expect(stored?.status).toMatchObject({ missedRuns: 2, lastRunId: started[0], nextRunAt: '2026-12-06T14:00:00.000Z' });
    // Nothing more is due at the same instant.
    const again = await dispatchTick({ store, dispatcherId: 'a', startRun: runStarter(backups, started), now });
    expect(again.due).toBe(0);
    expect(started).toHaveLength(1);
    expect((await knex('backup_item').first()).trigger).toBe('schedule');
  });

  it('with catch-up none runs nothing after the outage and waits for the next slot', async () => {
    const { id: policyId } = await store.createPolicy(policy({ cron: '0 * * * *', catchUp: 'none' }));
    const started: string[] = [];
    const now = new Date(T0 + 3 * 60 * MINUTE + 10 * MINUTE); // 13:10:30: 13:00 is past the 5-minute grace
    const result = await dispatchTick({ store, dispatcherId: 'a', startRun: runStarter(backups, started), now });
    expect(result.started).toEqual([]);
    expect((await store.getPolicy(policyId))?.status).toMatchObject({ missedRuns: 3, nextRunAt: '2026-12-06T14:00:00.000Z' });
  });

  it('counts a slot missed, never queued, while a backup of the PVC runs', async () => {
    const { id: policyId } = await store.createPolicy(policy());
    const started: string[] = [];
    const startRun = runStarter(backups, started);
    await dispatchTick({ store, dispatcherId: 'a', startRun, now: new Date(T0 + MINUTE) });
    expect(started).toHaveLength(1);
    // The run is still queued at the next slot.
    await dispatchTick({ store, dispatcherId: 'a', startRun, now: new Date(T0 + 2 * MINUTE) });
    expect(started).toHaveLength(1);
    expect((await store.getPolicy(policyId))?.status.missedRuns).toBe(1);
  });

  it('counts a claimed slot whose run could not start as missed, and says why', async () => {
    const { id: policyId } = await store.createPolicy(policy());
    const result = await dispatchTick({
      store,
      dispatcherId: 'a',
      startRun: async () => {
        throw new Error('destination nas is not configured');
      },
      now: new Date(T0 + MINUTE),
    });
    expect(result.startFailures).toHaveLength(1);
    expect((await store.getPolicy(policyId))?.status).toMatchObject({
      missedRuns: 1,
      lastError: expect.stringContaining('destination nas is not configured'),
      nextRunAt: '2026-12-06T10:02:00.000Z',
    });
  });

  it('a dispatcher that dies between claim and run: others leave the slot alone, then count it missed after the lease, never run it', async () => {
    const { id: policyId } = await store.createPolicy(policy());
    const slot = new Date('2026-12-06T10:01:00Z');
    // A claim whose dispatcher stopped before starting the run or recording anything.
    expect(await store.claimSlot({ policyId, ...PVC, slot }, 'dead-replica')).toBe(true);
    const started: string[] = [];
    const tickAt = (s: DatabasePolicyStore, ms: number) =>
      dispatchTick({ store: s, dispatcherId: 'b', startRun: runStarter(backups, started), now: new Date(T0 + MINUTE + ms) });
    const first = await tickAt(store, 5_000);
    expect(first).toMatchObject({ due: 1, lostClaims: 1, recovered: 0, recorded: 0 });
    expect(started).toEqual([]);

    const shortLease = DatabasePolicyStore.fromKnex(knex, { now: () => new Date(clock), claimLeaseMs: 20 });
    await sleep(60);
    const second = await tickAt(shortLease, 10_000);
    expect(second).toMatchObject({ due: 1, lostClaims: 0, recovered: 1, recorded: 1 });
    expect(started).toEqual([]);
    // The target moved on: nothing is due any more at that time.
    expect((await tickAt(shortLease, 11_000)).due).toBe(0);
    expect(await store.listTargets(policyId)).toEqual([
      expect.objectContaining({ lastSlot: slot.toISOString(), nextRunAt: '2026-12-06T10:02:00.000Z', missedRuns: 1 }),
    ]);
  });
});

describe('two replicas on the real PostgreSQL', () => {
  it('start exactly 5 runs for a policy due every minute over 5 minutes, none doubled', async () => {
    expect(databases.eachSupportedId().map(([id]) => id)).toContain('POSTGRES_15');
    const knexA = await migratedKnex('POSTGRES_15');
    // A second pool on the same database: the second replica.
    const knexB = knexFactory({ ...knexA.client.config, pool: { min: 0, max: 5 } });
    try {
      let clock = T0;
      const now = () => new Date(clock);
      const replicas = [
        { name: 'replica-a', store: DatabasePolicyStore.fromKnex(knexA, { now }), backups: DatabaseBackupStore.fromKnex(knexA) },
        { name: 'replica-b', store: DatabasePolicyStore.fromKnex(knexB, { now }), backups: DatabaseBackupStore.fromKnex(knexB) },
      ];
      const { id: policyId } = await replicas[0].store.createPolicy(policy());
      const started: string[] = [];
      const jitter = () => sleep(Math.floor(Math.random() * 15));
      for (let minute = 1; minute <= 5; minute++) {
        clock = T0 + minute * MINUTE;
        const minuteStart = clock;
        // Each replica ticks three times during the minute, all at once with the other's, at
        // slightly different instants (neither waits for the other).
        await Promise.all(
          replicas.flatMap(replica =>
            [0, 1, 2].map(async i => {
              await jitter();
              return dispatchTick({
                store: replica.store,
                dispatcherId: replica.name,
                startRun: runStarter(replica.backups, started, jitter),
                now: new Date(minuteStart + i * 1_000),
              });
            }),
          ),
        );
        await finishAll(replicas[minute % 2].backups);
      }
      expect(started).toHaveLength(5);
      const runs = await knexA('backup_run').select('id');
      expect(runs).toHaveLength(5);
      const ledger = await knexA('policy_slots').where({ policy_id: policyId }).orderBy('slot');
      expect(ledger.map(r => new Date(r.slot).toISOString())).toEqual(
        [1, 2, 3, 4, 5].map(m => new Date(Date.parse('2026-12-06T10:00:00Z') + m * MINUTE).toISOString()),
      );
      expect(new Set(ledger.map(r => r.run_id)).size).toBe(5);
      expect(ledger.every(r => started.includes(r.run_id))).toBe(true);
      const items = await knexA('backup_item').select('trigger', 'policy_id', 'status');
      expect(items).toHaveLength(5);
      expect(items.every(i => i.trigger === 'schedule' && i.policy_id === policyId && i.status === 'succeeded')).toBe(true);
      const stored = await replicas[1].store.getPolicy(policyId);
      expect(stored?.status).toMatchObject({ missedRuns: 0, nextRunAt: '2026-12-06T10:06:00.000Z' });
    } finally {
      await knexB.destroy();
      await knexA.destroy();
    }
  });
});
