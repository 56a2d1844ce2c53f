/*
 * What the knex stores share: reading values whichever way SQLite or PostgreSQL returned them,
 * the database clock for leases, keyset cursors, "column is one of these" with one bound value,
 * and the per-PVC lock that makes backups and restores of one PVC exclude each other.
 * See DatabaseBackupStore's file comment for the portability rules these implement.
 */
import { InputError } from '@backstage/errors';
import type { Knex } from 'knex';
import type { PvcKey } from './BackupStore';

/** @internal */
export type Timestamp = Date | string | number | null;
/** @internal */
export type BigIntValue = string | number | null;

const SQLITE_UTC_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$/;

/** A stored timestamp as a Date, whichever way the driver returned it. @internal */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) {
    return null;
  }
  let date: Date;
  if (value instanceof Date) {
    date = value;
  } else if (typeof value === 'number') {
    date = new Date(value);
  } else if (typeof value === 'string') {
    if (/^-?\d+(\.\d+)?$/.test(value)) {
      date = new Date(Number(value));
    } else if (SQLITE_UTC_TIMESTAMP.test(value)) {
      // SQLite's CURRENT_TIMESTAMP form: UTC without a zone designator.
      date = new Date(`${value.replace(' ', 'T')}Z`);
    } else {
      date = new Date(value);
    }
  } else {
    throw new Error(`Unexpected timestamp value of type ${typeof value}`);
  }
  if (Number.isNaN(date.getTime())) {
    throw new Error(`Unparseable timestamp value '${String(value)}'`);
  }
  return date;
}

/** @internal */
export function toIso(value: unknown): string | null {
  return toDate(value)?.toISOString() ?? null;
}

/** @internal */
export function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const n = Number(value);
  if (!Number.isFinite(n)) {
    throw new Error(`Unexpected numeric value '${String(value)}'`);
  }
  return n;
}

/** @internal */
export function toBoolean(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

/** `claimed_by` columns are varchar(64). */
const MAX_WORKER_ID_LENGTH = 64;

/** @internal */
export function checkWorkerId(workerId: string): void {
  if (!workerId || workerId.length > MAX_WORKER_ID_LENGTH) {
    throw new Error(`Worker ids must be 1 to ${MAX_WORKER_ID_LENGTH} characters long`);
  }
}

/** @internal */
export function chunks<T>(items: T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    result.push(items.slice(i, i + size));
  }
  return result;
}

/**
 * The database's current time plus `offsetMs`, as a value to bind or compare against a lease
 * column. On SQLite, epoch milliseconds (how knex stores a bound `Date` there). `databaseNow`
 * (tests only) stands in for the database's clock.
 * @internal
 */
export function databaseTime(db: Knex, offsetMs = 0, databaseNow?: () => Date): Knex.Raw | Date {
  if (databaseNow) {
    return new Date(databaseNow().getTime() + offsetMs);
  }
  if (db.client.dialect === 'postgresql') {
    return db.raw(`(clock_timestamp() + (?::double precision * interval '1 millisecond'))`, [offsetMs]);
  }
  return db.raw(`(CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER) + ?)`, [
    Math.round(offsetMs),
  ]);
}

/** A keyset cursor: a row's ordering timestamp and id, opaque to clients. @internal */
export function encodeCursor(at: unknown, id: string): string {
  return Buffer.from(JSON.stringify([toDate(at)!.getTime(), id]), 'utf8').toString('base64url');
}

/** InputError (400) for anything that is not a cursor `encodeCursor` made. @internal */
export function decodeCursor(cursor: string): { at: Date; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    typeof parsed[0] !== 'number' ||
    !Number.isFinite(parsed[0]) ||
    typeof parsed[1] !== 'string'
  ) {
    throw new InputError('Invalid cursor; pass back the nextCursor of a previous page');
  }
  return { at: new Date(parsed[0]), id: parsed[1] };
}

/** A requested page size clamped to 1..max (a missing or odd value gives 1). @internal */
export function pageSize(requested: number | undefined, max: number): number {
  return Math.min(Math.max(Math.floor(requested ?? max) || 1, 1), max);
}

/**
 * Keyset paging by an ordering timestamp and then the id, both in `order`: applies the cursor
 * and the order to `query`, reads one row more than `limit`, and returns the page with the
 * cursor of the next one (null on the last page). `columns` may be qualified (`i.queued_at`);
 * rows are read by the unqualified names.
 * @internal
 */
export async function keysetPage<Row>(
  query: Knex.QueryBuilder,
  columns: { at: string; id: string; order: 'asc' | 'desc' },
  limit: number,
  cursor: string | undefined,
): Promise<{ rows: Row[]; nextCursor: string | null }> {
  const { at: atColumn, id: idColumn, order } = columns;
  if (cursor) {
    const { at, id } = decodeCursor(cursor);
    const beyond = order === 'desc' ? '<' : '>';
    query.where(q =>
      q.where(atColumn, beyond, at).orWhere(q2 => q2.where(atColumn, '=', at).andWhere(idColumn, beyond, id)),
    );
  }
  const rows: Row[] = await query
    .orderBy([
      { column: atColumn, order },
      { column: idColumn, order },
    ])
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  const last = page[page.length - 1] as Record<string, unknown> | undefined;
  const unqualified = (column: string) => column.slice(column.lastIndexOf('.') + 1);
  return {
    rows: page,
    nextCursor:
      rows.length > limit && last ? encodeCursor(last[unqualified(atColumn)], String(last[unqualified(idColumn)])) : null,
  };
}

/**
 * `column IN (values)` with one bound value whatever the number of values, so no variable limit
 * applies.
 * @internal
 */
export function whereOneOf(query: Knex.QueryBuilder, column: string, values: string[]): void {
  if (query.client.dialect === 'postgresql') {
    query.whereRaw('?? = ANY(?::text[])', [column, values]);
  } else {
    query.whereRaw('?? IN (SELECT value FROM json_each(?))', [column, JSON.stringify(values)]);
  }
}

/** Class id of the per-PVC advisory locks ("nkvm"); the two-key lock space is their own. */
const PVC_LOCK_CLASS = 0x6e6b766d;

/**
 * Takes the transaction-scoped lock of one PVC: what a backup item's claim, a restore's claim
 * and a restore's creation hold while they check for the other operations on that PVC and
 * change their row, so two replicas cannot both pass the check. On PostgreSQL an advisory lock
 * (held to commit; READ COMMITTED gives the next statement a snapshot that sees whatever the
 * previous holder committed). On SQLite a no-op: every writing statement holds the database
 * write lock and the check is part of the claiming statement. Take at most one per transaction.
 * @internal
 */
export async function lockPvc(trx: Knex.Transaction, pvc: PvcKey): Promise<void> {
  if (trx.client.dialect !== 'postgresql') return;
  await trx.raw('select pg_advisory_xact_lock(?, hashtext(?))', [
    PVC_LOCK_CLASS,
    JSON.stringify([pvc.cluster, pvc.namespace, pvc.pvc]),
  ]);
}
