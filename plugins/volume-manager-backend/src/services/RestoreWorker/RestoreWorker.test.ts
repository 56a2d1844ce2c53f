/*
 * The RestoreWorker over the real stores (SQLite): what it records for each way a restore ends,
 * and its safety backup, which goes through the backup store like any backup. The executor is a
 * script here (the data path is tested against kube-sim in RestoreExecutor and tests/restore*);
 * what is under test is the worker's bookkeeping.
 */
import { mockServices } from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import { DatabaseBackupStore } from '../../database/DatabaseBackupStore';
import { DatabaseRestoreStore } from '../../database/DatabaseRestoreStore';
import type { StoredRestore } from '../../database/RestoreStore';
import { migratedKnex, recordBackup, restoreInto } from '../../__testUtils__/restoreFixtures';
import { createTestDatabases } from '../../__testUtils__/testDatabases';
import type { ArchiveSink } from '../ArchiveSinks/types';
import { RestoreCancelledError, type RestoreExecutor, type RestoreHooks } from '../RestoreExecutor/types';
import { RestoreWorker } from './RestoreWorker';

jest.setTimeout(60_000);
const databases = createTestDatabases();

describe('RestoreWorker', () => {
  let knex: Knex;
  let backups: DatabaseBackupStore;
  let restores: DatabaseRestoreStore;
  let worker: RestoreWorker | undefined;
  let cleanedUp: string[];

  beforeEach(async () => {
    knex = await migratedKnex(databases, 'SQLITE_3');
    backups = DatabaseBackupStore.fromKnex(knex);
    restores = DatabaseRestoreStore.fromKnex(knex);
    cleanedUp = [];
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });

  /** A worker whose executor runs `script`, and whose backup path ends each backup `outcome`. */
  function startWorker(
    script: (restore: StoredRestore, hooks: RestoreHooks) => Promise<void>,
    outcome: 'succeeded' | 'failed' = 'succeeded',
  ) {
    const executor: RestoreExecutor = {
      run: async (restore, _sink, hooks) => {
        await script(restore, hooks);
        return { entries: 1, uncompressedBytes: 1 };
      },
      cleanup: async restore => {
        cleanedUp.push(restore.id);
      },
    };
    worker = new RestoreWorker({
      store: restores,
      executor,
      sinkFor: () => ({ id: 'local', type: 'local' }) as unknown as ArchiveSink,
      backups: {
        store: backups,
        // The backup worker, reduced to its outcome: claim the safety backup and finish it.
        kick: () => {
          setTimeout(async () => {
            const item = await backups.claimNextItem('backup-worker', 60_000);
            if (!item) return;
            await backups.finishItem(
              item.id,
              'backup-worker',
              outcome === 'succeeded'
                ? { status: 'succeeded', bytes: 1, sha256: 'c'.repeat(64), archiveUri: 'file:///safety.tar.gz' }
                : { status: 'failed', error: 'tar exited 2' },
            );
          }, 200);
        },
        abort: () => false,
      },
      logger: mockServices.logger.mock(),
      concurrency: 1,
      leaseMs: 4000,
      pollMs: 100,
    });
    worker.start();
  }

  async function ended(id: string): Promise<StoredRestore> {
    for (let i = 0; i < 200; i++) {
      const restore = (await restores.getRestore(id))!;
      if (['succeeded', 'failed', 'canceled', 'interrupted'].includes(restore.phase)) return restore;
      await new Promise(r => setTimeout(r, 50));
    }
    throw new Error(`restore ${id} did not end`);
  }

  it('takes the safety backup through the backup store and records its run', async () => {
    const item = await recordBackup(backups, { pvc: 'db' }, { entityRef: 'component:default/db' });
    const restore = await restores.createRestore(restoreInto(item, { entityRef: 'component:default/db', requestedBy: 'user:default/carol' }));
    let runId: string | undefined;
    startWorker(async (_r, hooks) => {
      hooks.onPhase('preflight');
      runId = await hooks.safetyBackup();
    });
    const done = await ended(restore.id);
    expect(done).toMatchObject({ phase: 'succeeded', safetyBackupRunId: runId });
    const run = (await backups.getRun(runId!))!;
    expect(run).toMatchObject({ destination: 'local', requestedBy: 'user:default/carol' });
    expect(run.items).toEqual([
      expect.objectContaining({ namespace: 'payments', pvc: 'db', status: 'succeeded', entityRef: 'component:default/db' }),
    ]);
  });

  it('fails the restore, writing nothing, when its safety backup fails', async () => {
    const item = await recordBackup(backups, { pvc: 'db' });
    const restore = await restores.createRestore(restoreInto(item));
    let wrote = false;
    startWorker(async (_r, hooks) => {
      await hooks.safetyBackup();
      wrote = true;
    }, 'failed');
    const done = await ended(restore.id);
    expect(done.phase).toBe('failed');
    expect(done.error).toMatch(/safety backup of 'payments\/db' \(run .+\) ended failed: tar exited 2; nothing was written/);
    expect(wrote).toBe(false);
  });

  it('records a cancel as canceled, and the executor\'s reason as failed', async () => {
    const item = await recordBackup(backups, { pvc: 'db' });
    const slow = await restores.createRestore(restoreInto(item));
    startWorker(
      (_r, hooks) =>
        new Promise((_resolve, reject) => {
          hooks.onPhase('restoring');
          hooks.signal.addEventListener('abort', () => reject(new RestoreCancelledError()));
        }),
    );
    for (let i = 0; i < 100 && (await restores.getRestore(slow.id))!.phase !== 'restoring'; i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    await restores.cancelRestore(slow.id);
    expect(await ended(slow.id)).toMatchObject({ phase: 'canceled', error: expect.stringMatching(/Canceled/) });
    await worker!.stop();

    const other = await recordBackup(backups, { pvc: 'other' });
    const refused = await restores.createRestore(restoreInto(other));
    startWorker(async () => {
      throw new Error('The target is too small');
    });
    expect(await ended(refused.id)).toMatchObject({ phase: 'failed', error: 'The target is too small' });
  });

  it('interrupts and cleans up what runs when the worker stops (backend shutdown)', async () => {
    const item = await recordBackup(backups, { pvc: 'db' });
    const restore = await restores.createRestore(restoreInto(item));
    startWorker(
      (_r, hooks) =>
        new Promise((_resolve, reject) => {
          hooks.onHelperPod('nkvm-restore-x');
          hooks.signal.addEventListener('abort', () => reject(new RestoreCancelledError()));
        }),
    );
    for (let i = 0; i < 100 && (await restores.getRestore(restore.id))!.helperPod === null; i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    await worker!.stop();
    expect(await restores.getRestore(restore.id)).toMatchObject({ phase: 'interrupted', error: expect.stringMatching(/stopped/) });
    expect(cleanedUp).toEqual([restore.id]);
  });
});
