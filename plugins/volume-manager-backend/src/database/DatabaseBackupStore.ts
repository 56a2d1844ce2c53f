/*
 * The knex implementation of BackupStore, for SQLite (development) and PostgreSQL (production,
 * possibly shared by several backend replicas).
 *
 * Portability rules this file keeps:
 * - Recorded timestamps (queued, started, finished) are bound as JS `Date`s, never
 *   `knex.fn.now()`. On PostgreSQL they are `timestamptz`; on SQLite knex stores a `Date` as epoch
 *   milliseconds, so comparisons and ordering work on both as long as no other representation
 *   is mixed in. Reading accepts `Date`, epoch numbers and strings (see `toDate`).
 * - Leases are the exception: they are set and compared against the database's clock
 *   (`now()` on PostgreSQL, epoch milliseconds from `julianday('now')` on SQLite, the same
 *   representation as a bound `Date`), never a replica's `Date.now()`. Replicas whose clocks
 *   disagree therefore agree on whose lease has run out (`dbTime`).
 * - bigint columns come back as strings on PostgreSQL: `toNumber`.
 * - booleans come back as 0/1 on SQLite: `toBoolean`.
 * - No `SKIP LOCKED`: claiming is a select of candidates followed by a conditional
 *   `UPDATE … WHERE id = ? AND status = 'queued'`; whoever changes the row owns the item.
 *
 * Run status is derived from the run's items (`deriveRunStatus`) and recomputed, inside a
 * transaction that first locks the run row, after every item change. On PostgreSQL (READ
 * COMMITTED) the lock is what makes the last recomputation see every committed item change, so a
 * run cannot be left at `running` when two workers finish its last two items at the same time.
 * Lock order is always "at most one item, then its run" or "run, then its queued items", which
 * cannot deadlock with each other.
 */
import { randomUUID } from 'node:crypto';
import type { DatabaseService } from '@backstage/backend-plugin-api';
import { ConflictError, InputError } from '@backstage/errors';
import type {
  BackupItem,
  BackupRun,
  BackupStatus,
  LastBackup,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import {
  pvcKey,
  type BackupStore,
  type ClaimOptions,
  type QueueLimits,
  type ItemFilter,
  type ItemPage,
  type ItemResult,
  type NewRun,
  type PvcKey,
  type StoredItem,
} from './BackupStore';
import { RUNNING_RESTORE_PHASES } from './RestoreStore';
import { storedInstallationId } from './installationId';
import { migrateBackupStore } from './migrateBackupStore';
import {
  checkWorkerId,
  chunks,
  databaseTime,
  keysetPage,
  lockPvc,
  pageSize,
  toBoolean,
  toDate,
  toIso,
  toNumber,
  whereOneOf,
  type BigIntValue,
  type Timestamp,
} from './sqlValues';

/** Largest page `listItems` returns. @internal */
export const MAX_PAGE_SIZE = 500;
/**
 * Keys per query in `lastSuccessfulBackups`/`lastStatuses`. Each key binds 3 values, so a chunk
 * binds 1,500: far below SQLite's 32,766 (since 3.32) and PostgreSQL's 65,535.
 * @internal
 */
export const KEYS_PER_QUERY = 500;
/** Candidates read per claim attempt, and attempts, before `claimNextItem` gives up for now. */
const CLAIM_CANDIDATES = 10;
/** Requesters, in turn order, whose candidates one claim attempt tries. */
const CLAIM_REQUESTERS = 3;
const CLAIM_ATTEMPTS = 5;
/** Items inserted per statement in `createRun` (about 14 bound values each). */
const INSERT_CHUNK = 100;

const ACTIVE: ReadonlySet<BackupStatus> = new Set(['queued', 'running']);

interface RunRow {
  id: string;
  cluster: string;
  destination: string;
  requested_by: string;
  created_at: Timestamp;
  status: string;
  finished_at: Timestamp;
  cancel_requested: boolean | number | string;
}

interface ItemRow {
  id: string;
  run_id: string;
  cluster: string;
  namespace: string;
  pvc: string;
  entity_ref: string | null;
  position: number;
  status: string;
  bytes: BigIntValue;
  sha256: string | null;
  archive_uri: string | null;
  helper_pod: string | null;
  node: string | null;
  error: string | null;
  requested_by: string;
  queued_at: Timestamp;
  started_at: Timestamp;
  finished_at: Timestamp;
  progress_bytes: BigIntValue;
  progress_updated_at: Timestamp;
  claimed_by: string | null;
  lease_expires_at: Timestamp;
  /** From the run. */
  destination: string;
}

/**
 * The status of a run, from the statuses of its items:
 * 1. While any item is queued or running, the run is `queued` if every item is still queued,
 *    otherwise `running`.
 * 2. Once every item has finished, the first that applies: any `failed` -> `failed`; any
 *    `interrupted` -> `interrupted`; any `cancelled` -> `cancelled`; otherwise `succeeded`.
 * A run is finished (has `finished_at`) exactly when rule 2 applies.
 * @internal
 */
export function deriveRunStatus(counts: Partial<Record<BackupStatus, number>>): BackupStatus {
  const n = (s: BackupStatus) => counts[s] ?? 0;
  const total = Object.values(counts).reduce((a, b) => a + (b ?? 0), 0);
  if (n('queued') + n('running') > 0) {
    return n('queued') === total ? 'queued' : 'running';
  }
  if (n('failed') > 0) return 'failed';
  if (n('interrupted') > 0) return 'interrupted';
  if (n('cancelled') > 0) return 'cancelled';
  return 'succeeded';
}

function uniqueKeys(keys: PvcKey[]): PvcKey[] {
  const seen = new Map<string, PvcKey>();
  for (const k of keys) {
    seen.set(pvcKey(k), { cluster: k.cluster, namespace: k.namespace, pvc: k.pvc });
  }
  return [...seen.values()];
}

/** @internal */
export interface DatabaseBackupStoreOptions {
  /** The replica's clock, for recorded timestamps; tests pass a fake one. */
  now?: () => Date;
  /**
   * For tests only: stands in for the database's clock in lease arithmetic, so lease values
   * are predictable. Unset (production), leases use the database's own clock in SQL.
   */
  databaseNow?: () => Date;
}

/** @internal */
export class DatabaseBackupStore implements BackupStore {
  static async create(options: { database: DatabaseService }): Promise<DatabaseBackupStore> {
    const client = await migrateBackupStore(options.database);
    return new DatabaseBackupStore(client, {});
  }

  /** This installation's generated id (see installationId.ts); created on first use. */
  installationId(): Promise<string> {
    return storedInstallationId(this.db);
  }

  /** A store over a knex whose schema is already migrated (openStores, tests). */
  static fromKnex(knex: Knex, options: DatabaseBackupStoreOptions = {}): DatabaseBackupStore {
    return new DatabaseBackupStore(knex, options);
  }

  private readonly isPostgres: boolean;
  private readonly now: () => Date;
  private readonly databaseNow?: () => Date;

  private constructor(
    private readonly db: Knex,
    options: DatabaseBackupStoreOptions,
  ) {
    this.isPostgres = db.client.dialect === 'postgresql';
    this.now = options.now ?? (() => new Date());
    this.databaseNow = options.databaseNow;
  }

  /**
   * The database's current time plus `offsetMs`, as a value to bind or compare against a lease
   * column. On SQLite, epoch milliseconds (how knex stores a bound `Date` there).
   */
  private dbTime(offsetMs = 0): Knex.Raw | Date {
    return databaseTime(this.db, offsetMs, this.databaseNow);
  }

  async createRun(run: NewRun, limits: QueueLimits = {}): Promise<BackupRun & { items: StoredItem[] }> {
    if (run.items.length === 0) {
      throw new InputError('A backup run needs at least one volume');
    }
    const runId = randomUUID();
    const now = this.now();
    await this.db.transaction(async trx => {
      await this.lockQueueOf(trx, run);
      // The run row goes in first: on SQLite that write takes the write lock before the limits
      // are counted (a failed check rolls it back).
      await trx('backup_run').insert({
        id: runId,
        cluster: run.cluster,
        destination: run.destination,
        requested_by: run.requestedBy,
        created_at: now,
        status: 'queued',
        finished_at: null,
        cancel_requested: false,
        for_restore_id: run.forRestoreId ?? null,
      });
      await this.checkQueueLimits(trx, run, limits);
      const rows = run.items.map((item, position) => ({
        id: randomUUID(),
        run_id: runId,
        cluster: run.cluster,
        namespace: item.namespace,
        pvc: item.pvc,
        entity_ref: item.entityRef ?? null,
        position,
        status: 'queued',
        requested_by: run.requestedBy,
        queued_at: now,
        ...(run.holder
          ? {
              claimed_by: run.holder.workerId,
              lease_expires_at: this.dbTime(run.holder.leaseMs),
            }
          : {}),
      }));
      for (const chunk of chunks(rows, INSERT_CHUNK)) {
        await trx('backup_item').insert(chunk);
      }
    });
    const created = await this.getRun(runId);
    if (!created) {
      throw new Error(`Backup run ${runId} vanished right after it was created`);
    }
    return created;
  }

  async getRun(runId: string): Promise<(BackupRun & { items: StoredItem[] }) | undefined> {
    const run = await this.db<RunRow>('backup_run').where({ id: runId }).first();
    if (!run) {
      return undefined;
    }
    const items = await this.itemsQuery()
      .where('i.run_id', runId)
      .orderBy([
        { column: 'i.position', order: 'asc' },
        { column: 'i.id', order: 'asc' },
      ]);
    return this.toRun(run, items.map(row => this.toItem(row)));
  }

  async getItem(itemId: string): Promise<StoredItem | undefined> {
    const row = await this.itemsQuery().where('i.id', itemId).first();
    return row ? this.toItem(row) : undefined;
  }

  async listItems(filter: ItemFilter): Promise<ItemPage> {
    const limit = pageSize(filter.limit, MAX_PAGE_SIZE);
    if (filter.entityRefs && filter.entityRefs.length === 0) {
      return { items: [], nextCursor: null };
    }
    const query = this.itemsQuery();
    if (filter.cluster !== undefined) query.where('i.cluster', filter.cluster);
    if (filter.namespace !== undefined) query.where('i.namespace', filter.namespace);
    if (filter.pvc !== undefined) query.where('i.pvc', filter.pvc);
    if (filter.status !== undefined) query.where('i.status', filter.status);
    if (filter.entityRefs) {
      whereOneOf(query, 'i.entity_ref', filter.entityRefs);
    }
    const { rows, nextCursor } = await keysetPage<ItemRow>(
      query,
      { at: 'i.queued_at', id: 'i.id', order: 'desc' },
      limit,
      filter.cursor,
    );
    return { items: rows.map(row => this.toItem(row)), nextCursor };
  }

  /**
   * Fair claiming: requesters take turns. The requester with the fewest running items goes
   * first, then the one whose last item started longest ago (never beats any time), then the
   * one whose oldest queued item is oldest; within a requester, its oldest item in request
   * order. So one user's 200-PVC run cannot starve another user's single backup.
   *
   * Still atomic across replicas: whatever the order, an item is only ever taken by the
   * conditional `UPDATE … WHERE id = ? AND status = 'queued'` that changes it.
   */
  async claimNextItem(
    workerId: string,
    leaseMs: number,
    options: ClaimOptions = {},
  ): Promise<StoredItem | undefined> {
    checkWorkerId(workerId);
    const adHocIds = options.adHocItemIds ?? [];
    const claimable = () =>
      this.db
        .queryBuilder()
        .from('backup_item as i')
        .join('backup_run as r', 'r.id', 'i.run_id')
        .where('i.status', 'queued')
        .where('r.cancel_requested', false)
        .where(q => {
          q.whereNot('r.destination', 'like', 'adhoc:%');
          if (adHocIds.length > 0) q.orWhereIn('i.id', adHocIds);
        })
        // A pre-filter (the claim checks again under the PVC's lock), so items waiting for a
        // restore do not take the candidate slots of claimable ones.
        .whereNotExists(q =>
          runningRestoresOf(q, this.db.ref('i.cluster'), this.db.ref('i.namespace'), this.db.ref('i.pvc'))
            .where(q2 => q2.whereNull('r.for_restore_id').orWhereRaw('?? <> ??', ['x.id', 'r.for_restore_id'])),
        );
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      const waiting = claimable()
        .groupBy('i.requested_by')
        .select('i.requested_by')
        .min({ oldest: 'i.queued_at' });
      const turns: { requested_by: string }[] = await this.db
        .from(waiting.as('q'))
        .select('q.requested_by', 'q.oldest')
        .select(
          this.db.raw(
            '(select count(*) from backup_item x where x.requested_by = q.requested_by and x.status = ?) as running',
            ['running'],
          ),
          this.db.raw(
            '(select max(x.started_at) from backup_item x where x.requested_by = q.requested_by) as last_started',
          ),
        )
        .orderByRaw('running asc, last_started asc nulls first, oldest asc, requested_by asc')
        .limit(CLAIM_REQUESTERS);
      if (turns.length === 0) {
        return undefined;
      }
      for (const turn of turns) {
        const candidates: { id: string; run_id: string; cluster: string; namespace: string; pvc: string }[] =
          await claimable()
          .where('i.requested_by', turn.requested_by)
          .orderBy([
            { column: 'i.queued_at', order: 'asc' },
            { column: 'i.position', order: 'asc' },
            { column: 'i.id', order: 'asc' },
          ])
          .limit(CLAIM_CANDIDATES)
          .select('i.id', 'i.run_id', 'i.cluster', 'i.namespace', 'i.pvc');
        for (const candidate of candidates) {
          const changed = await this.db.transaction(async (trx): Promise<number> => {
            await lockPvc(trx, candidate);
            const n = await trx('backup_item')
              .where({ id: candidate.id, status: 'queued' })
              .whereIn('run_id', trx('backup_run').select('id').where('cancel_requested', false))
              .whereNotExists(q =>
                runningRestoresOf(q, candidate.cluster, candidate.namespace, candidate.pvc).whereNotIn(
                  'x.id',
                  trx('backup_run')
                    .where('id', candidate.run_id)
                    .whereNotNull('for_restore_id')
                    .select('for_restore_id'),
                ),
              )
              .update({
                status: 'running',
                claimed_by: workerId,
                started_at: this.now(),
                lease_expires_at: this.dbTime(leaseMs),
                progress_bytes: null,
                progress_updated_at: null,
              });
            return Number(n);
          });
          if (changed === 1) {
            await this.recomputeRun(candidate.run_id);
            return this.getItem(candidate.id);
          }
          // Another worker took it, its run was cancelled, or a restore of its PVC started in
          // the meantime: next candidate.
        }
      }
    }
    // Heavy contention; the caller polls again later.
    return undefined;
  }

  async renewLease(itemId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const changed = await this.heldItem(itemId, workerId).update({
      lease_expires_at: this.dbTime(leaseMs),
    });
    return changed > 0;
  }

  async renewHeldQueuedItems(workerId: string, itemIds: string[], leaseMs: number): Promise<void> {
    checkWorkerId(workerId);
    for (const chunk of chunks(itemIds, INSERT_CHUNK)) {
      await this.db('backup_item')
        .whereIn('id', chunk)
        .where({ claimed_by: workerId, status: 'queued' })
        .update({ lease_expires_at: this.dbTime(leaseMs) });
    }
  }

  async heldItemIds(workerId: string, itemIds: string[]): Promise<string[]> {
    const held: string[] = [];
    for (const chunk of chunks(itemIds, INSERT_CHUNK)) {
      held.push(
        ...(await this.db('backup_item')
          .whereIn('id', chunk)
          .where('claimed_by', workerId)
          .whereIn('status', ['queued', 'running'])
          .pluck('id')),
      );
    }
    return held;
  }

  async updateRunningItem(
    itemId: string,
    workerId: string,
    fields: { helperPod?: string; node?: string | null; progressBytes?: number },
  ): Promise<void> {
    const patch: Record<string, unknown> = {};
    if (fields.helperPod !== undefined) patch.helper_pod = fields.helperPod;
    if (fields.node !== undefined) patch.node = fields.node;
    if (fields.progressBytes !== undefined) {
      patch.progress_bytes = fields.progressBytes;
      patch.progress_updated_at = this.now();
    }
    if (Object.keys(patch).length === 0) {
      return;
    }
    await this.heldItem(itemId, workerId).update(patch);
  }

  async finishItem(itemId: string, workerId: string, result: ItemResult): Promise<boolean> {
    if (
      result.status === 'succeeded' &&
      (result.bytes === undefined || !result.sha256 || !result.archiveUri)
    ) {
      throw new Error(
        `A succeeded backup item must record its bytes, sha256 and archive URI (item ${itemId})`,
      );
    }
    // run_id never changes, so reading it outside the transaction is safe.
    const item = await this.db('backup_item').where({ id: itemId }).first('run_id');
    if (!item) {
      return false;
    }
    const now = this.now();
    return this.db.transaction(async trx => {
      const changed = await trx('backup_item')
        .where({ id: itemId, claimed_by: workerId, status: 'running' })
        .update({
          status: result.status,
          bytes: result.bytes ?? null,
          sha256: result.sha256 ?? null,
          archive_uri: result.archiveUri ?? null,
          error: result.error ?? null,
          finished_at: now,
          lease_expires_at: null,
        });
      if (changed === 0) {
        return false;
      }
      await this.recomputeRunIn(trx, item.run_id, now);
      return true;
    });
  }

  async cancelRun(runId: string): Promise<(BackupRun & { items: StoredItem[] }) | undefined> {
    const now = this.now();
    const found = await this.db.transaction(async trx => {
      // Locks the run row first (see the file comment on lock order).
      const changed = await trx('backup_run').where({ id: runId }).update({ cancel_requested: true });
      if (changed === 0) {
        return false;
      }
      await trx('backup_item')
        .where({ run_id: runId, status: 'queued' })
        .update({ status: 'cancelled', finished_at: now });
      await this.recomputeRunIn(trx, runId, now);
      return true;
    });
    return found ? this.getRun(runId) : undefined;
  }

  async isCancelRequested(runId: string): Promise<boolean> {
    const row = await this.db<RunRow>('backup_run').where({ id: runId }).first('cancel_requested');
    return row ? toBoolean(row.cancel_requested) : false;
  }

  async interruptExpiredItems(): Promise<StoredItem[]> {
    // Running items, and queued items a replica holds (one-off destinations whose credentials
    // only that replica has), whose lease ran out by the database's clock: a replica whose own
    // clock runs ahead cannot interrupt another's live item.
    const now = this.now();
    const expired: { id: string; run_id: string; status: string; lease_expires_at: Timestamp }[] =
      await this.db('backup_item')
        .where(q => q.where('status', 'running').orWhere(q2 => q2.where('status', 'queued').whereNotNull('claimed_by')))
        .where('lease_expires_at', '<', this.dbTime())
        .select('id', 'run_id', 'status', 'lease_expires_at');
    const interrupted: string[] = [];
    const runIds = new Set<string>();
    for (const row of expired) {
      // Guarded again: a renewal or a finish since the select wins over the interruption.
      const changed = await this.db('backup_item')
        .where({ id: row.id, status: row.status })
        .where('lease_expires_at', '<', this.dbTime())
        .update({
          status: 'interrupted',
          finished_at: now,
          error:
            row.status === 'running'
              ? `The backend replica running this backup stopped (lease expired at ` +
                `${toIso(row.lease_expires_at)}); the archive was not completed`
              : `The backend replica holding this backup's one-off destination stopped before it ran ` +
                `(lease expired at ${toIso(row.lease_expires_at)}); no other replica has its credentials`,
        });
      if (changed === 1) {
        interrupted.push(row.id);
        runIds.add(row.run_id);
      }
    }
    for (const runId of runIds) {
      await this.recomputeRun(runId, now);
    }
    if (interrupted.length === 0) {
      return [];
    }
    const rows = await this.itemsQuery()
      .whereIn('i.id', interrupted)
      .orderBy([
        { column: 'i.queued_at', order: 'asc' },
        { column: 'i.position', order: 'asc' },
        { column: 'i.id', order: 'asc' },
      ]);
    return rows.map(row => this.toItem(row));
  }

  async liveItemIds(): Promise<string[]> {
    return this.db('backup_item')
      .where('status', 'running')
      .where('lease_expires_at', '>=', this.dbTime())
      .orderBy('id')
      .pluck('id');
  }

  async lastSuccessfulBackups(keys: PvcKey[]): Promise<Map<string, LastBackup>> {
    const result = new Map<string, LastBackup>();
    for (const chunk of chunks(uniqueKeys(keys), KEYS_PER_QUERY)) {
      const ranked = this.db('backup_item')
        .select('id', 'run_id', 'cluster', 'namespace', 'pvc', 'finished_at', 'bytes', 'sha256', 'archive_uri')
        .select(
          this.db.raw(
            'row_number() over (partition by ??, ??, ?? order by ?? desc, ?? desc) as ??',
            ['cluster', 'namespace', 'pvc', 'finished_at', 'id', 'rn'],
          ),
        )
        .where('status', 'succeeded')
        .whereNotNull('finished_at')
        .whereIn(
          ['cluster', 'namespace', 'pvc'],
          chunk.map(k => [k.cluster, k.namespace, k.pvc]),
        );
      const rows: ItemRow[] = await this.db.from(ranked.as('ranked')).where('rn', 1).select('*');
      for (const row of rows) {
        result.set(pvcKey(row), {
          runId: row.run_id,
          itemId: row.id,
          finishedAt: toIso(row.finished_at)!,
          bytes: toNumber(row.bytes) ?? 0,
          sha256: row.sha256 ?? '',
          archiveUri: row.archive_uri ?? '',
        });
      }
    }
    return result;
  }

  async lastStatuses(keys: PvcKey[]): Promise<Map<string, BackupStatus>> {
    const result = new Map<string, BackupStatus>();
    for (const chunk of chunks(uniqueKeys(keys), KEYS_PER_QUERY)) {
      const ranked = this.db('backup_item')
        .select('cluster', 'namespace', 'pvc', 'status')
        .select(
          this.db.raw(
            'row_number() over (partition by ??, ??, ?? order by ?? desc, ?? desc) as ??',
            ['cluster', 'namespace', 'pvc', 'queued_at', 'id', 'rn'],
          ),
        )
        .whereIn(
          ['cluster', 'namespace', 'pvc'],
          chunk.map(k => [k.cluster, k.namespace, k.pvc]),
        );
      const rows: { cluster: string; namespace: string; pvc: string; status: BackupStatus }[] =
        await this.db.from(ranked.as('ranked')).where('rn', 1).select('*');
      for (const row of rows) {
        result.set(pvcKey(row), row.status);
      }
    }
    return result;
  }

  // --- internals ---------------------------------------------------------------------------

  private itemsQuery(): Knex.QueryBuilder<ItemRow, ItemRow[]> {
    return this.db('backup_item as i')
      .join('backup_run as r', 'r.id', 'i.run_id')
      .select<ItemRow[]>('i.*', 'r.destination');
  }

  /** The item, only while `workerId` holds it and it runs. */
  private heldItem(itemId: string, workerId: string) {
    return this.db('backup_item').where({ id: itemId, claimed_by: workerId, status: 'running' });
  }

  /**
   * Serializes run creation per requester and per entity, so two concurrent requests cannot
   * both pass the queue limits. PostgreSQL: transaction-scoped advisory locks, taken in sorted
   * order (no deadlock). SQLite: the caller's first write takes the database write lock.
   */
  private async lockQueueOf(trx: Knex.Transaction, run: NewRun): Promise<void> {
    if (!this.isPostgres) return;
    const keys = [
      `nkvm-queue:user:${run.requestedBy}`,
      ...new Set(run.items.flatMap(i => (i.entityRef ? [`nkvm-queue:entity:${i.entityRef}`] : []))),
    ].sort();
    for (const key of keys) {
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [key]);
    }
  }

  /** ConflictError (409) when the run would take its requester or an entity past a limit. */
  private async checkQueueLimits(trx: Knex.Transaction, run: NewRun, limits: QueueLimits): Promise<void> {
    if (limits.maxActivePerUser !== undefined) {
      const [{ n }] = await trx('backup_item')
        .where('requested_by', run.requestedBy)
        .whereIn('status', ['queued', 'running'])
        .count({ n: '*' });
      if (Number(n) + run.items.length > limits.maxActivePerUser) {
        throw new ConflictError(
          `Too many backups waiting: ${run.requestedBy} has ${Number(n)} queued or running and asked for ` +
            `${run.items.length} more; the limit is ${limits.maxActivePerUser} per requester ` +
            `(volumeManager.queue.maxActivePerUser). Wait for some to finish, or cancel a run.`,
        );
      }
    }
    if (limits.maxActivePerEntity !== undefined) {
      const asked = new Map<string, number>();
      for (const item of run.items) {
        if (item.entityRef) asked.set(item.entityRef, (asked.get(item.entityRef) ?? 0) + 1);
      }
      for (const chunk of chunks([...asked.keys()], KEYS_PER_QUERY)) {
        const rows: { entity_ref: string; n: number | string }[] = await trx('backup_item')
          .whereIn('entity_ref', chunk)
          .whereIn('status', ['queued', 'running'])
          .groupBy('entity_ref')
          .select('entity_ref')
          .count({ n: '*' });
        const active = new Map(rows.map(r => [r.entity_ref, Number(r.n)]));
        for (const entityRef of chunk) {
          const n = active.get(entityRef) ?? 0;
          const more = asked.get(entityRef)!;
          if (n + more > limits.maxActivePerEntity) {
            throw new ConflictError(
              `Too many backups waiting for ${entityRef}: ${n} queued or running and ${more} more asked for; ` +
                `the limit is ${limits.maxActivePerEntity} per entity (volumeManager.queue.maxActivePerEntity). ` +
                `Wait for some to finish, or cancel a run.`,
            );
          }
        }
      }
    }
  }

  private async recomputeRun(runId: string, now: Date = this.now()): Promise<void> {
    await this.db.transaction(trx => this.recomputeRunIn(trx, runId, now));
  }

  /**
   * Locks the run, reads its item statuses (a fresh snapshot on PostgreSQL, since the lock was
   * taken by an earlier statement) and stores the derived status.
   */
  private async recomputeRunIn(trx: Knex.Transaction, runId: string, now: Date): Promise<void> {
    if (this.isPostgres) {
      await trx('backup_run').where({ id: runId }).forUpdate().first('id');
    } else {
      // SQLite has no row locks; a write takes the database write lock for the transaction.
      await trx('backup_run').where({ id: runId }).update({ status: trx.ref('status') });
    }
    const run = await trx<RunRow>('backup_run').where({ id: runId }).first('finished_at');
    if (!run) {
      return;
    }
    const counts: { status: BackupStatus; n: number | string }[] = await trx('backup_item')
      .where({ run_id: runId })
      .groupBy('status')
      .select('status')
      .count({ n: '*' });
    const byStatus: Partial<Record<BackupStatus, number>> = {};
    for (const c of counts) {
      byStatus[c.status] = Number(c.n);
    }
    const status = deriveRunStatus(byStatus);
    const finishedAt = ACTIVE.has(status) ? null : (toDate(run.finished_at) ?? now);
    await trx('backup_run').where({ id: runId }).update({ status, finished_at: finishedAt });
  }

  private toRun(row: RunRow, items: StoredItem[]): BackupRun & { items: StoredItem[] } {
    return {
      id: row.id,
      status: row.status as BackupStatus,
      cluster: row.cluster,
      destination: row.destination,
      requestedBy: row.requested_by,
      createdAt: toIso(row.created_at)!,
      items,
    };
  }

  private toItem(row: ItemRow): StoredItem {
    const status = row.status as BackupStatus;
    const item: BackupItem = {
      id: row.id,
      runId: row.run_id,
      cluster: row.cluster,
      namespace: row.namespace,
      pvc: row.pvc,
      status,
      bytes: toNumber(row.bytes),
      sha256: row.sha256,
      archiveUri: row.archive_uri,
      error: row.error,
      helperPod: row.helper_pod,
      node: row.node,
      startedAt: toIso(row.started_at),
      finishedAt: toIso(row.finished_at),
      requestedBy: row.requested_by,
      progress: status === 'running' ? progressOf(row) : null,
    };
    return {
      ...item,
      entityRef: row.entity_ref,
      destination: row.destination,
      claimedBy: row.claimed_by,
      leaseExpiresAt: toIso(row.lease_expires_at),
    };
  }
}

/** Bytes so far and the average rate from the start to the last progress update. */
function progressOf(row: ItemRow): { bytes: number; bytesPerSecond: number } {
  const bytes = toNumber(row.progress_bytes) ?? 0;
  const started = toDate(row.started_at);
  const updated = toDate(row.progress_updated_at);
  const seconds = started && updated ? (updated.getTime() - started.getTime()) / 1000 : 0;
  return { bytes, bytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : 0 };
}

/**
 * Fills a NOT EXISTS subquery: restores running (claimed, not finished) on this PVC, as `x`.
 * Values are bound, or column references (`knex.ref`) for a correlated subquery.
 */
function runningRestoresOf(
  q: Knex.QueryBuilder,
  cluster: string | Knex.Raw,
  namespace: string | Knex.Raw,
  pvc: string | Knex.Raw,
): Knex.QueryBuilder {
  return q
    .select(1)
    .from('restores as x')
    .where('x.target_cluster', cluster)
    .where('x.target_namespace', namespace)
    .where('x.target_name', pvc)
    .whereIn('x.phase', RUNNING_RESTORE_PHASES);
}
