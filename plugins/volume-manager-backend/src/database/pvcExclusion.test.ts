/*
 * One operation per PVC, across replicas: a backup and a restore of the same PVC, or two
 * restores, never run at once. Only the safety backup a restore takes of its own target gets
 * past its restore.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError } from '@backstage/errors';
import knexFactory, { type Knex } from 'knex';
import { migratedKnex, recordBackup, restoreInto } from '../__testUtils__/restoreFixtures';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import type { NewRun } from './BackupStore';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { DatabaseRestoreStore } from './DatabaseRestoreStore';

jest.setTimeout(180_000);

const databases = createTestDatabases();

const succeeded = {
  status: 'succeeded',
  bytes: 10,
  sha256: 'c'.repeat(64),
  archiveUri: 'file:///backups/x.tar.gz',
} as const;

function runOf(pvcs: string[], overrides: Partial<NewRun> = {}): NewRun {
  return {
    cluster: 'kube-sim',
    destination: 'local',
    requestedBy: 'user:default/alice',
    items: pvcs.map(pvc => ({ namespace: 'payments', pvc })),
    ...overrides,
  };
}

/** Running backup items plus running restores, per PVC (`namespace/pvc`). */
async function runningPerPvc(knex: Knex): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const items: { namespace: string; pvc: string }[] = await knex('backup_item')
    .where('status', 'running')
    .select('namespace', 'pvc');
  const restores: { namespace: string; pvc: string }[] = await knex('restores')
    .whereIn('phase', ['verifying', 'preflight', 'restoring'])
    .select({ namespace: 'target_namespace', pvc: 'target_name' });
  for (const r of [...items, ...restores]) {
    const key = `${r.namespace}/${r.pvc}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('one operation per PVC', () => {
  it('runs on both SQLite and PostgreSQL', () => {
    expect(databases.eachSupportedId().map(([id]) => id)).toEqual(['SQLITE_3', 'POSTGRES_15']);
  });

  describe.each(databases.eachSupportedId())('on %p', databaseId => {
    let knex: Knex;
    let backups: DatabaseBackupStore;
    let restores: DatabaseRestoreStore;

    beforeEach(async () => {
      knex = await migratedKnex(databases, databaseId);
      backups = DatabaseBackupStore.fromKnex(knex);
      restores = DatabaseRestoreStore.fromKnex(knex);
    });

    it('holds back backups of a PVC a restore is writing, except its own safety backup', async () => {
      const item = await recordBackup(backups, { pvc: 'data' });
      const restore = await restores.createRestore(restoreInto(item));
      const elsewhere = await restores.createRestore(
        restoreInto(await recordBackup(backups, { pvc: 'other' })),
      );

      // A queued restore holds nothing yet.
      const early = await backups.createRun(runOf(['data']));
      expect((await backups.claimNextItem('bw', 60_000))!.id).toBe(early.items[0].id);
      // ...and cannot start while that backup runs.
      expect((await restores.claimNextRestore('rw', 60_000))!.id).toBe(elsewhere.id);
      expect(await restores.claimNextRestore('rw', 60_000)).toBeUndefined();
      expect(await backups.finishItem(early.items[0].id, 'bw', succeeded)).toBe(true);
      expect((await restores.claimNextRestore('rw', 60_000))!.id).toBe(restore.id);

      // Now the restore runs on payments/data. Twelve backups of it (more than one claim
      // attempt reads), a backup of another PVC, one marked as the safety backup of another
      // restore, and the restore's own safety backup.
      const blocked = await backups.createRun(runOf(Array.from({ length: 12 }, () => 'data')));
      const free = await backups.createRun(runOf(['free']));
      const wrongSafety = await backups.createRun(runOf(['data'], { forRestoreId: elsewhere.id }));
      const safety = await backups.createRun(runOf(['data'], { forRestoreId: restore.id }));
      await restores.updateRestore(restore.id, 'rw', { phase: 'preflight', safetyBackupRunId: safety.id });

      const first = await backups.claimNextItem('bw', 60_000);
      const second = await backups.claimNextItem('bw', 60_000);
      expect(new Set([first!.id, second!.id])).toEqual(new Set([free.items[0].id, safety.items[0].id]));
      expect(await backups.claimNextItem('bw', 60_000)).toBeUndefined();
      expect((await backups.getItem(wrongSafety.items[0].id))!.status).toBe('queued');

      // A restore in any running phase holds the PVC.
      await backups.finishItem(safety.items[0].id, 'bw', succeeded);
      await restores.updateRestore(restore.id, 'rw', { phase: 'restoring' });
      expect(await backups.claimNextItem('bw', 60_000)).toBeUndefined();

      // Finished: the backups go.
      expect(await restores.finishRestore(restore.id, 'rw', { phase: 'succeeded' })).toBe(true);
      const next = await backups.claimNextItem('bw', 60_000);
      expect([...blocked.items, ...wrongSafety.items].map(i => i.id)).toContain(next!.id);
      // And while that backup runs, no restore of the PVC starts.
      const again = await restores.createRestore({
        ...restoreInto(item, { target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments', name: 'data' } }),
      });
      expect(await restores.claimNextRestore('rw', 60_000)).toBeUndefined();
      await backups.finishItem(next!.id, 'bw', succeeded);
      // The backup that was queued next is claimed before the restore polls: then the restore
      // still waits; once no backup of the PVC runs, it starts.
      await backups.cancelRun(blocked.id);
      await backups.cancelRun(wrongSafety.id);
      expect((await restores.claimNextRestore('rw', 60_000))!.id).toBe(again.id);
    });

    it('claims a restore behind ones that wait for their PVC', async () => {
      const waiting = [];
      for (let i = 0; i < 12; i++) {
        const item = await recordBackup(backups, { pvc: `busy-${i}` });
        waiting.push(await restores.createRestore(restoreInto(item, {
          target: { type: 'newPvc', cluster: 'kube-sim', namespace: 'payments', name: `busy-${i}-copy` },
        })));
      }
      const ready = await restores.createRestore(restoreInto(await recordBackup(backups, { pvc: 'ready' })));
      // Backups of the twelve targets run.
      const run = await backups.createRun(runOf(waiting.map(r => r.targetPvc!.name)));
      for (let i = 0; i < 12; i++) expect(await backups.claimNextItem('bw', 60_000)).toBeDefined();
      expect((await restores.claimNextRestore('rw', 60_000))!.id).toBe(ready.id);
      expect(await restores.claimNextRestore('rw', 60_000)).toBeUndefined();
      await backups.finishItem(run.items[3].id, 'bw', succeeded);
      expect((await restores.claimNextRestore('rw', 60_000))!.id).toBe(waiting[3].id);
    });

    describe('two replicas at once', () => {
      let otherKnex: Knex | undefined;
      let replicas: { backups: DatabaseBackupStore; restores: DatabaseRestoreStore }[];

      beforeEach(() => {
        // On PostgreSQL each replica has its own knex (its own pool) on the same database.
        // SQLite is single-process: the replicas share its one connection.
        otherKnex = databaseId.startsWith('POSTGRES')
          ? knexFactory({
              client: knex.client.config.client,
              connection: knex.client.config.connection,
              pool: { min: 0, max: 5 },
            })
          : undefined;
        replicas = [knex, otherKnex ?? knex].map(k => ({
          backups: DatabaseBackupStore.fromKnex(k),
          restores: DatabaseRestoreStore.fromKnex(k),
        }));
      });

      afterEach(async () => {
        await otherKnex?.destroy();
      });

      it('lets only one of many simultaneous restores into one PVC be created', async () => {
        const item = await recordBackup(backups, { pvc: 'data' });
        const results = await Promise.allSettled(
          Array.from({ length: 12 }, (_, i) => replicas[i % 2].restores.createRestore(restoreInto(item))),
        );
        const created = results.filter(r => r.status === 'fulfilled');
        const refused = results.flatMap(r => (r.status === 'rejected' ? [r.reason] : []));
        expect(created).toHaveLength(1);
        expect(refused).toHaveLength(11);
        for (const reason of refused) expect(reason).toBeInstanceOf(ConflictError);
        const [{ n }] = await knex('restores').count({ n: '*' });
        expect(Number(n)).toBe(1);
      });

      it('never runs a backup and a restore of one PVC together while both replicas claim at once', async () => {
        const PVCS = 16;
        const ROUNDS = 4;
        const pvcs = Array.from({ length: PVCS }, (_, i) => `vol-${i}`);
        const items = [];
        for (const pvc of pvcs) items.push(await recordBackup(backups, { pvc }));
        let restoresClaimed = 0;
        let itemsClaimed = 0;

        for (let round = 0; round < ROUNDS; round++) {
          // Per PVC a queued restore (created first: an existing target refuses a restore while
          // a backup waits) and a queued backup item, claimed in the same PVC order by both.
          for (const item of items) await restores.createRestore(restoreInto(item));
          await backups.createRun(runOf(pvcs));

          const claimLoop = async (claim: () => Promise<unknown>) => {
            let n = 0;
            for (;;) {
              const claimed = await claim();
              if (!claimed) return n;
              n++;
              if (Math.random() < 0.5) await new Promise(resolve => setImmediate(resolve));
            }
          };
          // Nothing finishes while they claim: whatever two claims let through stays running.
          const claims = await Promise.all(
            replicas.flatMap((replica, r) => [
              claimLoop(() => replica.restores.claimNextRestore(`restore-worker-${r}`, 60_000)),
              claimLoop(() => replica.backups.claimNextItem(`backup-worker-${r}`, 60_000)),
              claimLoop(() => replica.restores.claimNextRestore(`restore-worker-${r}b`, 60_000)),
              claimLoop(() => replica.backups.claimNextItem(`backup-worker-${r}b`, 60_000)),
            ]),
          );
          const perPvc = await runningPerPvc(knex);
          expect([...perPvc.values()].filter(n => n > 1)).toEqual([]);
          expect(perPvc.size).toBe(PVCS);
          expect(claims.reduce((a, b) => a + b, 0)).toBe(PVCS);

          // Finish what runs; the other half then runs, again one per PVC.
          const finishAll = async () => {
            const running: { id: string; claimed_by: string }[] = await knex('restores')
              .whereIn('phase', ['verifying', 'preflight', 'restoring'])
              .select('id', 'claimed_by');
            for (const r of running) {
              expect(await restores.finishRestore(r.id, r.claimed_by, { phase: 'succeeded' })).toBe(true);
            }
            const runningItems: { id: string; claimed_by: string }[] = await knex('backup_item')
              .where('status', 'running')
              .select('id', 'claimed_by');
            for (const i of runningItems) {
              expect(await backups.finishItem(i.id, i.claimed_by, succeeded)).toBe(true);
            }
            restoresClaimed += running.length;
            itemsClaimed += runningItems.length;
          };
          await finishAll();
          const rest = await Promise.all(
            replicas.flatMap((replica, r) => [
              claimLoop(() => replica.restores.claimNextRestore(`restore-worker-${r}`, 60_000)),
              claimLoop(() => replica.backups.claimNextItem(`backup-worker-${r}`, 60_000)),
            ]),
          );
          expect(rest.reduce((a, b) => a + b, 0)).toBe(PVCS);
          expect([...(await runningPerPvc(knex)).values()].filter(n => n > 1)).toEqual([]);
          await finishAll();
          await sleep(1);
        }
        // Every restore and every backup ran, once.
        expect(restoresClaimed).toBe(PVCS * ROUNDS);
        expect(itemsClaimed).toBe(PVCS * ROUNDS);
        const [{ n }] = await knex('restores').whereNot('phase', 'succeeded').count({ n: '*' });
        expect(Number(n)).toBe(0);
      });
    });
  });
});
