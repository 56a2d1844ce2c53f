/*
 * Fixtures for the restore store tests: recorded backups made through the real backup store
 * (create, claim, finish), and restore requests for them.
 */
import type { ExistingPvcRestoreTarget, RestoreTarget } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import type { BackupStore, PvcKey, StoredItem } from '../database/BackupStore';
import { BACKUP_STORE_MIGRATIONS_DIR } from '../database/migrateBackupStore';
import type { NewRestore } from '../database/RestoreStore';
import type { TestDatabases, TestDatabaseId } from './testDatabases';

export const SHA = 'b'.repeat(64);
export const T0 = Date.parse('2026-12-05T05:00:00.000Z');

export class FakeClock {
  t = T0;
  now = () => new Date(this.t);
  advance(ms: number) {
    this.t += ms;
  }
  iso(offsetMs = 0) {
    return new Date(this.t + offsetMs).toISOString();
  }
}

export async function migratedKnex(databases: TestDatabases, id: TestDatabaseId): Promise<Knex> {
  const knex = await databases.init(id);
  await knex.migrate.latest({ directory: BACKUP_STORE_MIGRATIONS_DIR });
  return knex;
}

/**
 * A finished backup of one PVC, recorded through the backup store. Nothing else may be
 * claimable at the time (the claim must take this item).
 */
export async function recordBackup(
  backups: BackupStore,
  pvc: Partial<PvcKey> & { pvc: string },
  options: { status?: 'succeeded' | 'failed'; entityRef?: string } = {},
): Promise<StoredItem> {
  const run = await backups.createRun({
    cluster: pvc.cluster ?? 'kube-sim',
    destination: 'local',
    requestedBy: 'user:default/alice',
    items: [{ namespace: pvc.namespace ?? 'payments', pvc: pvc.pvc, entityRef: options.entityRef }],
  });
  const claimed = await backups.claimNextItem('fixture-backup-worker', 60_000);
  if (claimed?.id !== run.items[0].id) {
    throw new Error(`recordBackup claimed ${claimed?.id} instead of ${run.items[0].id}`);
  }
  const finished = await backups.finishItem(
    claimed.id,
    'fixture-backup-worker',
    options.status === 'failed'
      ? { status: 'failed', error: 'tar exited 2' }
      : {
          status: 'succeeded',
          bytes: 1234,
          sha256: SHA,
          archiveUri: `file:///backups/${pvc.pvc}/${claimed.id}.tar.gz`,
        },
  );
  if (!finished) throw new Error('recordBackup could not finish its item');
  return (await backups.getItem(claimed.id))!;
}

/** A restore of `item` into an existing PVC (by default the backed-up PVC itself). */
export function restoreInto(
  item: StoredItem,
  overrides: {
    target?: RestoreTarget;
    entityRef?: string | null;
    requestedBy?: string;
  } = {},
): NewRestore {
  const target: RestoreTarget =
    overrides.target ??
    ({
      type: 'existingPvc',
      cluster: item.cluster,
      namespace: item.namespace,
      name: item.pvc,
      mode: 'replace',
      confirm: item.pvc,
      safetyBackup: true,
    } satisfies ExistingPvcRestoreTarget);
  const name = target.name ?? `${item.pvc}-restore-0001`;
  return {
    item,
    target,
    targetPvc: { cluster: target.cluster, namespace: target.namespace, pvc: name },
    ownership: 'preserve',
    entityRef: overrides.entityRef === undefined ? null : overrides.entityRef,
    requestedBy: overrides.requestedBy ?? 'user:default/alice',
  };
}
