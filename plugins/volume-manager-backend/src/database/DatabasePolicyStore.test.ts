import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import { createTestDatabases, type TestDatabaseId } from '../__testUtils__/testDatabases';
import { resolveCron } from '../services/Policies';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { DatabasePolicyStore } from './DatabasePolicyStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';
import type { NewPolicy } from './PolicyStore';

jest.setTimeout(120_000);

const databases = createTestDatabases();

const T0 = Date.parse('2026-12-06T10:00:30.000Z');
const at = (iso: string) => new Date(iso);

class FakeClock {
  t = T0;
  now = () => new Date(this.t);
}

const PVC = { cluster: 'kube-sim', namespace: 'payments', pvc: 'data-db-0' };

function pvcPolicy(overrides: Partial<NewPolicy> = {}): NewPolicy {
  return {
    scope: { kind: 'pvc', ...PVC },
    ownerEntityRef: 'component:default/payments',
    cron: '0 * * * *',
    timezone: 'UTC',
    destination: 'local',
    retention: { keepDaily: 7 },
    catchUp: 'one',
    maxDuration: { text: '30m', ms: 1_800_000 },
    includeManual: false,
    enabled: true,
    createdBy: 'user:default/alice',
    ...overrides,
  };
}

function entityPolicy(entityRef: string, overrides: Partial<NewPolicy> = {}): NewPolicy {
  return pvcPolicy({ scope: { kind: 'entity', entityRef }, ownerEntityRef: null, cron: '@daily-random', ...overrides });
}

async function migratedKnex(id: TestDatabaseId): Promise<Knex> {
  const knex = await databases.init(id);
  await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  return knex;
}

async function queuedRun(knex: Knex, pvc = PVC) {
  const backups = DatabaseBackupStore.fromKnex(knex);
  return backups.createRun({
    cluster: pvc.cluster,
    destination: 'local',
    requestedBy: 'user:default/alice',
    items: [{ namespace: pvc.namespace, pvc: pvc.pvc }],
  });
}

describe.each(databases.eachSupportedId())('DatabasePolicyStore on %p', id => {
  let knex: Knex;
  let clock: FakeClock;
  let store: DatabasePolicyStore;

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
    clock = new FakeClock();
    store = DatabasePolicyStore.fromKnex(knex, { now: clock.now });
  });

  it('creates a PVC policy with its one target and its next run', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    expect(policy).toMatchObject({
      scope: { kind: 'pvc', ...PVC },
      entityRef: 'component:default/payments',
      cron: '0 * * * *',
      timezone: 'UTC',
      destination: 'local',
      retention: { keepDaily: 7 },
      catchUp: 'one',
      maxDuration: '30m',
      maxDurationMs: 1_800_000,
      includeManual: false,
      enabled: true,
      createdBy: 'user:default/alice',
      createdAt: '2026-12-06T10:00:30.000Z',
      status: {
        nextRunAt: '2026-12-06T11:00:00.000Z',
        lastRunAt: null,
        lastSuccessAt: null,
        lastError: null,
        missedRuns: 0,
        targets: 1,
      },
    });
    expect(await store.getPolicy(policy.id)).toEqual(policy);
    const [target] = await store.listTargets(policy.id);
    expect(target).toMatchObject({ ...PVC, effectiveCron: '0 * * * *', lastSlot: null, since: '2026-12-06T10:00:30.000Z' });
  });

  it('refuses a scope without a PVC name or entity', async () => {
    await expect(store.createPolicy(pvcPolicy({ scope: { kind: 'pvc', ...PVC, pvc: '' } }))).rejects.toThrow(/pvc/);
    await expect(store.createPolicy(entityPolicy(''))).rejects.toThrow(/entityRef/);
  });

  it('updates settings; a new schedule or re-enabling starts from now, disabling clears the next run', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    clock.t += 3 * 3_600_000; // 13:00:30
    const updated = await store.updatePolicy(policy.id, {
      retention: { keepLast: 3 },
      destination: 'nas',
      maxDuration: null,
      updatedBy: 'user:default/bob',
    });
    expect(updated).toMatchObject({
      retention: { keepLast: 3 },
      destination: 'nas',
      maxDuration: null,
      maxDurationMs: null,
      updatedBy: 'user:default/bob',
      updatedAt: '2026-12-06T13:00:30.000Z',
      // Unchanged schedule: the stored next run stays, so the missed slots stay due.
      status: { nextRunAt: '2026-12-06T11:00:00.000Z' },
    });

    const disabled = await store.updatePolicy(policy.id, { enabled: false, updatedBy: 'user:default/bob' });
    expect(disabled?.status.nextRunAt).toBeNull();
    expect(await store.dueTargets(at('2027-01-01T00:00:00Z'), 10)).toEqual([]);

    clock.t += 3_600_000; // 14:00:30
    const enabled = await store.updatePolicy(policy.id, { enabled: true, updatedBy: 'user:default/bob' });
    expect(enabled?.status.nextRunAt).toBe('2026-12-06T15:00:00.000Z');
    expect((await store.listTargets(policy.id))[0].since).toBe('2026-12-06T14:00:30.000Z');

    const rescheduled = await store.updatePolicy(policy.id, {
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      updatedBy: 'user:default/bob',
    });
    expect(rescheduled?.status.nextRunAt).toBe('2026-12-07T01:30:00.000Z');
    expect((await store.listTargets(policy.id))[0].effectiveCron).toBe('30 2 * * *');

    expect(await store.updatePolicy('no-such-policy', { enabled: true, updatedBy: 'x' })).toBeUndefined();
  });

  it('deletes a policy with its targets and ledger', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    await store.claimSlot({ policyId: policy.id, ...PVC, slot: at('2026-12-06T11:00:00Z') }, 'replica-a');
    expect(await store.deletePolicy(policy.id)).toBe(true);
    expect(await store.getPolicy(policy.id)).toBeUndefined();
    expect(await knex('policy_targets').where({ policy_id: policy.id })).toEqual([]);
    expect(await knex('policy_slots').where({ policy_id: policy.id })).toEqual([]);
    expect(await store.deletePolicy(policy.id)).toBe(false);
  });

  it('lists by entity and by covered PVC, oldest first, with a cursor', async () => {
    const a = await store.createPolicy(pvcPolicy());
    clock.t += 1000;
    const b = await store.createPolicy(entityPolicy('component:default/shop'));
    await store.upsertTargets(b.id, [{ cluster: 'kube-sim', namespace: 'shop', pvc: 'cache' }, PVC]);
    clock.t += 1000;
    const c = await store.createPolicy(entityPolicy('component:default/other'));

    const ids = (page: { items: { id: string }[] }) => page.items.map(p => p.id);
    expect(ids(await store.listPolicies())).toEqual([a.id, b.id, c.id]);
    expect(ids(await store.listPolicies({ entityRefs: ['component:default/payments', 'component:default/shop'] }))).toEqual([a.id, b.id]);
    expect(ids(await store.listPolicies({ entityRefs: [] }))).toEqual([]);
    expect(ids(await store.listPolicies({ pvc: PVC }))).toEqual([a.id, b.id]);

    const first = await store.listPolicies({ limit: 2 });
    expect(ids(first)).toEqual([a.id, b.id]);
    const second = await store.listPolicies({ limit: 2, cursor: first.nextCursor! });
    expect(ids(second)).toEqual([c.id]);
    expect(second.nextCursor).toBeNull();
    await expect(store.listPolicies({ cursor: 'not-a-cursor' })).rejects.toThrow(/Invalid cursor/);
  });

  it('keeps the targets of an entity policy in step with its PVCs, each with a stable -random schedule', async () => {
    const policy = await store.createPolicy(entityPolicy('component:default/shop'));
    expect(policy.status.targets).toBe(0);
    const pvcs = ['a', 'b', 'c'].map(pvc => ({ cluster: 'kube-sim', namespace: 'shop', pvc }));
    expect(await store.upsertTargets(policy.id, pvcs)).toEqual({ added: 3, removed: 0 });
    const targets = await store.listTargets(policy.id);
    for (const t of targets) {
      expect(t.effectiveCron).toBe(resolveCron('@daily-random', { policyId: policy.id, pvcKey: `kube-sim/shop/${t.pvc}` }));
      expect(t.nextRunAt).not.toBeNull();
    }
    // State of the PVCs that stay is kept; a gone PVC is dropped; a new one starts from now.
    await knex('policy_targets').where({ policy_id: policy.id, pvc: 'a' }).update({ missed_runs: 4 });
    clock.t += 60_000;
    expect(await store.upsertTargets(policy.id, [pvcs[0], pvcs[2], { ...pvcs[0], pvc: 'd' }, pvcs[0]])).toEqual({
      added: 1,
      removed: 1,
    });
    const after = await store.listTargets(policy.id);
    expect(after.map(t => t.pvc)).toEqual(['a', 'c', 'd']);
    expect(after[0].missedRuns).toBe(4);
    expect(after[2].since).toBe('2026-12-06T10:01:30.000Z');

    const single = await store.createPolicy(pvcPolicy());
    await expect(store.upsertTargets(single.id, pvcs)).rejects.toThrow(/entity policy/);
    await expect(store.upsertTargets('no-such-policy', pvcs)).rejects.toThrow(/No policy/);
    await expect(store.upsertTargets(policy.id, [{ cluster: 'kube-sim', namespace: '', pvc: 'x' }])).rejects.toThrow(/namespace/);
  });

  it('finds exactly the due targets of enabled policies, earliest first, with whether their PVC is busy', async () => {
    const hourly = await store.createPolicy(pvcPolicy()); // next 11:00
    const daily = await store.createPolicy(
      pvcPolicy({ scope: { kind: 'pvc', ...PVC, pvc: 'other' }, cron: '0 0 * * *' }),
    ); // next 2026-12-07 00:00
    const off = await store.createPolicy(pvcPolicy({ scope: { kind: 'pvc', ...PVC, pvc: 'off' }, enabled: false }));
    // A disabled policy whose target row still has a next run (say, a row written before the
    // policy was disabled) is not due either.
    await knex('policy_targets').where({ policy_id: off.id }).update({ next_run_at: at('2026-12-06T10:30:00Z') });

    expect(await store.dueTargets(at('2026-12-06T10:59:59.999Z'), 10)).toEqual([]);
    const due = await store.dueTargets(at('2026-12-06T11:00:00Z'), 10);
    expect(due).toEqual([
      {
        policyId: hourly.id,
        ...PVC,
        cron: '0 * * * *',
        timezone: 'UTC',
        catchUp: 'one',
        since: new Date(T0),
        lastSlot: null,
        nextRunAt: at('2026-12-06T11:00:00Z'),
        destination: 'local',
        maxDurationMs: 1_800_000,
        entityRef: 'component:default/payments',
        runActive: false,
      },
    ]);
    const later = await store.dueTargets(at('2026-12-08T00:00:00Z'), 10);
    expect(later.map(t => t.policyId)).toEqual([hourly.id, daily.id]);
    expect((await store.dueTargets(at('2026-12-08T00:00:00Z'), 1)).map(t => t.policyId)).toEqual([hourly.id]);

    // A queued backup of the PVC (manual or not) marks it busy; a finished one does not.
    const run = await queuedRun(knex);
    expect((await store.dueTargets(at('2026-12-06T11:00:00Z'), 10))[0].runActive).toBe(true);
    await knex('backup_item').where({ run_id: run.id }).update({ status: 'succeeded' });
    expect((await store.dueTargets(at('2026-12-06T11:00:00Z'), 10))[0].runActive).toBe(false);
  });

  it('lets exactly one claimant hold a slot, and takes over only a claim left unrecorded past its lease', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    const slot = { policyId: policy.id, ...PVC, slot: at('2026-12-06T11:00:00Z') };
    expect(await store.claimSlot(slot, 'replica-a')).toBe(true);
    expect(await store.claimSlot(slot, 'replica-b')).toBe(false);
    expect(await store.claimSlot(slot, 'replica-a')).toBe(false);
    expect(await store.claimSlot({ ...slot, slot: at('2026-12-06T12:00:00Z') }, 'replica-b')).toBe(true);
    const next = { ...slot, slot: at('2026-12-06T13:00:00Z') };
    const none = { held: false, recovered: false };
    expect(await store.claimSlots([next, slot, next], 'replica-b')).toEqual([{ held: true, recovered: false }, none, none]);
    const rows = await knex('policy_slots').where({ policy_id: policy.id }).orderBy('slot');
    expect(rows.map(r => r.claimed_by)).toEqual(['replica-a', 'replica-b', 'replica-b']);
    await expect(store.claimSlot(slot, '')).rejects.toThrow(/Worker ids/);
    await expect(store.claimSlot({ ...slot, slot: new Date(NaN) }, 'replica-a')).rejects.toThrow(/slot/);

    // With a short lease: an unrecorded claim is taken over (recovered), a recorded one never.
    const shortLease = DatabasePolicyStore.fromKnex(knex, { now: clock.now, claimLeaseMs: 20 });
    await sleep(60);
    await store.recordDispatch({
      policyId: policy.id,
      ...PVC,
      expectedLastSlot: null,
      lastSlot: at('2026-12-06T12:00:00Z'),
      nextRunAt: at('2026-12-06T13:00:00Z'),
      missed: 0,
      claimedBy: 'replica-b',
    });
    expect(await shortLease.claimSlots([slot, { ...slot, slot: at('2026-12-06T12:00:00Z') }], 'replica-c')).toEqual([
      { held: true, recovered: true },
      none,
    ]);
    const taken = await knex('policy_slots').where({ policy_id: policy.id }).orderBy('slot');
    expect(taken.map(r => [r.claimed_by, Number(r.attempts)])).toEqual([
      ['replica-c', 2],
      ['replica-b', 1],
      ['replica-b', 1],
    ]);
    // The first holder, back too late, can no longer record its decision for that slot.
    expect(
      await store.recordDispatch({
        policyId: policy.id,
        ...PVC,
        expectedLastSlot: at('2026-12-06T12:00:00Z'),
        lastSlot: slot.slot,
        nextRunAt: null,
        missed: 0,
        claimedBy: 'replica-a',
      }),
    ).toBe(false);
  });

  it('records a decision only from the holder of its slot, once, and attaches the started run to target, policy and items', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    const slot = at('2026-12-06T11:00:00Z');
    const run = await queuedRun(knex);
    expect(await store.claimSlot({ policyId: policy.id, ...PVC, slot }, 'replica-a')).toBe(true);
    clock.t = Date.parse('2026-12-06T11:00:05Z');
    const record = {
      policyId: policy.id,
      ...PVC,
      expectedLastSlot: null,
      lastSlot: slot,
      nextRunAt: at('2026-12-06T12:00:00Z'),
      missed: 2,
      claimedBy: 'replica-a',
      runId: run.id,
    };
    // Not the holder: ignored.
    expect(await store.recordDispatch({ ...record, claimedBy: 'replica-b' })).toBe(false);
    expect(await store.recordDispatch(record)).toBe(true);
    // The same decision again (a retry) changes nothing.
    expect(await store.recordDispatch(record)).toBe(false);

    const [target] = await store.listTargets(policy.id);
    expect(target).toMatchObject({ lastSlot: slot.toISOString(), nextRunAt: '2026-12-06T12:00:00.000Z', missedRuns: 2, lastRunId: run.id });
    const stored = await store.getPolicy(policy.id);
    expect(stored?.status).toMatchObject({
      missedRuns: 2,
      lastRunId: run.id,
      lastRunAt: '2026-12-06T11:00:05.000Z',
      nextRunAt: '2026-12-06T12:00:00.000Z',
    });
    const item = await knex('backup_item').where({ run_id: run.id }).first();
    expect(item).toMatchObject({ trigger: 'schedule', policy_id: policy.id });
    const ledger = await knex('policy_slots').where({ policy_id: policy.id }).first();
    expect(ledger.run_id).toBe(run.id);
    expect(ledger.recorded_at).not.toBeNull();

    // A run for a slot nobody claimed is not attached, and its decision not stored.
    const other = await queuedRun(knex);
    const unclaimed = { ...record, expectedLastSlot: slot, lastSlot: at('2026-12-06T12:00:00Z'), missed: 0, runId: other.id };
    expect(await store.recordDispatch(unclaimed)).toBe(false);
    expect((await knex('backup_item').where({ run_id: other.id }).first()).trigger).toBe('manual');
    expect((await store.getPolicy(policy.id))?.status.lastRunId).toBe(run.id);

    // A decision without a due slot (a stored next run that was early) needs no claim.
    expect(
      await store.recordDispatch({ policyId: policy.id, ...PVC, expectedLastSlot: slot, lastSlot: slot, nextRunAt: at('2026-12-06T12:30:00Z'), missed: 0 }),
    ).toBe(true);
    expect((await store.listTargets(policy.id))[0].nextRunAt).toBe('2026-12-06T12:30:00.000Z');
    // ... and a stale compare-and-set is refused.
    expect(
      await store.recordDispatch({ policyId: policy.id, ...PVC, expectedLastSlot: null, lastSlot: null, nextRunAt: null, missed: 0 }),
    ).toBe(false);

    await expect(store.recordDispatch({ ...record, missed: -1 })).rejects.toThrow(/missed/);
    await expect(store.recordDispatch({ ...record, claimedBy: null })).rejects.toThrow(/holder/);
    await expect(store.recordDispatch({ ...record, lastSlot: null })).rejects.toThrow(/slot/);
    await expect(store.recordDispatches([record, record])).rejects.toThrow(/Two decisions/);
    // A decision for a target that no longer exists is not stored.
    expect(await store.recordDispatch({ ...record, pvc: 'gone', runId: null, missed: 0, claimedBy: null })).toBe(false);
  });

  it('records outcomes: the newest success clears an older error, an older event never overwrites a newer one', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    await store.recordOutcome(policy.id, { status: 'failed', error: 'sink unreachable', at: at('2026-12-06T11:00:00Z') });
    expect((await store.getPolicy(policy.id))?.status).toMatchObject({
      lastError: 'sink unreachable',
      lastErrorAt: '2026-12-06T11:00:00.000Z',
      lastSuccessAt: null,
    });
    await store.recordOutcome(policy.id, { status: 'succeeded', at: at('2026-12-06T12:00:00Z') });
    expect((await store.getPolicy(policy.id))?.status).toMatchObject({ lastError: null, lastSuccessAt: '2026-12-06T12:00:00.000Z' });
    await store.recordOutcome(policy.id, { status: 'succeeded', at: at('2026-12-06T10:00:00Z') });
    await store.recordOutcome(policy.id, { status: 'failed', error: 'late', at: at('2026-12-06T13:00:00Z') });
    await store.recordOutcome(policy.id, { status: 'failed', error: 'older', at: at('2026-12-06T12:30:00Z') });
    expect((await store.getPolicy(policy.id))?.status).toMatchObject({
      lastError: 'late',
      lastSuccessAt: '2026-12-06T12:00:00.000Z',
    });
  });

  it('pins and unpins backup items', async () => {
    const run = await queuedRun(knex);
    const itemId = run.items[0].id;
    expect(await store.setPinned(itemId, true)).toBe(true);
    expect(Boolean((await knex('backup_item').where({ id: itemId }).first()).pinned)).toBe(true);
    expect(await store.setPinned(itemId, false)).toBe(true);
    expect(Boolean((await knex('backup_item').where({ id: itemId }).first()).pinned)).toBe(false);
    expect(await store.setPinned('no-such-item', true)).toBe(false);
    await expect(store.setPinned(itemId, 'yes' as unknown as boolean)).rejects.toThrow(/pinned/);
  });

  it('prunes old ledger rows only', async () => {
    const policy = await store.createPolicy(pvcPolicy());
    const claims = ['10:00', '11:00', '12:00'].map(t => ({ policyId: policy.id, ...PVC, slot: at(`2026-12-06T${t}:00Z`) }));
    await store.claimSlots(claims, 'replica-a');
    expect(await store.pruneSlots(at('2026-12-06T11:00:00Z'))).toBe(1);
    expect((await knex('policy_slots')).length).toBe(2);
  });

  it("reads the database's clock", async () => {
    const before = Date.now();
    const now = await store.databaseTime();
    expect(now.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(now.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
  });
});
