/*
 * A one-off destination's spec (its credentials) lives in the memory of the replica that took
 * the request. It must go on every path by which its items end without that replica running
 * them: cancelled through another replica, or interrupted by another replica after the lease
 * ran out. Otherwise every such run leaks a spec for the life of the process.
 */
import { mockServices } from '@backstage/backend-test-utils';
import { createTestDatabases } from '../../__testUtils__/testDatabases';
import { DatabaseBackupStore } from '../../database/DatabaseBackupStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from '../../database/migrateBackupStore';
import { ArchiveSinkRegistry } from '../ArchiveSinks/ArchiveSinkRegistry';
import { LocalArchiveSink } from '../ArchiveSinks/LocalArchiveSink';
import type { RemoteDestination } from '../ArchiveSinks/remoteDestination';
import type { BackupExecutor } from '../BackupExecutor/BackupExecutor';
import { BackupWorker } from './BackupWorker';

jest.setTimeout(60_000);
const databases = createTestDatabases();

const spec: RemoteDestination = {
  id: 'adhoc:ftp',
  type: 'ftp',
  host: '127.0.0.1',
  port: 2121,
  username: 'backup',
  password: 'secret-password',
  remoteDir: 'backups',
  keepLocalCopy: false,
};

async function until(check: () => boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise(r => setTimeout(r, 25));
  }
}

describe.each(databases.eachSupportedId())('held one-off destinations on %p', databaseId => {
  async function setup(leaseMs: number) {
    const knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
    const logger = mockServices.logger.mock();
    const sinks = new ArchiveSinkRegistry({
      localSink: new LocalArchiveSink('/nonexistent-backup-dir'),
      configured: [],
      extra: [],
      retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1, timeoutMs: 1000 },
      logger,
      backupDir: '/nonexistent-backup-dir',
    });
    const executor = {
      run: jest.fn(async () => {
        throw new Error('no item of these tests may run');
      }),
    } as unknown as BackupExecutor;
    const store = DatabaseBackupStore.fromKnex(knex);
    const worker = new BackupWorker({
      store,
      executor,
      sinkFor: item => sinks.sinkFor(item),
      adHocItemIds: () => sinks.adHocItemIds(),
      onItemDone: item => sinks.release(item.id),
      onHeldItemGone: id => sinks.release(id),
      cleanupHelper: async () => {},
      logger,
      concurrency: 1,
      leaseMs,
      pollMs: 50,
    });
    const otherReplica = DatabaseBackupStore.fromKnex(knex);
    const created = await store.createRun({
      cluster: 'sim',
      destination: 'adhoc:ftp',
      requestedBy: 'user:default/alice',
      items: [{ namespace: 'ns', pvc: 'a' }, { namespace: 'ns', pvc: 'b' }],
      holder: { workerId: worker.workerId, leaseMs },
    });
    sinks.registerAdHoc(created.items.map(i => i.id), spec);
    /** Starts the worker and waits until it has released every held spec, without running any item. */
    async function expectReleased() {
      worker.start();
      try {
        await until(() => sinks.adHocItemIds().length === 0);
      } finally {
        await worker.stop();
      }
      expect(executor.run).not.toHaveBeenCalled();
    }
    return { sinks, otherReplica, created, expectReleased };
  }

  it('releases the spec when another replica cancels the run', async () => {
    const { sinks, otherReplica, created, expectReleased } = await setup(60_000);
    expect(sinks.adHocItemIds()).toHaveLength(2);
    await otherReplica.cancelRun(created.id);
    await expectReleased();
  });

  it('releases the spec when another replica interrupts its items after the lease ran out', async () => {
    const { sinks, otherReplica, created, expectReleased } = await setup(300);
    expect(sinks.adHocItemIds()).toHaveLength(2);
    await new Promise(r => setTimeout(r, 600));
    expect((await otherReplica.interruptExpiredItems()).map(i => i.runId)).toEqual([created.id, created.id]);
    await expectReleased();
  });
});
