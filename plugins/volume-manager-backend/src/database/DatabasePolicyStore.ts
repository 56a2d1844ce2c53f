/*
 * The knex implementation of PolicyStore, for SQLite and PostgreSQL. It keeps the portability
 * rules of DatabaseBackupStore (see its file comment and sqlValues.ts): recorded timestamps are
 * bound as JS Dates (timestamptz on PostgreSQL, epoch milliseconds on SQLite), read back with
 * `toDate`; bigints and booleans are normalized on read.
 *
 * Exactly once: a slot's run is started only by the dispatcher whose insert into `policy_slots`
 * created the row (unique key), and a tick's decision is stored with a compare-and-set on the
 * target's `last_slot`. Both hold across replicas sharing PostgreSQL, whatever their clocks.
 *
 * The batched statements (claims, dispatch records) use a `WITH v(...) AS (VALUES ...)` list,
 * which both engines accept, with `UPDATE … FROM v` (SQLite 3.33+) so a tick of 500 due targets
 * is a handful of statements, not thousands.
 */
import { randomUUID } from 'node:crypto';
import type { DatabaseService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type { Knex } from 'knex';
import { pvcKey, type PvcKey } from './BackupStore';
import { migrateBackupStore } from './migrateBackupStore';
import type {
  ClaimResult,
  DispatchRecord,
  DueTarget,
  NewPolicy,
  PolicyFilter,
  PolicyOutcome,
  PolicyPage,
  PolicyPatch,
  PolicyScope,
  PolicyStore,
  PolicyTarget,
  SlotClaim,
  StoredPolicy,
} from './PolicyStore';
import {
  checkWorkerId,
  chunks,
  databaseTime as dbClock,
  keysetPage,
  pageSize,
  toBoolean,
  toDate,
  toIso,
  toNumber,
  whereOneOf,
  type Timestamp,
} from './sqlValues';
import { nextSlotAfter, resolveCron, type CatchUp, type RetentionSettings } from '../services/Policies';

/** Largest page `listPolicies` returns. @internal */
export const MAX_POLICY_PAGE = 500;
/** Rows per batched statement: at most 10 bound values each, far below either engine's limit. */
const BATCH = 500;
/** Retries of a batch that PostgreSQL aborted as a deadlock or serialization failure. */
const DEADLOCK_RETRIES = 3;

interface PolicyRow {
  id: string;
  scope: string;
  cluster: string | null;
  namespace: string | null;
  pvc: string | null;
  entity_ref: string | null;
  cron: string;
  timezone: string;
  destination: string;
  retention: string;
  catch_up: string;
  max_duration: string | null;
  max_duration_ms: string | number | null;
  include_manual: boolean | number;
  enabled: boolean | number;
  created_by: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  updated_by: string | null;
  last_run_at: Timestamp;
  last_run_id: string | null;
  last_success_at: Timestamp;
  last_error: string | null;
  last_error_at: Timestamp;
  missed_runs: string | number;
  /** Aggregates over the targets. */
  next_run_at?: Timestamp;
  target_count?: string | number | null;
}

interface TargetRow {
  policy_id: string;
  cluster: string;
  namespace: string;
  pvc: string;
  effective_cron: string;
  since: Timestamp;
  last_slot: Timestamp;
  next_run_at: Timestamp;
  missed_runs: string | number;
  last_run_id: string | null;
}

type DueRow = TargetRow & {
  timezone: string;
  catch_up: string;
  destination: string;
  max_duration_ms: string | number | null;
  entity_ref: string | null;
  run_active: boolean | number;
};

type SqlType = 'text' | 'timestamptz' | 'bigint';

/** @internal */
export interface DatabasePolicyStoreOptions {
  /** The replica's clock, for recorded timestamps; tests pass a fake one. */
  now?: () => Date;
  /**
   * How long a slot claim may stay unrecorded before another dispatcher may take it over (its
   * holder is taken to have stopped). Default 10 minutes, by the database's clock.
   */
  claimLeaseMs?: number;
}

/** Default of `claimLeaseMs`. @internal */
export const DEFAULT_CLAIM_LEASE_MS = 10 * 60_000;

const targetKey = (policyId: string, k: PvcKey) => JSON.stringify([policyId, k.cluster, k.namespace, k.pvc]);

function checkPvcKey(k: PvcKey): PvcKey {
  for (const field of ['cluster', 'namespace', 'pvc'] as const) {
    if (typeof k[field] !== 'string' || k[field].length === 0) {
      throw new InputError(`A PVC needs a non-empty ${field}`);
    }
  }
  return { cluster: k.cluster, namespace: k.namespace, pvc: k.pvc };
}

function validDate(date: Date | null | undefined, field: string): void {
  if (date !== null && date !== undefined && !(date instanceof Date && Number.isFinite(date.getTime()))) {
    throw new InputError(`${field} must be a valid date`);
  }
}

/** @internal */
export class DatabasePolicyStore implements PolicyStore {
  static async create(options: { database: DatabaseService }): Promise<DatabasePolicyStore> {
    const client = await migrateBackupStore(options.database);
    return new DatabasePolicyStore(client, {});
  }

  /** For tests and benchmarks: a store over a knex whose schema is already migrated. */
  static fromKnex(knex: Knex, options: DatabasePolicyStoreOptions = {}): DatabasePolicyStore {
    return new DatabasePolicyStore(knex, options);
  }

  private readonly isPostgres: boolean;
  private readonly now: () => Date;
  private readonly claimLeaseMs: number;

  private constructor(
    private readonly db: Knex,
    options: DatabasePolicyStoreOptions,
  ) {
    this.isPostgres = db.client.dialect === 'postgresql';
    this.now = options.now ?? (() => new Date());
    this.claimLeaseMs = options.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  }

  async databaseTime(): Promise<Date> {
    const result = await this.db.raw('select ? as now', [dbClock(this.db)]);
    const row = this.isPostgres ? result.rows[0] : result[0];
    return toDate(row.now)!;
  }

  // ---------------------------------------------------------------- policies

  async createPolicy(policy: NewPolicy): Promise<StoredPolicy> {
    const id = randomUUID();
    const now = this.now();
    const scope = policy.scope;
    const pvc = scope.kind === 'pvc' ? checkPvcKey(scope) : undefined;
    if (scope.kind === 'entity' && !scope.entityRef) {
      throw new InputError('An entity policy needs an entityRef');
    }
    await this.db.transaction(async trx => {
      await trx('policies').insert({
        id,
        scope: scope.kind,
        cluster: pvc?.cluster ?? null,
        namespace: pvc?.namespace ?? null,
        pvc: pvc?.pvc ?? null,
        entity_ref: scope.kind === 'entity' ? scope.entityRef : (policy.ownerEntityRef ?? null),
        cron: policy.cron,
        timezone: policy.timezone,
        destination: policy.destination,
        retention: JSON.stringify(policy.retention ?? {}),
        catch_up: policy.catchUp,
        max_duration: policy.maxDuration?.text ?? null,
        max_duration_ms: policy.maxDuration?.ms ?? null,
        include_manual: policy.includeManual,
        enabled: policy.enabled,
        created_by: policy.createdBy,
        created_at: now,
        updated_at: now,
        missed_runs: 0,
      });
      if (pvc) {
        await trx('policy_targets').insert(
          this.newTargetRow(id, policy.cron, policy.timezone, policy.enabled, pvc, now),
        );
      }
    });
    return (await this.getPolicy(id))!;
  }

  async updatePolicy(id: string, patch: PolicyPatch): Promise<StoredPolicy | undefined> {
    const now = this.now();
    const found = await this.db.transaction(async trx => {
      const row = await this.lockPolicy(trx, id);
      if (!row) return false;
      const cron = patch.cron ?? row.cron;
      const timezone = patch.timezone ?? row.timezone;
      const wasEnabled = toBoolean(row.enabled);
      const enabled = patch.enabled ?? wasEnabled;
      const update: Record<string, unknown> = { updated_at: now, updated_by: patch.updatedBy };
      if (patch.cron !== undefined) update.cron = patch.cron;
      if (patch.timezone !== undefined) update.timezone = patch.timezone;
      if (patch.destination !== undefined) update.destination = patch.destination;
      if (patch.retention !== undefined) update.retention = JSON.stringify(patch.retention);
      if (patch.catchUp !== undefined) update.catch_up = patch.catchUp;
      if (patch.maxDuration !== undefined) {
        update.max_duration = patch.maxDuration?.text ?? null;
        update.max_duration_ms = patch.maxDuration?.ms ?? null;
      }
      if (patch.includeManual !== undefined) update.include_manual = patch.includeManual;
      if (patch.enabled !== undefined) update.enabled = patch.enabled;
      await trx('policies').where({ id }).update(update);

      const rescheduled = cron !== row.cron || timezone !== row.timezone;
      if (!enabled && wasEnabled) {
        await trx('policy_targets').where({ policy_id: id }).update({ next_run_at: null, updated_at: now });
      } else if (enabled && (rescheduled || !wasEnabled)) {
        // A new schedule, or a re-enabled one, starts from now: no catch-up of slots that fell
        // under the old schedule or while the policy was off.
        const targets: TargetRow[] = await trx('policy_targets').where({ policy_id: id });
        for (const target of targets) {
          const fresh = this.newTargetRow(id, cron, timezone, true, target, now);
          await trx('policy_targets')
            .where({ policy_id: id, cluster: target.cluster, namespace: target.namespace, pvc: target.pvc })
            .update({
              effective_cron: fresh.effective_cron,
              since: now,
              next_run_at: fresh.next_run_at,
              updated_at: now,
            });
        }
      }
      return true;
    });
    return found ? this.getPolicy(id) : undefined;
  }

  async deletePolicy(id: string): Promise<boolean> {
    return this.db.transaction(async trx => {
      // Children first: SQLite connections may run without foreign-key enforcement.
      await trx('policy_slots').where({ policy_id: id }).delete();
      await trx('policy_targets').where({ policy_id: id }).delete();
      const deleted = await trx('policies').where({ id }).delete();
      return deleted > 0;
    });
  }

  async getPolicy(id: string): Promise<StoredPolicy | undefined> {
    const row = await this.policiesQuery().where('p.id', id).first();
    return row ? this.toPolicy(row) : undefined;
  }

  async listPolicies(filter: PolicyFilter = {}): Promise<PolicyPage> {
    const limit = pageSize(filter.limit, MAX_POLICY_PAGE);
    if (filter.entityRefs && filter.entityRefs.length === 0) {
      return { items: [], nextCursor: null };
    }
    const query = this.policiesQuery();
    if (filter.entityRefs) whereOneOf(query, 'p.entity_ref', filter.entityRefs);
    if (filter.pvc) {
      const k = checkPvcKey(filter.pvc);
      query.whereExists(
        this.db('policy_targets as ft')
          .whereRaw('?? = ??', ['ft.policy_id', 'p.id'])
          .where({ 'ft.cluster': k.cluster, 'ft.namespace': k.namespace, 'ft.pvc': k.pvc })
          .select(this.db.raw('1')),
      );
    }
    const { rows, nextCursor } = await keysetPage<PolicyRow>(
      query,
      { at: 'p.created_at', id: 'p.id', order: 'asc' },
      limit,
      filter.cursor,
    );
    return { items: rows.map(row => this.toPolicy(row)), nextCursor };
  }

  async listTargets(policyId: string): Promise<PolicyTarget[]> {
    const rows: TargetRow[] = await this.db('policy_targets')
      .where({ policy_id: policyId })
      .orderBy(['cluster', 'namespace', 'pvc']);
    return rows.map(row => ({
      policyId: row.policy_id,
      cluster: row.cluster,
      namespace: row.namespace,
      pvc: row.pvc,
      effectiveCron: row.effective_cron,
      since: toIso(row.since)!,
      lastSlot: toIso(row.last_slot),
      nextRunAt: toIso(row.next_run_at),
      missedRuns: toNumber(row.missed_runs) ?? 0,
      lastRunId: row.last_run_id,
    }));
  }

  async upsertTargets(policyId: string, pvcs: PvcKey[]): Promise<{ added: number; removed: number }> {
    const wanted = new Map<string, PvcKey>();
    for (const pvc of pvcs) {
      const k = checkPvcKey(pvc);
      wanted.set(targetKey(policyId, k), k);
    }
    const now = this.now();
    return this.db.transaction(async trx => {
      const policy = await this.lockPolicy(trx, policyId);
      if (!policy) throw new InputError(`No policy ${policyId}`);
      if (policy.scope !== 'entity') {
        throw new InputError('Only an entity policy covers a changing set of PVCs');
      }
      const existing: TargetRow[] = await trx('policy_targets')
        .where({ policy_id: policyId })
        .select('cluster', 'namespace', 'pvc');
      const have = new Set(existing.map(t => targetKey(policyId, t)));
      const gone = existing.filter(t => !wanted.has(targetKey(policyId, t)));
      const added = [...wanted].filter(([key]) => !have.has(key)).map(([, k]) => k);
      for (const t of gone) {
        await trx('policy_targets')
          .where({ policy_id: policyId, cluster: t.cluster, namespace: t.namespace, pvc: t.pvc })
          .delete();
      }
      const enabled = toBoolean(policy.enabled);
      const rows = added.map(k => this.newTargetRow(policyId, policy.cron, policy.timezone, enabled, k, now));
      for (const chunk of chunks(rows, 100)) {
        await trx('policy_targets').insert(chunk);
      }
      if (rows.length > 0 || gone.length > 0) {
        await trx('policies').where({ id: policyId }).update({ updated_at: now });
      }
      return { added: rows.length, removed: gone.length };
    });
  }

  // ---------------------------------------------------------------- dispatch

  async dueTargets(now: Date, limit: number): Promise<DueTarget[]> {
    validDate(now, 'now');
    const max = Math.max(1, Math.floor(limit) || 1);
    const rows: DueRow[] = await this.dueQuery(now, max);
    return rows.map(row => ({
      policyId: row.policy_id,
      cluster: row.cluster,
      namespace: row.namespace,
      pvc: row.pvc,
      cron: row.effective_cron,
      timezone: row.timezone,
      catchUp: row.catch_up as CatchUp,
      since: toDate(row.since)!,
      lastSlot: toDate(row.last_slot),
      nextRunAt: toDate(row.next_run_at)!,
      destination: row.destination,
      maxDurationMs: toNumber(row.max_duration_ms),
      entityRef: row.entity_ref,
      runActive: toBoolean(row.run_active),
    }));
  }

  /**
   * The due query itself (exposed for EXPLAIN in the benchmark): targets with `next_run_at <= now`
   * on the `policy_targets_next_run_idx` index, earliest first, joined to their enabled policy,
   * with "a backup of this PVC is queued or running" from backup_item's PVC index.
   * @internal
   */
  dueQuery(now: Date, limit: number): Knex.QueryBuilder {
    return this.db('policy_targets as t')
      .join('policies as p', 'p.id', 't.policy_id')
      .where('t.next_run_at', '<=', now)
      .where('p.enabled', true)
      .orderBy([
        { column: 't.next_run_at', order: 'asc' },
        { column: 't.policy_id', order: 'asc' },
      ])
      .limit(limit)
      .select(
        't.policy_id',
        't.cluster',
        't.namespace',
        't.pvc',
        't.effective_cron',
        't.since',
        't.last_slot',
        't.next_run_at',
        't.missed_runs',
        't.last_run_id',
        'p.timezone',
        'p.catch_up',
        'p.destination',
        'p.max_duration_ms',
        'p.entity_ref',
        this.db.raw(
          `exists (select 1 from backup_item i where i.cluster = t.cluster and i.namespace = t.namespace ` +
            `and i.pvc = t.pvc and i.status in ('queued', 'running')) as run_active`,
        ),
      );
  }

  async claimSlot(claim: SlotClaim, claimedBy: string): Promise<boolean> {
    const [result] = await this.claimSlots([claim], claimedBy);
    return result.held;
  }

  async claimSlots(claims: SlotClaim[], claimedBy: string): Promise<ClaimResult[]> {
    checkWorkerId(claimedBy);
    for (const c of claims) {
      checkPvcKey(c);
      if (!c.slot) throw new InputError('slot must be a valid date');
      validDate(c.slot, 'slot');
    }
    const key = (policyId: string, k: PvcKey, slot: unknown) =>
      JSON.stringify([policyId, k.cluster, k.namespace, k.pvc, toDate(slot)!.getTime()]);
    const seen = new Set<string>();
    const unique = claims.filter(c => {
      const k = key(c.policyId, c, c.slot);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const held = new Map<string, ClaimResult>();
    for (const chunk of chunks(unique, BATCH)) {
      // Insert, or take over a claim whose holder never recorded it within the lease; any other
      // existing claim is left alone (and not returned).
      const rows = this.rowsOf<{ policy_id: string; cluster: string; namespace: string; pvc: string; slot: Timestamp; attempts: number | string }>(
        await this.db.raw(
          `insert into policy_slots (policy_id, cluster, namespace, pvc, slot, claimed_by, claimed_at, attempts) values ` +
            `${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, 1)').join(', ')} ` +
            `on conflict (policy_id, cluster, namespace, pvc, slot) do update set ` +
            `claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at, attempts = policy_slots.attempts + 1 ` +
            `where policy_slots.recorded_at is null and policy_slots.claimed_at < ? ` +
            `returning policy_id, cluster, namespace, pvc, slot, attempts`,
          [
            ...chunk.flatMap(c => [
              c.policyId,
              c.cluster,
              c.namespace,
              c.pvc,
              this.isPostgres ? c.slot : c.slot.getTime(),
              claimedBy,
              dbClock(this.db),
            ]),
            dbClock(this.db, -this.claimLeaseMs),
          ],
        ),
      );
      for (const row of rows) {
        held.set(key(row.policy_id, row, row.slot), { held: true, recovered: Number(row.attempts) > 1 });
      }
    }
    const answered = new Set<string>();
    return claims.map(c => {
      const k = key(c.policyId, c, c.slot);
      const result = (!answered.has(k) && held.get(k)) || { held: false, recovered: false };
      answered.add(k);
      return result;
    });
  }

  async recordDispatch(record: DispatchRecord): Promise<boolean> {
    const [applied] = await this.recordDispatches([record]);
    return applied;
  }

  async recordDispatches(records: DispatchRecord[]): Promise<boolean[]> {
    const seen = new Set<string>();
    for (const r of records) {
      checkPvcKey(r);
      validDate(r.expectedLastSlot, 'expectedLastSlot');
      validDate(r.lastSlot, 'lastSlot');
      validDate(r.nextRunAt, 'nextRunAt');
      if (!Number.isInteger(r.missed) || r.missed < 0) throw new InputError('missed must be a non-negative integer');
      if (r.claimedBy) {
        checkWorkerId(r.claimedBy);
        if (!r.lastSlot) throw new InputError('A claimed decision needs its slot (lastSlot)');
      } else if (r.missed > 0 || r.runId) {
        throw new InputError('Missed slots and runs are recorded only by the holder of the slot (claimedBy)');
      }
      const k = targetKey(r.policyId, r);
      if (seen.has(k)) throw new InputError(`Two decisions for one target in one batch: ${k}`);
      seen.add(k);
    }
    const applied = new Set<string>();
    for (const chunk of chunks(records, BATCH)) {
      for (const k of await this.withDeadlockRetry(() => this.recordChunk(chunk))) applied.add(k);
    }
    return records.map(r => applied.has(targetKey(r.policyId, r)));
  }

  private async recordChunk(records: DispatchRecord[]): Promise<string[]> {
    const now = this.now();
    return this.db.transaction(async trx => {
      // 1. Claimed decisions count only from the dispatcher holding the claim, and only once.
      const claimed = records.filter(r => r.claimedBy);
      const owned = new Set<string>();
      if (claimed.length > 0) {
        const v = this.valuesCte(
          ['policy_id', 'cluster', 'namespace', 'pvc', 'slot', 'claimed_by', 'run_id'],
          ['text', 'text', 'text', 'text', 'timestamptz', 'text', 'text'],
          claimed.map(r => [r.policyId, r.cluster, r.namespace, r.pvc, r.lastSlot!, r.claimedBy!, r.runId ?? null]),
        );
        const rows = this.rowsOf<{ policy_id: string; cluster: string; namespace: string; pvc: string }>(
          await trx.raw(
            `${v.sql} update policy_slots set recorded_at = ?, run_id = v.run_id from v ` +
              `where policy_slots.policy_id = v.policy_id and policy_slots.cluster = v.cluster ` +
              `and policy_slots.namespace = v.namespace and policy_slots.pvc = v.pvc ` +
              `and policy_slots.slot = v.slot and policy_slots.claimed_by = v.claimed_by ` +
              `and policy_slots.recorded_at is null ` +
              `returning policy_slots.policy_id, policy_slots.cluster, policy_slots.namespace, policy_slots.pvc`,
            [...v.bindings, dbClock(trx)],
          ),
        );
        for (const row of rows) owned.add(targetKey(row.policy_id, row));
      }
      const accepted = records.filter(r => !r.claimedBy || owned.has(targetKey(r.policyId, r)));
      if (accepted.length === 0) return [];

      // 2. Compare-and-set of each target's decision.
      const cas = this.valuesCte(
        ['policy_id', 'cluster', 'namespace', 'pvc', 'expected', 'last_slot', 'next_run_at', 'missed', 'run_id'],
        ['text', 'text', 'text', 'text', 'timestamptz', 'timestamptz', 'timestamptz', 'bigint', 'text'],
        accepted.map(r => [
          r.policyId,
          r.cluster,
          r.namespace,
          r.pvc,
          r.expectedLastSlot ?? null,
          r.lastSlot ?? null,
          r.nextRunAt ?? null,
          r.missed,
          r.runId ?? null,
        ]),
      );
      const changed = this.rowsOf<{ policy_id: string; cluster: string; namespace: string; pvc: string }>(
        await trx.raw(
          `${cas.sql} update policy_targets set last_slot = v.last_slot, next_run_at = v.next_run_at, ` +
            `missed_runs = policy_targets.missed_runs + v.missed, ` +
            `last_run_id = coalesce(v.run_id, policy_targets.last_run_id), updated_at = ? from v ` +
            `where policy_targets.policy_id = v.policy_id and policy_targets.cluster = v.cluster ` +
            `and policy_targets.namespace = v.namespace and policy_targets.pvc = v.pvc ` +
            `and policy_targets.last_slot is not distinct from v.expected ` +
            `returning policy_targets.policy_id, policy_targets.cluster, policy_targets.namespace, policy_targets.pvc`,
          [...cas.bindings, now],
        ),
      );
      const appliedKeys = changed.map(row => targetKey(row.policy_id, row));
      const appliedSet = new Set(appliedKeys);
      const stored = accepted.filter(r => appliedSet.has(targetKey(r.policyId, r)));

      // 3. The policy's status: missed slots add up over its PVCs; its newest run is its last.
      const byPolicy = new Map<string, { missed: number; run: DispatchRecord | null }>();
      for (const r of stored) {
        const entry = byPolicy.get(r.policyId) ?? { missed: 0, run: null };
        entry.missed += r.missed;
        if (r.runId && (!entry.run || entry.run.lastSlot!.getTime() < r.lastSlot!.getTime())) entry.run = r;
        byPolicy.set(r.policyId, entry);
      }
      const changedPolicies = [...byPolicy].filter(([, e]) => e.missed > 0 || e.run);
      if (changedPolicies.length > 0) {
        const p = this.valuesCte(
          ['id', 'missed', 'run_id', 'run_at'],
          ['text', 'bigint', 'text', 'timestamptz'],
          changedPolicies.map(([policyId, e]) => [policyId, e.missed, e.run?.runId ?? null, e.run ? now : null]),
        );
        await trx.raw(
          `${p.sql} update policies set missed_runs = policies.missed_runs + v.missed, ` +
            `last_run_id = coalesce(v.run_id, policies.last_run_id), ` +
            `last_run_at = coalesce(v.run_at, policies.last_run_at) from v where policies.id = v.id`,
          p.bindings,
        );
      }

      // 4. The runs' items were started by a schedule: retention counts them for their policy.
      const runs = stored.filter(r => r.runId);
      if (runs.length > 0) {
        const items = this.valuesCte(['run_id', 'policy_id'], ['text', 'text'], runs.map(r => [r.runId!, r.policyId]));
        await trx.raw(
          `${items.sql} update backup_item set "trigger" = 'schedule', policy_id = v.policy_id ` +
            `from v where backup_item.run_id = v.run_id`,
          items.bindings,
        );
      }
      return appliedKeys;
    });
  }

  async recordOutcome(policyId: string, outcome: PolicyOutcome): Promise<void> {
    const at = outcome.at ?? this.now();
    validDate(at, 'at');
    if (outcome.status === 'succeeded') {
      await this.db('policies')
        .where({ id: policyId })
        .where(q => q.whereNull('last_success_at').orWhere('last_success_at', '<', at))
        .update({ last_success_at: at });
      // A success newer than the last error clears it.
      await this.db('policies')
        .where({ id: policyId })
        .where('last_error_at', '<=', at)
        .update({ last_error: null, last_error_at: null });
    } else {
      const error = (outcome.error ?? 'The scheduled backup failed').slice(0, 4000);
      await this.db('policies')
        .where({ id: policyId })
        .where(q => q.whereNull('last_error_at').orWhere('last_error_at', '<=', at))
        .update({ last_error: error, last_error_at: at });
    }
  }

  async setPinned(itemId: string, pinned: boolean): Promise<boolean> {
    if (typeof pinned !== 'boolean') throw new InputError('pinned must be true or false');
    const changed = await this.db('backup_item').where({ id: itemId }).update({ pinned });
    return changed > 0;
  }

  async pruneSlots(before: Date): Promise<number> {
    validDate(before, 'before');
    return this.db('policy_slots').where('slot', '<', before).delete();
  }

  // ---------------------------------------------------------------- helpers

  private newTargetRow(policyId: string, cron: string, timezone: string, enabled: boolean, k: PvcKey, now: Date) {
    const effective = resolveCron(cron, { policyId, pvcKey: pvcKey(k) });
    return {
      policy_id: policyId,
      cluster: k.cluster,
      namespace: k.namespace,
      pvc: k.pvc,
      effective_cron: effective,
      since: now,
      last_slot: null,
      next_run_at: enabled ? nextSlotAfter(effective, timezone, now) : null,
      missed_runs: 0,
      last_run_id: null,
      created_at: now,
      updated_at: now,
    };
  }

  /** Reads a policy and, on PostgreSQL, locks its row for the transaction. */
  private async lockPolicy(trx: Knex.Transaction, id: string): Promise<PolicyRow | undefined> {
    const query = trx<PolicyRow>('policies').where({ id }).first();
    if (this.isPostgres) query.forUpdate();
    return query;
  }

  private policiesQuery(): Knex.QueryBuilder {
    return this.db('policies as p').select(
      'p.*',
      this.db.raw('(select min(t.next_run_at) from policy_targets t where t.policy_id = p.id) as next_run_at'),
      this.db.raw('(select count(*) from policy_targets t where t.policy_id = p.id) as target_count'),
    );
  }

  private toPolicy(row: PolicyRow): StoredPolicy {
    const scope: PolicyScope =
      row.scope === 'entity'
        ? { kind: 'entity', entityRef: row.entity_ref ?? '' }
        : { kind: 'pvc', cluster: row.cluster ?? '', namespace: row.namespace ?? '', pvc: row.pvc ?? '' };
    return {
      id: row.id,
      scope,
      entityRef: row.entity_ref,
      cron: row.cron,
      timezone: row.timezone,
      destination: row.destination,
      retention: JSON.parse(row.retention) as RetentionSettings,
      catchUp: row.catch_up as CatchUp,
      maxDuration: row.max_duration,
      maxDurationMs: toNumber(row.max_duration_ms),
      includeManual: toBoolean(row.include_manual),
      enabled: toBoolean(row.enabled),
      createdBy: row.created_by,
      createdAt: toIso(row.created_at)!,
      updatedAt: toIso(row.updated_at)!,
      updatedBy: row.updated_by,
      status: {
        nextRunAt: toIso(row.next_run_at),
        lastRunAt: toIso(row.last_run_at),
        lastRunId: row.last_run_id,
        lastSuccessAt: toIso(row.last_success_at),
        lastError: row.last_error,
        lastErrorAt: toIso(row.last_error_at),
        missedRuns: toNumber(row.missed_runs) ?? 0,
        targets: toNumber(row.target_count) ?? 0,
      },
    };
  }

  /**
   * `WITH v(columns) AS (VALUES (...), ...)` for a batched statement. On PostgreSQL every value
   * is cast (a VALUES list has no column types to infer from); SQLite takes them as bound.
   */
  private valuesCte(columns: string[], types: SqlType[], rows: Knex.Value[][]): { sql: string; bindings: Knex.Value[] } {
    const cell = (type: SqlType) => (this.isPostgres ? `?::${type}` : '?');
    const tuple = `(${types.map(cell).join(', ')})`;
    return {
      sql: `with v(${columns.join(', ')}) as (values ${rows.map(() => tuple).join(', ')})`,
      bindings: rows.flat().map(value => (value instanceof Date && !this.isPostgres ? value.getTime() : value)),
    };
  }

  private rowsOf<T>(result: unknown): T[] {
    return (this.isPostgres ? (result as { rows: T[] }).rows : (result as T[])) ?? [];
  }

  private async withDeadlockRetry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt < DEADLOCK_RETRIES && (code === '40P01' || code === '40001')) continue;
        throw error;
      }
    }
  }
}
