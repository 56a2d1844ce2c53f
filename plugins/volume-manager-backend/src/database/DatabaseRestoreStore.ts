/*
 * The knex implementation of RestoreStore, for SQLite and PostgreSQL, on the same rules as
 * DatabaseBackupStore (read its file comment): recorded timestamps bound as JS Dates, leases by
 * the database's clock, claims by a conditional UPDATE, bigints and booleans read either way.
 * `target` and `checks` are JSON columns (PostgreSQL returns them parsed, SQLite as text).
 *
 * One operation per PVC, across replicas. Creating a restore and claiming one take the target
 * PVC's lock (`lockPvc`: an advisory lock on PostgreSQL) in their transaction, and check for the
 * other operations on that PVC after taking it; the backup store's item claim takes the same
 * lock. On SQLite the write lock serializes the same statements. A partial unique index
 * (`restores_one_active_per_target`) also keeps two unfinished restores off one target PVC.
 */
import { randomUUID } from 'node:crypto';
import type { DatabaseService } from '@backstage/backend-plugin-api';
import { ConflictError, InputError } from '@backstage/errors';
import type {
  RestoreCheck,
  RestoreOwnership,
  RestorePhase,
  RestoreTarget,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import { pvcKey, type PvcKey, type StoredItem } from './BackupStore';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { migrateBackupStore } from './migrateBackupStore';
import {
  RUNNING_RESTORE_PHASES,
  type NewRestore,
  type RestoreFilter,
  type RestorePage,
  type RestoreProgress,
  type RestoreResult,
  type RestoreStore,
  type StoredRestore,
} from './RestoreStore';
import {
  checkWorkerId,
  databaseTime,
  keysetPage,
  lockPvc,
  pageSize,
  toBoolean,
  toIso,
  toNumber,
  whereOneOf,
  type BigIntValue,
  type Timestamp,
} from './sqlValues';

/** Largest page `listRestores` returns. @internal */
export const MAX_RESTORE_PAGE_SIZE = 500;
/** Candidates read per claim attempt, and attempts, before `claimNextRestore` gives up for now. */
const CLAIM_CANDIDATES = 10;
const CLAIM_ATTEMPTS = 5;

/** Not finished: holds its target against other restores (and, on creation, backups). */
const ACTIVE_PHASES = ['queued', ...RUNNING_RESTORE_PHASES] as const;
const FINISHED_PHASES: ReadonlySet<RestorePhase> = new Set([
  'succeeded',
  'failed',
  'canceled',
  'interrupted',
]);

interface RestoreRow {
  id: string;
  item_id: string;
  source_cluster: string;
  source_namespace: string;
  source_pvc: string;
  source_archive_uri: string;
  source_sha256: string;
  source_destination: string;
  source_entity_ref: string | null;
  target: unknown;
  target_cluster: string;
  target_namespace: string;
  target_name: string;
  ownership: string;
  entity_ref: string | null;
  requested_by: string;
  phase: string;
  created_at: Timestamp;
  started_at: Timestamp;
  finished_at: Timestamp;
  bytes_done: BigIntValue;
  bytes_total: BigIntValue;
  entries: BigIntValue;
  uncompressed_bytes: BigIntValue;
  checks: unknown;
  safety_backup_run_id: string | null;
  helper_pod: string | null;
  created_pvc: boolean | number | string;
  error: string | null;
  claimed_by: string | null;
  lease_expires_at: Timestamp;
  cancel_requested: boolean | number | string;
}

function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/**
 * The target as stored and shown: only the fields a RestoreTarget has, whatever else the
 * request carried.
 */
function targetOf(target: RestoreTarget): RestoreTarget {
  if (target.type === 'newPvc') {
    return {
      type: 'newPvc',
      cluster: target.cluster,
      namespace: target.namespace,
      ...(target.name !== undefined ? { name: target.name } : {}),
      ...(target.storageClassName !== undefined ? { storageClassName: target.storageClassName } : {}),
      ...(target.size !== undefined ? { size: target.size } : {}),
      ...(target.accessModes !== undefined ? { accessModes: [...target.accessModes] } : {}),
      ...(target.labels !== undefined ? { labels: { ...target.labels } } : {}),
    };
  }
  return {
    type: 'existingPvc',
    cluster: target.cluster,
    namespace: target.namespace,
    name: target.name,
    mode: target.mode,
    confirm: target.confirm,
    ...(target.safetyBackup !== undefined ? { safetyBackup: target.safetyBackup } : {}),
    ...(target.allowDirectExtraction !== undefined
      ? { allowDirectExtraction: target.allowDirectExtraction }
      : {}),
  };
}

/** A row as the API's Restore plus what the worker needs: the one mapping. */
function toRestore(row: RestoreRow): StoredRestore {
  return {
    id: row.id,
    phase: row.phase as RestorePhase,
    itemId: row.item_id,
    source: {
      cluster: row.source_cluster,
      namespace: row.source_namespace,
      pvc: row.source_pvc,
      archiveUri: row.source_archive_uri,
      sha256: row.source_sha256,
      destination: row.source_destination,
    },
    target: parseJson(row.target) as RestoreTarget,
    targetPvc: { cluster: row.target_cluster, namespace: row.target_namespace, name: row.target_name },
    ownership: row.ownership as RestoreOwnership,
    entityRef: row.entity_ref,
    requestedBy: row.requested_by,
    createdAt: toIso(row.created_at)!,
    startedAt: toIso(row.started_at),
    finishedAt: toIso(row.finished_at),
    bytesDone: toNumber(row.bytes_done) ?? 0,
    bytesTotal: toNumber(row.bytes_total),
    entries: toNumber(row.entries),
    uncompressedBytes: toNumber(row.uncompressed_bytes),
    checks: (parseJson(row.checks) as RestoreCheck[] | null) ?? [],
    safetyBackupRunId: row.safety_backup_run_id,
    helperPod: row.helper_pod,
    error: row.error,
    claimedBy: row.claimed_by,
    leaseExpiresAt: toIso(row.lease_expires_at),
    cancelRequested: toBoolean(row.cancel_requested),
    createdPvc: toBoolean(row.created_pvc),
  };
}

/** Whether a failed statement broke a unique index (PostgreSQL, better-sqlite3, sqlite3). */
function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    (e?.code === 'SQLITE_CONSTRAINT' && /UNIQUE/i.test(String(e.message)))
  );
}

/** A bound value, or a column reference for a correlated subquery. */
interface Operand {
  cluster: string | Knex.Raw;
  namespace: string | Knex.Raw;
  pvc: string | Knex.Raw;
}

const describePvc = (pvc: PvcKey) => `${pvc.namespace}/${pvc.pvc} on cluster ${pvc.cluster}`;

/** @internal */
export interface DatabaseRestoreStoreOptions {
  /** The replica's clock, for recorded timestamps; tests pass a fake one. */
  now?: () => Date;
  /** For tests only: stands in for the database's clock in lease arithmetic. */
  databaseNow?: () => Date;
}

/** @internal */
export class DatabaseRestoreStore implements RestoreStore {
  static async create(options: { database: DatabaseService }): Promise<DatabaseRestoreStore> {
    const client = await migrateBackupStore(options.database);
    return new DatabaseRestoreStore(client, {});
  }

  /** A store over a knex whose schema is already migrated (openStores, tests). */
  static fromKnex(knex: Knex, options: DatabaseRestoreStoreOptions = {}): DatabaseRestoreStore {
    return new DatabaseRestoreStore(knex, options);
  }

  private readonly now: () => Date;
  private readonly databaseNow?: () => Date;
  /** Reads backup items (one mapping of item rows, the backup store's). */
  private readonly items: DatabaseBackupStore;

  private constructor(
    private readonly db: Knex,
    options: DatabaseRestoreStoreOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.databaseNow = options.databaseNow;
    this.items = DatabaseBackupStore.fromKnex(db, options);
  }

  private dbTime(offsetMs = 0): Knex.Raw | Date {
    return databaseTime(this.db, offsetMs, this.databaseNow);
  }

  async createRestore(restore: NewRestore): Promise<StoredRestore> {
    const { item, target, targetPvc } = restore;
    if (item.status !== 'succeeded' || !item.archiveUri || !item.sha256) {
      throw new InputError(
        `Backup item ${item.id} is ${item.status}; only a succeeded backup can be restored`,
      );
    }
    if (
      targetPvc.cluster !== target.cluster ||
      targetPvc.namespace !== target.namespace ||
      (target.type === 'existingPvc' && targetPvc.pvc !== target.name) ||
      (target.type === 'newPvc' && target.name !== undefined && targetPvc.pvc !== target.name)
    ) {
      throw new InputError(
        `The target PVC ${pvcKey(targetPvc)} does not match the requested target ` +
          `${target.cluster}/${target.namespace}/${target.name ?? '(new)'}`,
      );
    }
    const id = restore.id ?? randomUUID();
    try {
      await this.db.transaction(async trx => {
        await lockPvc(trx, targetPvc);
        // The row goes in first: on SQLite that write takes the write lock before the checks
        // (a failed check rolls it back); the unique index refuses a second unfinished restore.
        await trx('restores').insert({
          id,
          item_id: item.id,
          source_cluster: item.cluster,
          source_namespace: item.namespace,
          source_pvc: item.pvc,
          source_archive_uri: item.archiveUri,
          source_sha256: item.sha256,
          source_destination: item.destination,
          source_entity_ref: item.entityRef,
          target: JSON.stringify(targetOf(target)),
          target_cluster: targetPvc.cluster,
          target_namespace: targetPvc.namespace,
          target_name: targetPvc.pvc,
          ownership: restore.ownership,
          entity_ref: restore.entityRef,
          requested_by: restore.requestedBy,
          phase: 'queued',
          created_at: this.now(),
          bytes_done: 0,
          checks: JSON.stringify([]),
          created_pvc: false,
          cancel_requested: false,
        });
        await this.checkTargetFree(trx, id, targetPvc, target.type === 'existingPvc');
      });
    } catch (error) {
      if (isUniqueViolation(error)) {
        // Lost to a restore created at the same moment (the unique index refused this one).
        const other = await this.activeRestoreOf(this.db, targetPvc);
        throw new ConflictError(
          `The PVC ${describePvc(targetPvc)} already has a restore ` +
            `${other ? `${other.phase} (${other.id})` : 'queued or running'}; wait for it to finish or cancel it`,
        );
      }
      throw error;
    }
    const created = await this.getRestore(id);
    if (!created) {
      throw new Error(`Restore ${id} vanished right after it was created`);
    }
    return created;
  }

  async getRestore(id: string): Promise<StoredRestore | undefined> {
    const row = await this.db<RestoreRow>('restores').where({ id }).first();
    return row ? toRestore(row) : undefined;
  }

  /**
   * `cluster`/`namespace`/`pvc` match restores into that PVC or from it (a PVC's history);
   * `entityRefs` those whose target or source entity is one of them.
   */
  async listRestores(filter: RestoreFilter): Promise<RestorePage> {
    const limit = pageSize(filter.limit, MAX_RESTORE_PAGE_SIZE);
    if (filter.entityRefs && filter.entityRefs.length === 0) {
      return { items: [], nextCursor: null };
    }
    const query = this.db<RestoreRow>('restores');
    const where = { cluster: filter.cluster, namespace: filter.namespace, pvc: filter.pvc };
    if (Object.values(where).some(v => v !== undefined)) {
      const side = (q: Knex.QueryBuilder, prefix: 'target' | 'source', pvcColumn: string) => {
        if (where.cluster !== undefined) q.where(`${prefix}_cluster`, where.cluster);
        if (where.namespace !== undefined) q.where(`${prefix}_namespace`, where.namespace);
        if (where.pvc !== undefined) q.where(pvcColumn, where.pvc);
      };
      query.where(q =>
        q
          .where(q2 => side(q2, 'target', 'target_name'))
          .orWhere(q2 => side(q2, 'source', 'source_pvc')),
      );
    }
    if (filter.entityRefs) {
      const refs = filter.entityRefs;
      query.where(q =>
        q
          .where(q2 => whereOneOf(q2, 'entity_ref', refs))
          .orWhere(q2 => whereOneOf(q2, 'source_entity_ref', refs)),
      );
    }
    const { rows, nextCursor } = await keysetPage<RestoreRow>(
      query,
      { at: 'created_at', id: 'id', order: 'desc' },
      limit,
      filter.cursor,
    );
    return { items: rows.map(toRestore), nextCursor };
  }

  async claimNextRestore(workerId: string, leaseMs: number): Promise<StoredRestore | undefined> {
    checkWorkerId(workerId);
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      // A pre-filter; the claim checks again under the target PVC's lock.
      const candidates: { id: string; target_cluster: string; target_namespace: string; target_name: string }[] =
        await this.db('restores as c')
          .where('c.phase', 'queued')
          .where('c.cancel_requested', false)
          .where(q =>
            this.whereTargetIdle(q, {
              id: this.db.ref('c.id'),
              cluster: this.db.ref('c.target_cluster'),
              namespace: this.db.ref('c.target_namespace'),
              pvc: this.db.ref('c.target_name'),
            }),
          )
          .orderBy([
            { column: 'c.created_at', order: 'asc' },
            { column: 'c.id', order: 'asc' },
          ])
          .limit(CLAIM_CANDIDATES)
          .select('c.id', 'c.target_cluster', 'c.target_namespace', 'c.target_name');
      if (candidates.length === 0) {
        return undefined;
      }
      for (const candidate of candidates) {
        const pvc = {
          cluster: candidate.target_cluster,
          namespace: candidate.target_namespace,
          pvc: candidate.target_name,
        };
        const changed = await this.db.transaction(async (trx): Promise<number> => {
          await lockPvc(trx, pvc);
          const n = await trx('restores')
            .where({ id: candidate.id, phase: 'queued', cancel_requested: false })
            .where(q => this.whereTargetIdle(q, { id: candidate.id, ...pvc }))
            .update({
              phase: 'verifying',
              started_at: this.now(),
              claimed_by: workerId,
              lease_expires_at: this.dbTime(leaseMs),
            });
          return Number(n);
        });
        if (changed === 1) {
          return this.getRestore(candidate.id);
        }
        // Another worker took it, it was canceled, or a backup of its PVC started: next one.
      }
    }
    // Heavy contention; the caller polls again later.
    return undefined;
  }

  async renewRestoreLease(id: string, workerId: string, leaseMs: number): Promise<boolean> {
    const changed = await this.held(id, workerId).update({ lease_expires_at: this.dbTime(leaseMs) });
    return changed > 0;
  }

  async updateRestore(id: string, workerId: string, progress: RestoreProgress): Promise<void> {
    const patch: Record<string, unknown> = {};
    if (progress.phase !== undefined) {
      if (!(RUNNING_RESTORE_PHASES as readonly string[]).includes(progress.phase)) {
        throw new Error(`updateRestore cannot move restore ${id} to phase '${progress.phase}'`);
      }
      patch.phase = progress.phase;
    }
    if (progress.bytesDone !== undefined) patch.bytes_done = progress.bytesDone;
    if (progress.bytesTotal !== undefined) patch.bytes_total = progress.bytesTotal;
    if (progress.entries !== undefined) patch.entries = progress.entries;
    if (progress.uncompressedBytes !== undefined) patch.uncompressed_bytes = progress.uncompressedBytes;
    if (progress.checks !== undefined) {
      patch.checks = JSON.stringify(
        progress.checks.map(c => ({ name: c.name, ok: c.ok, message: c.message })),
      );
    }
    if (progress.helperPod !== undefined) patch.helper_pod = progress.helperPod;
    if (progress.createdPvc !== undefined) patch.created_pvc = progress.createdPvc;
    if (progress.safetyBackupRunId !== undefined) patch.safety_backup_run_id = progress.safetyBackupRunId;
    if (Object.keys(patch).length === 0) {
      return;
    }
    await this.held(id, workerId).update(patch);
  }

  async finishRestore(id: string, workerId: string, result: RestoreResult): Promise<boolean> {
    if (!FINISHED_PHASES.has(result.phase)) {
      throw new Error(`finishRestore cannot finish restore ${id} as '${result.phase}'`);
    }
    const changed = await this.held(id, workerId).update({
      phase: result.phase,
      error: result.error ?? null,
      finished_at: this.now(),
      lease_expires_at: null,
    });
    return changed > 0;
  }

  async cancelRestore(id: string): Promise<StoredRestore | undefined> {
    const canceled = await this.db('restores')
      .where({ id, phase: 'queued' })
      .update({ phase: 'canceled', cancel_requested: true, finished_at: this.now() });
    if (canceled === 0) {
      await this.db('restores')
        .where({ id })
        .whereIn('phase', RUNNING_RESTORE_PHASES)
        .update({ cancel_requested: true });
    }
    return this.getRestore(id);
  }

  async isRestoreCancelRequested(id: string): Promise<boolean> {
    const row = await this.db<RestoreRow>('restores').where({ id }).first('cancel_requested');
    return row ? toBoolean(row.cancel_requested) : false;
  }

  async interruptExpiredRestores(): Promise<StoredRestore[]> {
    const expired: { id: string; lease_expires_at: Timestamp }[] = await this.db('restores')
      .whereIn('phase', RUNNING_RESTORE_PHASES)
      .where('lease_expires_at', '<', this.dbTime())
      .select('id', 'lease_expires_at');
    const interrupted: string[] = [];
    for (const row of expired) {
      // Guarded again: a renewal or a finish since the select wins over the interruption.
      const changed = await this.db('restores')
        .where({ id: row.id })
        .whereIn('phase', RUNNING_RESTORE_PHASES)
        .where('lease_expires_at', '<', this.dbTime())
        .update({
          phase: 'interrupted',
          finished_at: this.now(),
          error:
            `The backend replica running this restore stopped (lease expired at ` +
            `${toIso(row.lease_expires_at)}); the target may be partly restored`,
        });
      if (changed === 1) {
        interrupted.push(row.id);
      }
    }
    if (interrupted.length === 0) {
      return [];
    }
    const rows: RestoreRow[] = await this.db('restores')
      .whereIn('id', interrupted)
      .orderBy([
        { column: 'created_at', order: 'asc' },
        { column: 'id', order: 'asc' },
      ])
      .select('*');
    return rows.map(toRestore);
  }

  async liveRestoreIds(): Promise<string[]> {
    return this.db('restores')
      .whereIn('phase', RUNNING_RESTORE_PHASES)
      .where('lease_expires_at', '>=', this.dbTime())
      .orderBy('id')
      .pluck('id');
  }

  async newestSucceededItem(pvc: PvcKey, asOf: Date = this.now()): Promise<StoredItem | undefined> {
    if (Number.isNaN(asOf.getTime())) {
      throw new InputError('asOf must be a valid date');
    }
    const row: { id: string } | undefined = await this.db('backup_item')
      .where({ cluster: pvc.cluster, namespace: pvc.namespace, pvc: pvc.pvc, status: 'succeeded' })
      .whereNotNull('finished_at')
      .where('finished_at', '<=', asOf)
      .orderBy([
        { column: 'finished_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .first('id');
    return row ? this.items.getItem(row.id) : undefined;
  }

  // --- internals ---------------------------------------------------------------------------

  /** The restore, only while `workerId` holds it and it runs. */
  private held(id: string, workerId: string) {
    return this.db('restores').where({ id, claimed_by: workerId }).whereIn('phase', RUNNING_RESTORE_PHASES);
  }

  /**
   * Restores whose target PVC has no running backup item and no other running restore.
   * Values are bound, or column references (`knex.ref`) for a correlated subquery.
   */
  private whereTargetIdle(q: Knex.QueryBuilder, of: Operand & { id: string | Knex.Raw }) {
    return q
      .whereNotExists(sub =>
        sub
          .select(this.db.raw('1'))
          .from('backup_item as b')
          .where('b.cluster', of.cluster)
          .where('b.namespace', of.namespace)
          .where('b.pvc', of.pvc)
          .where('b.status', 'running'),
      )
      .whereNotExists(sub =>
        sub
          .select(this.db.raw('1'))
          .from('restores as o')
          .where('o.target_cluster', of.cluster)
          .where('o.target_namespace', of.namespace)
          .where('o.target_name', of.pvc)
          .whereIn('o.phase', RUNNING_RESTORE_PHASES)
          .whereNot('o.id', of.id),
      );
  }

  /** The unfinished restore into this PVC other than `exceptId`, if any. */
  private async activeRestoreOf(
    db: Knex | Knex.Transaction,
    pvc: PvcKey,
    exceptId?: string,
  ): Promise<{ id: string; phase: string } | undefined> {
    const query = db('restores')
      .where({ target_cluster: pvc.cluster, target_namespace: pvc.namespace, target_name: pvc.pvc })
      .whereIn('phase', ACTIVE_PHASES);
    if (exceptId !== undefined) query.whereNot('id', exceptId);
    return query.first('id', 'phase');
  }

  /**
   * Run in createRestore's transaction after its insert: ConflictError when another restore
   * of the target is unfinished, or (into an existing PVC) a backup of it is queued or running.
   */
  private async checkTargetFree(
    trx: Knex.Transaction,
    id: string,
    pvc: PvcKey,
    existingPvc: boolean,
  ): Promise<void> {
    const other = await this.activeRestoreOf(trx, pvc, id);
    if (other) {
      throw new ConflictError(
        `The PVC ${describePvc(pvc)} already has a restore ${other.phase} (${other.id}); ` +
          `wait for it to finish or cancel it`,
      );
    }
    if (!existingPvc) {
      return;
    }
    const backup: { id: string; run_id: string; status: string } | undefined = await trx('backup_item')
      .where({ cluster: pvc.cluster, namespace: pvc.namespace, pvc: pvc.pvc })
      .whereIn('status', ['queued', 'running'])
      .first('id', 'run_id', 'status');
    if (backup) {
      throw new ConflictError(
        `The PVC ${describePvc(pvc)} has a backup ${backup.status} (run ${backup.run_id}); ` +
          `wait for it to finish or cancel its run, then restore`,
      );
    }
  }
}
