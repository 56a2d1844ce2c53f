import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupStatus, LastBackup } from '@nkvm/backstage-plugin-volume-manager-common';
import knexFactory, { type Knex } from 'knex';
import { createTestDatabases, type TestDatabaseId } from '../__testUtils__/testDatabases';
import type { ItemResult, NewRun, PvcKey, StoredItem } from './BackupStore';
import { DatabaseBackupStore, KEYS_PER_QUERY, deriveRunStatus } from './DatabaseBackupStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';

jest.setTimeout(120_000);

const databases = createTestDatabases();

const T0 = Date.parse('2026-11-26T05:00:00.000Z');
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CAMEL = /^[a-z][a-zA-Z0-9]*$/;
const SHA = 'a'.repeat(64);

class FakeClock {
  t = T0;
  now = () => new Date(this.t);
  advance(ms: number) {
    this.t += ms;
  }
  iso(offsetMs = 0) {
    return new Date(this.t + offsetMs).toISOString();
  }
}

const succeeded = (bytes = 1): ItemResult => ({
  status: 'succeeded',
  bytes,
  sha256: SHA,
  archiveUri: 'file:///backups/x.tar.gz',
});

function newRun(pvcs: string[], overrides: Partial<NewRun> = {}): NewRun {
  return {
    cluster: 'kube-sim',
    destination: 'local',
    requestedBy: 'user:default/alice',
    items: pvcs.map(pvc => ({ namespace: 'payments', pvc })),
    ...overrides,
  };
}

async function migratedKnex(id: TestDatabaseId): Promise<Knex> {
  const knex = await databases.init(id);
  await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  return knex;
}

async function runRow(knex: Knex, runId: string) {
  const row = await knex('backup_run').where({ id: runId }).first();
  return { status: row.status as BackupStatus, finished: row.finished_at !== null };
}

/** Counts the SQL statements a knex instance issues while `fn` runs. */
async function countQueries<T>(knex: Knex, fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
  let queries = 0;
  const listener = () => {
    queries += 1;
  };
  knex.on('query', listener);
  try {
    const result = await fn();
    return { result, queries };
  } finally {
    knex.removeListener('query', listener);
  }
}

function expectCamelCaseOnly(value: object) {
  for (const key of Object.keys(value)) {
    expect(key).toMatch(CAMEL);
  }
}

describe('deriveRunStatus', () => {
  it.each<[Partial<Record<BackupStatus, number>>, BackupStatus]>([
    [{ queued: 3 }, 'queued'],
    [{ queued: 2, running: 1 }, 'running'],
    [{ queued: 2, succeeded: 1 }, 'running'],
    [{ queued: 1, failed: 1 }, 'running'],
    [{ running: 1, cancelled: 2 }, 'running'],
    [{ succeeded: 3 }, 'succeeded'],
    [{ succeeded: 2, failed: 1 }, 'failed'],
    [{ failed: 1, interrupted: 1, cancelled: 1 }, 'failed'],
    [{ succeeded: 1, interrupted: 1, cancelled: 1 }, 'interrupted'],
    [{ succeeded: 2, cancelled: 1 }, 'cancelled'],
    [{ cancelled: 3 }, 'cancelled'],
  ])('%j -> %s', (counts, expected) => {
    expect(deriveRunStatus(counts)).toBe(expected);
  });
});

describe('DatabaseBackupStore', () => {
  it('runs on both SQLite and PostgreSQL', () => {
    expect(databases.eachSupportedId().map(([id]) => id)).toEqual(['SQLITE_3', 'POSTGRES_15']);
  });

  describe.each(databases.eachSupportedId())('on %p', databaseId => {
    let knex: Knex;
    let clock: FakeClock;
    let store: DatabaseBackupStore;

    beforeEach(async () => {
      knex = await migratedKnex(databaseId);
      clock = new FakeClock();
      store = DatabaseBackupStore.fromKnex(knex, { now: clock.now, databaseNow: clock.now });
    });

    it('create() migrates the schema unless migrations are skipped', async () => {
      const fresh = await databases.init(databaseId);
      await DatabaseBackupStore.create({
        database: { getClient: async () => fresh, migrations: { skip: true } },
      });
      expect(await fresh.schema.hasTable('backup_run')).toBe(false);
      expect(await fresh.schema.hasTable('backup_item')).toBe(false);

      const migrating = await DatabaseBackupStore.create({
        database: { getClient: async () => fresh },
      });
      expect(await fresh.schema.hasTable('backup_run')).toBe(true);
      const run = await migrating.createRun(newRun(['a']));
      expect((await migrating.getRun(run.id))!.items).toHaveLength(1);
    });

    it('creates a run with queued items and maps rows to the API types', async () => {
      const run = await store.createRun({
        cluster: 'kube-sim',
        destination: 'adhoc:scp',
        requestedBy: 'user:default/alice',
        items: [
          { namespace: 'payments', pvc: 'data-db-0', entityRef: 'component:default/payments' },
          { namespace: 'shop', pvc: 'uploads' },
        ],
      });

      expect(run).toEqual({
        id: expect.stringMatching(UUID),
        status: 'queued',
        cluster: 'kube-sim',
        destination: 'adhoc:scp',
        requestedBy: 'user:default/alice',
        createdAt: clock.iso(),
        items: [
          {
            id: expect.stringMatching(UUID),
            runId: run.id,
            cluster: 'kube-sim',
            namespace: 'payments',
            pvc: 'data-db-0',
            status: 'queued',
            bytes: null,
            sha256: null,
            archiveUri: null,
            error: null,
            helperPod: null,
            node: null,
            startedAt: null,
            finishedAt: null,
            requestedBy: 'user:default/alice',
            progress: null,
            entityRef: 'component:default/payments',
            destination: 'adhoc:scp',
            claimedBy: null,
            leaseExpiresAt: null,
          },
          expect.objectContaining({ namespace: 'shop', pvc: 'uploads', entityRef: null }),
        ],
      });
      expectCamelCaseOnly(run);
      run.items.forEach(expectCamelCaseOnly);

      expect(await store.getRun(run.id)).toEqual(run);
      expect(await store.getItem(run.items[1].id)).toEqual(run.items[1]);
      expect(await store.getRun(randomUUID())).toBeUndefined();
      expect(await store.getItem(randomUUID())).toBeUndefined();
      await expect(store.createRun(newRun([]))).rejects.toThrow(/at least one volume/);
    });

    it('round-trips sizes above 2^32, ISO timestamps and progress', async () => {
      const run = await store.createRun(newRun(['big']));
      clock.advance(1_000);
      const claimed = (await store.claimNextItem('worker-1', 60_000))!;
      expect(claimed.startedAt).toBe(clock.iso());
      expect(claimed.progress).toEqual({ bytes: 0, bytesPerSecond: 0 });

      await store.updateRunningItem(claimed.id, 'worker-1', {
        helperPod: 'nkvm-backup-abc',
        node: 'node-2',
      });
      clock.advance(4_000);
      await store.updateRunningItem(claimed.id, 'worker-1', { progressBytes: 6_000_000_000 });
      const running = (await store.getItem(claimed.id))!;
      expect(running.helperPod).toBe('nkvm-backup-abc');
      expect(running.node).toBe('node-2');
      expect(running.progress).toEqual({ bytes: 6_000_000_000, bytesPerSecond: 1_500_000_000 });

      const bytes = 2 ** 40 + 7;
      clock.advance(1_000);
      expect(await store.finishItem(claimed.id, 'worker-1', succeeded(bytes))).toBe(true);
      const done = (await store.getItem(claimed.id))!;
      expect(done.bytes).toBe(bytes);
      expect(typeof done.bytes).toBe('number');
      expect(done.startedAt).toBe(new Date(T0 + 1_000).toISOString());
      expect(done.finishedAt).toBe(clock.iso());
      expect(done.startedAt).toMatch(ISO);
      expect(done.progress).toBeNull();
      expect(done.leaseExpiresAt).toBeNull();
      expect(done.claimedBy).toBe('worker-1');
      expect((await store.getRun(run.id))!.createdAt).toBe(new Date(T0).toISOString());
    });

    it('claims the oldest queued item first, in request order, with a lease', async () => {
      const pvcs = ['p0', 'p1', 'p2', 'p3', 'p4'];
      const older = await store.createRun(newRun(pvcs));
      clock.advance(1_000);
      const newer = await store.createRun(newRun(['later']));

      const claimedPvcs: string[] = [];
      for (let i = 0; i < 6; i++) {
        clock.advance(10);
        const item = (await store.claimNextItem(`worker-${i}`, 30_000))!;
        expect(item).toMatchObject({
          status: 'running',
          claimedBy: `worker-${i}`,
          startedAt: clock.iso(),
          leaseExpiresAt: clock.iso(30_000),
        });
        claimedPvcs.push(item.pvc);
      }
      expect(claimedPvcs).toEqual([...pvcs, 'later']);
      expect(await store.claimNextItem('worker-x', 30_000)).toBeUndefined();
      expect((await store.getRun(older.id))!.status).toBe('running');
      expect((await store.getRun(newer.id))!.status).toBe('running');
      expect(await store.liveItemIds()).toHaveLength(6);
      await expect(store.claimNextItem('w'.repeat(65), 1)).rejects.toThrow(/Worker ids/);
    });

    it('derives the run status from its items as they move', async () => {
      const run = await store.createRun(newRun(['a', 'b', 'c']));
      expect(await runRow(knex, run.id)).toEqual({ status: 'queued', finished: false });

      const a = (await store.claimNextItem('w1', 60_000))!;
      expect(await runRow(knex, run.id)).toEqual({ status: 'running', finished: false });
      await store.finishItem(a.id, 'w1', succeeded());
      // One finished, two still queued: the run is under way.
      expect(await runRow(knex, run.id)).toEqual({ status: 'running', finished: false });

      const b = (await store.claimNextItem('w1', 60_000))!;
      const c = (await store.claimNextItem('w2', 60_000))!;
      await store.finishItem(b.id, 'w1', succeeded());
      expect(await runRow(knex, run.id)).toEqual({ status: 'running', finished: false });
      clock.advance(5_000);
      await store.finishItem(c.id, 'w2', succeeded());
      expect(await runRow(knex, run.id)).toEqual({ status: 'succeeded', finished: true });
      const finishedAt = (await knex('backup_run').where({ id: run.id }).first()).finished_at;
      expect(new Date(typeof finishedAt === 'string' ? Number(finishedAt) : finishedAt).toISOString()).toBe(
        clock.iso(),
      );

      const failing = await store.createRun(newRun(['x', 'y']));
      const x = (await store.claimNextItem('w1', 60_000))!;
      const y = (await store.claimNextItem('w2', 60_000))!;
      await store.finishItem(x.id, 'w1', { status: 'failed', error: 'tar exited with 2' });
      expect(await runRow(knex, failing.id)).toEqual({ status: 'running', finished: false });
      await store.finishItem(y.id, 'w2', succeeded());
      expect(await runRow(knex, failing.id)).toEqual({ status: 'failed', finished: true });
      expect((await store.getItem(x.id))!.error).toBe('tar exited with 2');
      expect((await store.getRun(failing.id))!.status).toBe('failed');

      await expect(
        store.finishItem(x.id, 'w1', { status: 'succeeded', bytes: 1 } as ItemResult),
      ).rejects.toThrow(/sha256/);
    });

    it('refuses updates from a worker that does not hold the item', async () => {
      const run = await store.createRun(newRun(['a']));
      const item = (await store.claimNextItem('w1', 10_000))!;

      expect(await store.finishItem(item.id, 'w2', succeeded())).toBe(false);
      expect(await store.renewLease(item.id, 'w2', 999_000)).toBe(false);
      await store.updateRunningItem(item.id, 'w2', { helperPod: 'intruder', progressBytes: 5 });
      const unchanged = (await store.getItem(item.id))!;
      expect(unchanged).toMatchObject({
        status: 'running',
        claimedBy: 'w1',
        helperPod: null,
        leaseExpiresAt: clock.iso(10_000),
        progress: { bytes: 0, bytesPerSecond: 0 },
      });
      expect((await store.getRun(run.id))!.status).toBe('running');

      clock.advance(5_000);
      expect(await store.renewLease(item.id, 'w1', 10_000)).toBe(true);
      expect((await store.getItem(item.id))!.leaseExpiresAt).toBe(clock.iso(10_000));
      expect(await store.finishItem(item.id, 'w1', succeeded())).toBe(true);
      // Finished: it is nobody's any more.
      expect(await store.finishItem(item.id, 'w1', { status: 'failed', error: 'late' })).toBe(false);
      expect(await store.renewLease(item.id, 'w1', 10_000)).toBe(false);
      expect((await store.getItem(item.id))!.status).toBe('succeeded');
      expect(await store.finishItem(randomUUID(), 'w1', succeeded())).toBe(false);
    });

    it('cancels queued items, flags running ones, and claims skip cancelled runs', async () => {
      const run = await store.createRun(newRun(['a', 'b', 'c']));
      const running = (await store.claimNextItem('w1', 60_000))!;
      clock.advance(1_000);

      const cancelled = (await store.cancelRun(run.id))!;
      expect(cancelled.status).toBe('running');
      expect(cancelled.items.map(i => [i.pvc, i.status])).toEqual([
        ['a', 'running'],
        ['b', 'cancelled'],
        ['c', 'cancelled'],
      ]);
      expect(cancelled.items[1].finishedAt).toBe(clock.iso());
      expect(await store.isCancelRequested(run.id)).toBe(true);
      expect(await store.isCancelRequested(randomUUID())).toBe(false);
      expect(await store.cancelRun(randomUUID())).toBeUndefined();

      const other = await store.createRun(newRun(['d']));
      expect(await store.isCancelRequested(other.id)).toBe(false);
      expect((await store.claimNextItem('w2', 60_000))!.runId).toBe(other.id);
      expect(await store.claimNextItem('w2', 60_000)).toBeUndefined();

      // The worker notices the flag and stops its item.
      expect(await store.finishItem(running.id, 'w1', { status: 'cancelled' })).toBe(true);
      expect(await runRow(knex, run.id)).toEqual({ status: 'cancelled', finished: true });

      // A run flagged while items are still queued (e.g. mid-cancel) is never claimed from.
      const flagged = await store.createRun(newRun(['e']));
      await knex('backup_run').where({ id: flagged.id }).update({ cancel_requested: true });
      expect(await store.claimNextItem('w3', 60_000)).toBeUndefined();
      expect((await store.getItem(flagged.items[0].id))!.status).toBe('queued');
    });

    it('marks items whose lease expired as interrupted', async () => {
      const run = await store.createRun(newRun(['a', 'b']));
      const a = (await store.claimNextItem('w1', 10_000))!;
      const b = (await store.claimNextItem('w2', 60_000))!;
      expect((await store.liveItemIds()).sort()).toEqual([a.id, b.id].sort());
      const leaseOfA = a.leaseExpiresAt;

      clock.advance(5_000);
      expect(await store.interruptExpiredItems()).toEqual([]);
      clock.advance(25_000);
      const interrupted = await store.interruptExpiredItems();
      expect(interrupted).toHaveLength(1);
      expect(interrupted[0]).toMatchObject({
        id: a.id,
        status: 'interrupted',
        finishedAt: clock.iso(),
        claimedBy: 'w1',
        progress: null,
        error: `The backend replica running this backup stopped (lease expired at ${leaseOfA}); the archive was not completed`,
      });
      expect(await store.liveItemIds()).toEqual([b.id]);
      expect(await runRow(knex, run.id)).toEqual({ status: 'running', finished: false });

      // The dead replica's late result is dropped.
      expect(await store.finishItem(a.id, 'w1', succeeded())).toBe(false);
      expect((await store.getItem(a.id))!.status).toBe('interrupted');
      expect(await store.interruptExpiredItems()).toEqual([]);

      await store.finishItem(b.id, 'w2', succeeded());
      expect(await runRow(knex, run.id)).toEqual({ status: 'interrupted', finished: true });
    });

    it('lists items newest first, filtered, in cursor pages without duplicates or gaps', async () => {
      const all: StoredItem[] = [];
      for (let r = 0; r < 6; r++) {
        clock.advance(1_000);
        const run = await store.createRun({
          cluster: r % 2 === 0 ? 'c1' : 'c2',
          destination: 'local',
          requestedBy: 'user:default/bob',
          items: Array.from({ length: 7 }, (_, i) => ({
            namespace: i % 2 === 0 ? 'ns-a' : 'ns-b',
            pvc: `pvc-${i}`,
            entityRef: `component:default/svc-${i % 3}`,
          })),
        });
        all.push(...run.items);
      }
      // Fail a few items so there is something to filter by status.
      const failedIds = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const item = (await store.claimNextItem('w', 60_000))!;
        await store.finishItem(item.id, 'w', { status: 'failed', error: 'boom' });
        failedIds.add(item.id);
      }

      const queuedAtOf = new Map<string, number>();
      for (const item of all) {
        const run = (await store.getRun(item.runId))!;
        queuedAtOf.set(item.id, Date.parse(run.createdAt));
      }
      const newestFirst = (items: { id: string }[]) =>
        [...items]
          .sort((x, y) => queuedAtOf.get(y.id)! - queuedAtOf.get(x.id)! || (x.id < y.id ? 1 : -1))
          .map(i => i.id);

      async function pages(filter: Omit<Parameters<typeof store.listItems>[0], 'cursor'>) {
        const ids: string[] = [];
        let cursor: string | undefined;
        let pageCount = 0;
        do {
          const page = await store.listItems({ ...filter, cursor });
          expect(page.items.length).toBeLessThanOrEqual(filter.limit);
          ids.push(...page.items.map(i => i.id));
          cursor = page.nextCursor ?? undefined;
          pageCount += 1;
        } while (cursor);
        expect(new Set(ids).size).toBe(ids.length);
        return { ids, pageCount };
      }

      const everything = await pages({ limit: 4 });
      expect(everything.ids).toEqual(newestFirst(all));
      expect(everything.pageCount).toBe(Math.ceil(all.length / 4));

      const c1 = await pages({ limit: 5, cluster: 'c1' });
      expect(c1.ids).toEqual(newestFirst(all.filter(i => i.cluster === 'c1')));

      const nsB = await pages({ limit: 3, cluster: 'c2', namespace: 'ns-b' });
      expect(nsB.ids).toEqual(
        newestFirst(all.filter(i => i.cluster === 'c2' && i.namespace === 'ns-b')),
      );

      const onePvc = await pages({ limit: 2, pvc: 'pvc-3' });
      expect(onePvc.ids).toEqual(newestFirst(all.filter(i => i.pvc === 'pvc-3')));

      const failed = await pages({ limit: 2, status: 'failed' });
      expect(failed.ids).toEqual(newestFirst(all.filter(i => failedIds.has(i.id))));

      const refs = ['component:default/svc-0', 'component:default/svc-2'];
      const byEntity = await pages({ limit: 6, entityRefs: refs });
      expect(byEntity.ids).toEqual(newestFirst(all.filter(i => refs.includes(i.entityRef!))));

      expect(await store.listItems({ limit: 10, entityRefs: [] })).toEqual({
        items: [],
        nextCursor: null,
      });
      const none = await store.listItems({ limit: 10, cluster: 'nope' });
      expect(none).toEqual({ items: [], nextCursor: null });

      const exact = await store.listItems({ limit: all.length });
      expect(exact.items).toHaveLength(all.length);
      expect(exact.nextCursor).toBeNull();

      await expect(store.listItems({ limit: 10, cursor: 'not-a-cursor' })).rejects.toThrow(
        /Invalid cursor/,
      );
    });

    it('caps the page size at 500', async () => {
      await store.createRun(newRun(Array.from({ length: 501 }, (_, i) => `pvc-${i}`)));
      const page = await store.listItems({ limit: 10_000 });
      expect(page.items).toHaveLength(500);
      expect(page.nextCursor).not.toBeNull();
      const rest = await store.listItems({ limit: 10_000, cursor: page.nextCursor! });
      expect(rest.items).toHaveLength(1);
      expect(rest.nextCursor).toBeNull();
    });

    it('answers lastSuccessfulBackups and lastStatuses for many PVCs in a constant number of queries', async () => {
      // 1,100 PVCs in c1 (and the same names in c2, which must not leak into c1's answers).
      const count = 1_100;
      const runId = randomUUID();
      await knex('backup_run').insert({
        id: runId,
        cluster: 'c1',
        destination: 'local',
        requested_by: 'user:default/alice',
        created_at: new Date(T0),
        status: 'running',
        cancel_requested: false,
      });
      type Seed = {
        cluster: string;
        pvc: string;
        status: BackupStatus;
        at: number;
        bytes?: number;
      };
      const seeds: Seed[] = [];
      for (let i = 0; i < count; i++) {
        const pvc = `pvc-${i}`;
        if (i % 5 !== 0) {
          // An older and a newer success.
          seeds.push({ cluster: 'c1', pvc, status: 'succeeded', at: T0, bytes: 1 });
          seeds.push({ cluster: 'c1', pvc, status: 'succeeded', at: T0 + 60_000 + i, bytes: 2 ** 33 + i });
        }
        if (i % 3 === 0) {
          // A later attempt that failed.
          seeds.push({ cluster: 'c1', pvc, status: 'failed', at: T0 + 120_000 });
        }
        if (i % 7 === 0) {
          seeds.push({ cluster: 'c1', pvc, status: 'queued', at: T0 + 180_000 });
        }
        seeds.push({ cluster: 'c2', pvc, status: 'succeeded', at: T0 + 999_000, bytes: 3 });
      }
      const rows = seeds.map(s => ({
        id: randomUUID(),
        run_id: runId,
        cluster: s.cluster,
        namespace: 'ns',
        pvc: s.pvc,
        status: s.status,
        bytes: s.bytes ?? null,
        sha256: s.status === 'succeeded' ? SHA : null,
        archive_uri: s.status === 'succeeded' ? `file:///b/${s.pvc}-${s.at}.tar.gz` : null,
        requested_by: 'user:default/alice',
        queued_at: new Date(s.at),
        started_at: s.status === 'queued' ? null : new Date(s.at),
        finished_at: s.status === 'queued' ? null : new Date(s.at),
      }));
      for (let i = 0; i < rows.length; i += 100) {
        await knex('backup_item').insert(rows.slice(i, i + 100));
      }
      const idOf = new Map(rows.map(r => [`${r.cluster}/${r.pvc}/${r.queued_at.getTime()}/${r.status}`, r.id]));

      const keys: PvcKey[] = Array.from({ length: count }, (_, i) => ({
        cluster: 'c1',
        namespace: 'ns',
        pvc: `pvc-${i}`,
      }));
      keys.push({ cluster: 'c1', namespace: 'ns', pvc: 'never-backed-up' });

      const expectedQueries = Math.ceil(keys.length / KEYS_PER_QUERY);
      expect(expectedQueries).toBe(3);

      const last = await countQueries(knex, () => store.lastSuccessfulBackups(keys));
      expect(last.queries).toBe(expectedQueries);
      const expectedLast = new Map<string, LastBackup>();
      for (let i = 0; i < count; i++) {
        // Every fifth PVC never succeeded in c1 (only in c2, which was not asked for).
        if (i % 5 === 0) continue;
        const at = T0 + 60_000 + i;
        expectedLast.set(`c1/ns/pvc-${i}`, {
          runId,
          itemId: idOf.get(`c1/pvc-${i}/${at}/succeeded`)!,
          finishedAt: new Date(at).toISOString(),
          bytes: 2 ** 33 + i,
          sha256: SHA,
          archiveUri: `file:///b/pvc-${i}-${at}.tar.gz`,
        });
      }
      expect(expectedLast.size).toBe(count - count / 5);
      expect(last.result).toEqual(expectedLast);

      const statuses = await countQueries(knex, () => store.lastStatuses(keys));
      expect(statuses.queries).toBe(expectedQueries);
      const expectedStatuses = new Map<string, BackupStatus>();
      for (let i = 0; i < count; i++) {
        let expected: BackupStatus | undefined = i % 5 !== 0 ? 'succeeded' : undefined;
        if (i % 3 === 0) expected = 'failed';
        if (i % 7 === 0) expected = 'queued';
        if (expected) expectedStatuses.set(`c1/ns/pvc-${i}`, expected);
      }
      // pvc-5, pvc-10, … (no history in c1) have no status; the other cluster's items never count.
      expect(expectedStatuses.size).toBeLessThan(count);
      expect(statuses.result).toEqual(expectedStatuses);

      // Few keys: still one query each, and the other cluster answers for itself.
      const few = [{ cluster: 'c2', namespace: 'ns', pvc: 'pvc-0' }, keys[1]];
      const small = await countQueries(knex, () => store.lastSuccessfulBackups(few));
      expect(small.queries).toBe(1);
      expect(small.result.get('c2/ns/pvc-0')!.bytes).toBe(3);
      expect(small.result.get('c1/ns/pvc-1')!.bytes).toBe(2 ** 33 + 1);
      const smallStatuses = await countQueries(knex, () => store.lastStatuses(few));
      expect(smallStatuses.queries).toBe(1);
      expect(smallStatuses.result.get('c2/ns/pvc-0')).toBe('succeeded');

      expect((await countQueries(knex, () => store.lastSuccessfulBackups([]))).queries).toBe(0);
    });

    it('lets two replicas race over 50 items: each item is claimed exactly once', async () => {
      // Two replicas, as two store instances. On PostgreSQL each has its own knex client (its
      // own connection pool) to the same database. SQLite is single-process only: the two
      // replicas share its one connection (two better-sqlite3 connections in one process would
      // block each other's event loop on any lock wait).
      let otherKnex: Knex | undefined;
      if (databaseId.startsWith('POSTGRES')) {
        otherKnex = knexFactory({
          client: knex.client.config.client,
          connection: knex.client.config.connection,
          pool: { min: 0, max: 5 },
        });
      }
      try {
        const replicas = [
          DatabaseBackupStore.fromKnex(knex),
          DatabaseBackupStore.fromKnex(otherKnex ?? knex),
        ];
        const runs: string[] = [];
        for (let r = 0; r < 5; r++) {
          const run = await replicas[0].createRun(
            newRun(Array.from({ length: 10 }, (_, i) => `pvc-${r}-${i}`)),
          );
          runs.push(run.id);
        }

        // A small random pause: none, a turn of the event loop, or 1-2 ms. (Only timer sleeps
        // would let each SQLite claim run start to finish inside one timer callback.)
        const jitter = async () => {
          const r = Math.random();
          if (r < 0.3) return;
          if (r < 0.6) await new Promise(resolve => setImmediate(resolve));
          else await sleep(1 + Math.random());
        };

        const workerLoop = async (replica: DatabaseBackupStore, workerId: string) => {
          const claimed: string[] = [];
          // The first claims of all loops start at the same instant; later ones are jittered.
          for (let round = 0; ; round++) {
            if (round > 0) await jitter();
            const item = await replica.claimNextItem(workerId, 60_000);
            if (!item) {
              return claimed;
            }
            expect(item.claimedBy).toBe(workerId);
            claimed.push(item.id);
            await jitter();
            expect(await replica.finishItem(item.id, workerId, succeeded())).toBe(true);
          }
        };

        // Two worker loops per replica, all four at once.
        const workerIds = ['replica-a-1', 'replica-a-2', 'replica-a-3', 'replica-b-1', 'replica-b-2', 'replica-b-3'];
        const results = await Promise.all(
          workerIds.map((workerId, i) => workerLoop(replicas[i < 3 ? 0 : 1], workerId)),
        );

        const union = results.flat();
        expect(union).toHaveLength(50);
        expect(new Set(union).size).toBe(50);
        // Both replicas took part.
        expect(results[0].length + results[1].length + results[2].length).toBeGreaterThan(0);
        expect(results[3].length + results[4].length + results[5].length).toBeGreaterThan(0);

        const rows: { id: string; status: string; claimed_by: string }[] = await knex(
          'backup_item',
        ).select('id', 'status', 'claimed_by');
        expect(rows).toHaveLength(50);
        expect(new Set(rows.map(r => r.id))).toEqual(new Set(union));
        for (const row of rows) {
          expect(row.status).toBe('succeeded');
          const owner = workerIds[results.findIndex(ids => ids.includes(row.id))];
          expect(row.claimed_by).toBe(owner);
        }
        // Runs whose last items finished concurrently on both replicas still ended correctly.
        for (const runId of runs) {
          expect(await runRow(knex, runId)).toEqual({ status: 'succeeded', finished: true });
        }
      } finally {
        await otherKnex?.destroy();
      }
    });
  });
});
