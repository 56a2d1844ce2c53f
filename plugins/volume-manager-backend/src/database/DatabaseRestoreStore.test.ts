import { ConflictError, InputError } from '@backstage/errors';
import type { Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import {
  FakeClock,
  SHA,
  migratedKnex,
  recordBackup,
  restoreInto,
} from '../__testUtils__/restoreFixtures';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import type { StoredItem } from './BackupStore';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { DatabaseRestoreStore, MAX_RESTORE_PAGE_SIZE } from './DatabaseRestoreStore';
import type { StoredRestore } from './RestoreStore';

jest.setTimeout(120_000);

const databases = createTestDatabases();

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every field of the API's Restore, and the stored extras: the mapping leaves none out. */
const RESTORE_KEYS: (keyof Restore)[] = [
  'id',
  'phase',
  'itemId',
  'source',
  'target',
  'targetPvc',
  'ownership',
  'entityRef',
  'requestedBy',
  'createdAt',
  'startedAt',
  'finishedAt',
  'bytesDone',
  'bytesTotal',
  'entries',
  'uncompressedBytes',
  'checks',
  'safetyBackupRunId',
  'helperPod',
  'error',
];
const STORED_KEYS = [...RESTORE_KEYS, 'claimedBy', 'leaseExpiresAt', 'cancelRequested', 'createdPvc'];

describe('DatabaseRestoreStore', () => {
  it('runs on both SQLite and PostgreSQL', () => {
    expect(databases.eachSupportedId().map(([id]) => id)).toEqual(['SQLITE_3', 'POSTGRES_15']);
  });

  describe.each(databases.eachSupportedId())('on %p', databaseId => {
    let knex: Knex;
    let clock: FakeClock;
    let backups: DatabaseBackupStore;
    let store: DatabaseRestoreStore;

    beforeEach(async () => {
      knex = await migratedKnex(databases, databaseId);
      clock = new FakeClock();
      backups = DatabaseBackupStore.fromKnex(knex, { now: clock.now, databaseNow: clock.now });
      store = DatabaseRestoreStore.fromKnex(knex, { now: clock.now, databaseNow: clock.now });
    });

    it('create() migrates the schema unless migrations are skipped', async () => {
      const fresh = await databases.init(databaseId);
      await DatabaseRestoreStore.create({
        database: { getClient: async () => fresh, migrations: { skip: true } },
      });
      expect(await fresh.schema.hasTable('restores')).toBe(false);
      await DatabaseRestoreStore.create({ database: { getClient: async () => fresh } });
      expect(await fresh.schema.hasTable('restores')).toBe(true);
      expect(await fresh.schema.hasColumn('backup_run', 'for_restore_id')).toBe(true);
    });

    it('creates a queued restore and maps the row to the API shape', async () => {
      const item = await recordBackup(backups, { pvc: 'data-db-0' }, { entityRef: 'component:default/payments' });
      clock.advance(1000);
      const restore = await store.createRestore({
        ...restoreInto(item, { entityRef: 'component:default/payments-copy' }),
        target: {
          type: 'newPvc',
          cluster: 'kube-sim',
          namespace: 'payments-copy',
          size: '2Gi',
          accessModes: ['ReadWriteOnce'],
          // Not a RestoreTarget field: never stored.
          ...({ password: 'hunter2' } as object),
        },
        targetPvc: { cluster: 'kube-sim', namespace: 'payments-copy', pvc: 'data-db-0-restore-1a2b' },
        ownership: 'workload',
      });

      expect(Object.keys(restore).sort()).toEqual([...STORED_KEYS].sort());
      expect(restore).toEqual<StoredRestore>({
        id: expect.stringMatching(UUID),
        phase: 'queued',
        itemId: item.id,
        source: {
          cluster: 'kube-sim',
          namespace: 'payments',
          pvc: 'data-db-0',
          archiveUri: item.archiveUri!,
          sha256: SHA,
          destination: 'local',
        },
        target: {
          type: 'newPvc',
          cluster: 'kube-sim',
          namespace: 'payments-copy',
          size: '2Gi',
          accessModes: ['ReadWriteOnce'],
        },
        targetPvc: { cluster: 'kube-sim', namespace: 'payments-copy', name: 'data-db-0-restore-1a2b' },
        ownership: 'workload',
        entityRef: 'component:default/payments-copy',
        requestedBy: 'user:default/alice',
        createdAt: clock.iso(),
        startedAt: null,
        finishedAt: null,
        bytesDone: 0,
        bytesTotal: null,
        entries: null,
        uncompressedBytes: null,
        checks: [],
        safetyBackupRunId: null,
        helperPod: null,
        error: null,
        claimedBy: null,
        leaseExpiresAt: null,
        cancelRequested: false,
        createdPvc: false,
      });
      expect(await store.getRestore(restore.id)).toEqual(restore);
      expect(await store.getRestore('00000000-0000-4000-8000-000000000000')).toBeUndefined();
      const raw = await knex('restores').where({ id: restore.id }).first();
      expect(JSON.stringify(raw)).not.toContain('hunter2');
    });

    it('refuses to restore from a backup that did not succeed, or into a mismatched target', async () => {
      const failed = await recordBackup(backups, { pvc: 'a' }, { status: 'failed' });
      await expect(store.createRestore(restoreInto(failed))).rejects.toThrow(InputError);
      await expect(store.createRestore(restoreInto(failed))).rejects.toThrow(/is failed; only a succeeded/);

      const ok = await recordBackup(backups, { pvc: 'b' });
      const request = restoreInto(ok);
      await expect(
        store.createRestore({ ...request, targetPvc: { ...request.targetPvc, pvc: 'other' } }),
      ).rejects.toThrow(InputError);
      await expect(
        store.createRestore({ ...request, targetPvc: { ...request.targetPvc, namespace: 'kube-system' } }),
      ).rejects.toThrow(InputError);
      const [{ n }] = await knex('restores').count({ n: '*' });
      expect(Number(n)).toBe(0);
    });

    it('allows one unfinished restore per target PVC, and none into a PVC with a backup waiting', async () => {
      const item = await recordBackup(backups, { pvc: 'data' });
      const first = await store.createRestore(restoreInto(item));

      // A second restore into the same PVC: 409 while the first is queued or running.
      await expect(store.createRestore(restoreInto(item))).rejects.toThrow(ConflictError);
      await expect(store.createRestore(restoreInto(item))).rejects.toThrow(
        /payments\/data on cluster kube-sim already has a restore queued/,
      );
      const newPvcSameName = restoreInto(item, {
        target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments', name: 'data' },
      });
      await expect(store.createRestore(newPvcSameName)).rejects.toThrow(ConflictError);
      expect(await store.claimNextRestore('w1', 60_000)).toMatchObject({ id: first.id, phase: 'verifying' });
      await expect(store.createRestore(restoreInto(item))).rejects.toThrow(ConflictError);
      // Another PVC of the same name in another namespace is another target.
      const elsewhere = await store.createRestore(
        restoreInto(item, {
          target: { type: 'existingPvc', cluster: 'kube-sim', namespace: 'shop', name: 'data', mode: 'merge', confirm: 'data' },
        }),
      );
      expect(elsewhere.phase).toBe('queued');

      // Once it finished, the PVC takes a new restore.
      expect(await store.finishRestore(first.id, 'w1', { phase: 'failed', error: 'sha256 mismatch' })).toBe(true);
      const second = await store.createRestore(restoreInto(item));
      expect(second.phase).toBe('queued');
      await store.cancelRestore(second.id);

      // A queued backup item of an existing target PVC: 409, naming the run.
      const run = await backups.createRun({
        cluster: 'kube-sim',
        destination: 'local',
        requestedBy: 'user:default/bob',
        items: [{ namespace: 'payments', pvc: 'data' }],
      });
      await expect(store.createRestore(restoreInto(item))).rejects.toThrow(
        new RegExp(`has a backup queued \\(run ${run.id}\\)`),
      );
      // Running: still 409.
      expect((await backups.claimNextItem('bw', 60_000))!.id).toBe(run.items[0].id);
      await expect(store.createRestore(restoreInto(item))).rejects.toThrow(/has a backup running/);
      // A new PVC is not held by backups of an existing one of another name.
      const copy = await store.createRestore(
        restoreInto(item, { target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments', name: 'data-copy' } }),
      );
      expect(copy.targetPvc).toEqual({ cluster: 'kube-sim', namespace: 'payments', name: 'data-copy' });
      // Finished backups no longer hold the PVC.
      await backups.finishItem(run.items[0].id, 'bw', { status: 'failed', error: 'x' });
      expect((await store.createRestore(restoreInto(item))).phase).toBe('queued');
    });

    it('claims the oldest claimable restore with a lease by the database clock', async () => {
      const a = await recordBackup(backups, { pvc: 'a' });
      const b = await recordBackup(backups, { pvc: 'b' });
      const first = await store.createRestore(restoreInto(a));
      clock.advance(10);
      const second = await store.createRestore(restoreInto(b));

      clock.advance(5000);
      const claimed = await store.claimNextRestore('worker-1', 30_000);
      expect(claimed).toMatchObject({
        id: first.id,
        phase: 'verifying',
        startedAt: clock.iso(),
        claimedBy: 'worker-1',
        leaseExpiresAt: clock.iso(30_000),
      });
      expect((await store.claimNextRestore('worker-2', 30_000))!.id).toBe(second.id);
      expect(await store.claimNextRestore('worker-3', 30_000)).toBeUndefined();

      await expect(store.claimNextRestore('', 1000)).rejects.toThrow(/Worker ids/);
      await expect(store.claimNextRestore('x'.repeat(65), 1000)).rejects.toThrow(/Worker ids/);
    });

    it('records progress, checks and the helper only for the worker holding the restore', async () => {
      const item = await recordBackup(backups, { pvc: 'data' });
      const restore = await store.createRestore(restoreInto(item));
      await store.claimNextRestore('worker-1', 60_000);

      await store.updateRestore(restore.id, 'worker-1', {
        phase: 'restoring',
        bytesDone: 6_000_000_000,
        bytesTotal: 7_000_000_000,
        entries: 120_000,
        uncompressedBytes: 9_000_000_000,
        checks: [
          { name: 'sha256', ok: true, message: 'matches the record and the sidecar' },
          { name: 'tar-scan', ok: true, message: '120000 entries', ...({ extra: 'dropped' } as object) },
        ],
        helperPod: 'nkvm-restore-abc',
        createdPvc: true,
        safetyBackupRunId: 'run-1',
      });
      // Another worker's writes change nothing.
      await store.updateRestore(restore.id, 'worker-2', { bytesDone: 1, helperPod: 'evil' });
      expect(await store.renewRestoreLease(restore.id, 'worker-2', 60_000)).toBe(false);
      expect(await store.finishRestore(restore.id, 'worker-2', { phase: 'succeeded' })).toBe(false);

      expect(await store.getRestore(restore.id)).toMatchObject({
        phase: 'restoring',
        bytesDone: 6_000_000_000,
        bytesTotal: 7_000_000_000,
        entries: 120_000,
        uncompressedBytes: 9_000_000_000,
        checks: [
          { name: 'sha256', ok: true, message: 'matches the record and the sidecar' },
          { name: 'tar-scan', ok: true, message: '120000 entries' },
        ],
        helperPod: 'nkvm-restore-abc',
        createdPvc: true,
        safetyBackupRunId: 'run-1',
      });
      await expect(
        store.updateRestore(restore.id, 'worker-1', { phase: 'succeeded' as 'restoring' }),
      ).rejects.toThrow(/cannot move/);
      await expect(
        store.finishRestore(restore.id, 'worker-1', { phase: 'restoring' as 'failed' }),
      ).rejects.toThrow(/cannot finish/);

      clock.advance(2000);
      expect(await store.renewRestoreLease(restore.id, 'worker-1', 60_000)).toBe(true);
      expect((await store.getRestore(restore.id))!.leaseExpiresAt).toBe(clock.iso(60_000));
      await store.updateRestore(restore.id, 'worker-1', { helperPod: null, bytesTotal: null });
      clock.advance(1000);
      expect(await store.finishRestore(restore.id, 'worker-1', { phase: 'succeeded' })).toBe(true);
      const done = (await store.getRestore(restore.id))!;
      expect(done).toMatchObject({
        phase: 'succeeded',
        finishedAt: clock.iso(),
        helperPod: null,
        bytesTotal: null,
        error: null,
        leaseExpiresAt: null,
      });
      expect(done.startedAt).toMatch(ISO);
      // Finished: no more writes, even from its worker.
      expect(await store.finishRestore(restore.id, 'worker-1', { phase: 'failed' })).toBe(false);
      await store.updateRestore(restore.id, 'worker-1', { bytesDone: 1 });
      expect((await store.getRestore(restore.id))!.bytesDone).toBe(6_000_000_000);
    });

    it('cancels a queued restore at once and flags a running one', async () => {
      const a = await recordBackup(backups, { pvc: 'a' });
      const b = await recordBackup(backups, { pvc: 'b' });
      const running = await store.createRestore(restoreInto(a));
      clock.advance(10);
      const queued = await store.createRestore(restoreInto(b));
      expect((await store.claimNextRestore('worker-1', 60_000))!.id).toBe(running.id);

      clock.advance(10);
      expect(await store.cancelRestore(queued.id)).toMatchObject({
        phase: 'canceled',
        finishedAt: clock.iso(),
        cancelRequested: true,
      });
      // Never claimed afterwards.
      expect(await store.claimNextRestore('worker-2', 60_000)).toBeUndefined();

      expect(await store.isRestoreCancelRequested(running.id)).toBe(false);
      expect(await store.cancelRestore(running.id)).toMatchObject({
        phase: 'verifying',
        finishedAt: null,
        cancelRequested: true,
      });
      expect(await store.isRestoreCancelRequested(running.id)).toBe(true);
      expect(await store.finishRestore(running.id, 'worker-1', { phase: 'canceled', error: 'The restore was canceled' })).toBe(true);

      // Finished restores stay as they were; unknown ids are undefined.
      const finished = await store.getRestore(running.id);
      expect(await store.cancelRestore(running.id)).toEqual(finished);
      expect(await store.cancelRestore('00000000-0000-4000-8000-000000000000')).toBeUndefined();
      expect(await store.isRestoreCancelRequested('00000000-0000-4000-8000-000000000000')).toBe(false);
    });

    it('interrupts restores whose lease expired by the database clock, and only those', async () => {
      const a = await recordBackup(backups, { pvc: 'a' });
      const b = await recordBackup(backups, { pvc: 'b' });
      const dying = await store.createRestore(restoreInto(a));
      clock.advance(10);
      const alive = await store.createRestore(restoreInto(b));
      await store.claimNextRestore('replica-a', 30_000);
      await store.claimNextRestore('replica-b', 30_000);
      expect(await store.liveRestoreIds()).toEqual([dying.id, alive.id].sort());

      clock.advance(20_000);
      expect(await store.renewRestoreLease(alive.id, 'replica-b', 30_000)).toBe(true);
      expect(await store.interruptExpiredRestores()).toEqual([]);
      clock.advance(15_000);

      const interrupted = await store.interruptExpiredRestores();
      expect(interrupted.map(r => r.id)).toEqual([dying.id]);
      expect(interrupted[0]).toMatchObject({
        phase: 'interrupted',
        finishedAt: clock.iso(),
        claimedBy: 'replica-a',
      });
      expect(interrupted[0].error).toMatch(/lease expired at 2026-12-05T05:00:30\.\d{3}Z/);
      expect(await store.liveRestoreIds()).toEqual([alive.id]);
      // The dead replica's late writes are dropped.
      expect(await store.finishRestore(dying.id, 'replica-a', { phase: 'succeeded' })).toBe(false);
      expect(await store.renewRestoreLease(dying.id, 'replica-a', 30_000)).toBe(false);
      expect((await store.getRestore(dying.id))!.phase).toBe('interrupted');
      expect(await store.interruptExpiredRestores()).toEqual([]);
      // An interrupted restore no longer holds its PVC.
      expect((await store.createRestore(restoreInto(a))).phase).toBe('queued');
    });

    it('uses the database clock, not the replica clock, for leases', async () => {
      // No databaseNow: the real database clock. The replica's clock is a day ahead.
      const skewed = DatabaseRestoreStore.fromKnex(knex, { now: () => new Date(Date.now() + 86_400_000) });
      const item = await recordBackup(backups, { pvc: 'a' });
      const restore = await skewed.createRestore(restoreInto(item));
      await skewed.claimNextRestore('replica-a', 60_000);
      expect(await skewed.interruptExpiredRestores()).toEqual([]);
      expect(await skewed.liveRestoreIds()).toEqual([restore.id]);
      const lease = Date.parse((await skewed.getRestore(restore.id))!.leaseExpiresAt!);
      expect(Math.abs(lease - (Date.now() + 60_000))).toBeLessThan(10_000);
    });

    it('lists restores newest first, filtered, in cursor pages without duplicates or gaps', async () => {
      const items: StoredItem[] = [];
      for (const pvc of ['p0', 'p1', 'p2']) {
        items.push(await recordBackup(backups, { pvc }, { entityRef: `component:default/${pvc}` }));
      }
      const created: StoredRestore[] = [];
      for (let i = 0; i < 12; i++) {
        // Groups of three share a created time: the id breaks the tie.
        if (i % 3 === 0) clock.advance(1000);
        const item = items[i % 3];
        const r = await store.createRestore(
          restoreInto(item, {
            target: { type: 'newPvc', cluster: 'kube-sim', namespace: `copies-${i % 2}`, name: `copy-${i}` },
            entityRef: i % 4 === 0 ? 'component:default/copies' : null,
          }),
        );
        created.push(r);
      }
      const expected = [...created]
        .sort((x, y) => (x.createdAt === y.createdAt ? (x.id < y.id ? 1 : -1) : x.createdAt < y.createdAt ? 1 : -1))
        .map(r => r.id);

      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listRestores({ limit: 5, cursor });
        seen.push(...page.items.map(r => r.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(seen).toEqual(expected);
      expect(pages).toBe(3);

      // A restore created while paging does not shift later pages.
      const firstPage = await store.listRestores({ limit: 4 });
      clock.advance(1000);
      await store.createRestore(
        restoreInto(items[0], { target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'late', name: 'late' } }),
      );
      const secondPage = await store.listRestores({ limit: 4, cursor: firstPage.nextCursor! });
      expect(secondPage.items.map(r => r.id)).toEqual(expected.slice(4, 8));

      // Entities: the target's or the source's.
      const byTarget = await store.listRestores({ limit: 50, entityRefs: ['component:default/copies'] });
      expect(byTarget.items.map(r => r.id).sort()).toEqual(
        created.filter((_, i) => i % 4 === 0).map(r => r.id).sort(),
      );
      const bySource = await store.listRestores({ limit: 50, entityRefs: ['component:default/p1'] });
      expect(bySource.items.map(r => r.id).sort()).toEqual(
        created.filter((_, i) => i % 3 === 1).map(r => r.id).sort(),
      );
      expect((await store.listRestores({ limit: 50, entityRefs: [] })).items).toEqual([]);
      expect((await store.listRestores({ limit: 50, entityRefs: ['component:default/none'] })).items).toEqual([]);

      // A PVC's history: restores into it or from it.
      const intoCopy3 = await store.listRestores({ limit: 50, namespace: 'copies-1', pvc: 'copy-3' });
      expect(intoCopy3.items.map(r => r.id)).toEqual([created[3].id]);
      const fromP2 = await store.listRestores({ limit: 50, cluster: 'kube-sim', namespace: 'payments', pvc: 'p2' });
      expect(fromP2.items.map(r => r.id).sort()).toEqual(created.filter((_, i) => i % 3 === 2).map(r => r.id).sort());
      expect((await store.listRestores({ limit: 50, cluster: 'other' })).items).toEqual([]);

      // The page size is capped, and a forged cursor is a 400.
      expect((await store.listRestores({ limit: 0 })).items).toHaveLength(1);
      await expect(store.listRestores({ limit: 5, cursor: 'not-a-cursor' })).rejects.toThrow(InputError);
      await expect(
        store.listRestores({ limit: 5, cursor: Buffer.from('["x","y"]').toString('base64url') }),
      ).rejects.toThrow(InputError);
      expect(MAX_RESTORE_PAGE_SIZE).toBe(500);
    });

    it('caps the page size at 500', async () => {
      const item = await recordBackup(backups, { pvc: 'p' });
      const rows = Array.from({ length: 501 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        item_id: item.id,
        source_cluster: 'kube-sim',
        source_namespace: 'payments',
        source_pvc: 'p',
        source_archive_uri: 'file:///x',
        source_sha256: SHA,
        source_destination: 'local',
        target: JSON.stringify({ type: 'newPvc', cluster: 'kube-sim', namespace: 'n' }),
        target_cluster: 'kube-sim',
        target_namespace: 'n',
        target_name: `copy-${i}`,
        ownership: 'preserve',
        requested_by: 'user:default/alice',
        phase: 'succeeded',
        created_at: clock.now(),
        checks: '[]',
      }));
      for (let i = 0; i < rows.length; i += 50) await knex('restores').insert(rows.slice(i, i + 50));
      const page = await store.listRestores({ limit: 10_000 });
      expect(page.items).toHaveLength(500);
      expect(page.nextCursor).not.toBeNull();
      expect((await store.listRestores({ limit: 10_000, cursor: page.nextCursor! })).items).toHaveLength(1);
    });

    it('picks the newest succeeded backup of that PVC only, not newer than asOf', async () => {
      expect(await store.newestSucceededItem({ cluster: 'kube-sim', namespace: 'payments', pvc: 'db' })).toBeUndefined();
      clock.advance(1000);
      const old = await recordBackup(backups, { pvc: 'db' });
      clock.advance(1000);
      const chosen = await recordBackup(backups, { pvc: 'db' });
      const asOf = clock.now();
      clock.advance(1000);
      // Newer, but each wrong: a failed one of the PVC, and succeeded ones of other PVCs
      // (another name, the same name in another namespace and in another cluster).
      await recordBackup(backups, { pvc: 'db' }, { status: 'failed' });
      await recordBackup(backups, { pvc: 'db-0' });
      await recordBackup(backups, { namespace: 'shop', pvc: 'db' });
      await recordBackup(backups, { cluster: 'other', pvc: 'db' });
      // One still running (never finished) is not a candidate either.
      await backups.createRun({ cluster: 'kube-sim', destination: 'local', requestedBy: 'u', items: [{ namespace: 'payments', pvc: 'db' }] });
      await backups.claimNextItem('bw', 60_000);

      const key = { cluster: 'kube-sim', namespace: 'payments', pvc: 'db' };
      expect((await store.newestSucceededItem(key))?.id).toBe(chosen.id);
      expect((await store.newestSucceededItem(key, asOf))?.id).toBe(chosen.id);
      expect((await store.newestSucceededItem(key, new Date(asOf.getTime() - 1)))?.id).toBe(old.id);
      expect(await store.newestSucceededItem(key, new Date(Date.parse(old.finishedAt!) - 1))).toBeUndefined();
      const found = (await store.newestSucceededItem(key))!;
      expect(found).toEqual(await backups.getItem(chosen.id));
      expect(found).toMatchObject({ status: 'succeeded', sha256: SHA, destination: 'local' });
      await expect(store.newestSucceededItem(key, new Date(Number.NaN))).rejects.toThrow(InputError);
    });
  });
});
