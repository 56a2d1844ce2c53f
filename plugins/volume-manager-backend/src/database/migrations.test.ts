import type { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';

const databases = createTestDatabases();

async function tableNames(knex: Knex): Promise<string[]> {
  const client = knex.client.config.client;
  if (client === 'pg') {
    const rows = await knex('information_schema.tables')
      .where({ table_schema: 'public' })
      .select<{ table_name: string }[]>('table_name');
    return rows.map(r => r.table_name).sort();
  }
  const rows = await knex('sqlite_master')
    .where({ type: 'table' })
    .select<{ name: string }[]>('name');
  return rows.map(r => r.name).sort();
}

async function itemIndexNames(knex: Knex): Promise<string[]> {
  if (knex.client.config.client === 'pg') {
    const rows = await knex('pg_indexes').where({ tablename: 'backup_item' }).select<{ indexname: string }[]>('indexname');
    return rows.map(r => r.indexname).sort();
  }
  const rows = await knex('sqlite_master')
    .where({ type: 'index', tbl_name: 'backup_item' })
    .select<{ name: string }[]>('name');
  return rows.map(r => r.name).sort();
}

const FAIR_SHARE_INDEXES = [
  'backup_item_entity_status_idx',
  'backup_item_requester_started_idx',
  'backup_item_requester_status_idx',
];

describe('migrations', () => {
  it('runs on both SQLite and PostgreSQL', () => {
    expect(databases.eachSupportedId().map(([id]) => id)).toEqual([
      'SQLITE_3',
      'POSTGRES_15',
    ]);
  });

  it.each(databases.eachSupportedId())('go up, keep data, and go down on %p', async id => {
    const knex = await databases.init(id);
    const config = { directory: BACKUP_STORE_MIGRATIONS_DIR };

    await knex.migrate.latest(config);
    expect(await tableNames(knex)).toEqual(
      expect.arrayContaining(['backup_item', 'backup_run', 'restores', 'volume_manager_setting']),
    );

    const now = new Date();
    await knex('backup_run').insert({
      id: 'run-1',
      cluster: 'kube-sim',
      destination: 'local',
      requested_by: 'user:default/alice',
      created_at: now,
      status: 'queued',
    });
    await knex('backup_item').insert({
      id: 'item-1',
      run_id: 'run-1',
      cluster: 'kube-sim',
      namespace: 'payments',
      pvc: 'data-payments-db-0',
      status: 'succeeded',
      bytes: 5_000_000_000,
      sha256: 'a'.repeat(64),
      requested_by: 'user:default/alice',
      queued_at: now,
    });

    // Running the migrations again is a no-op that keeps the data.
    await knex.migrate.latest(config);
    const item = await knex('backup_item').where({ id: 'item-1' }).first();
    expect(item.pvc).toBe('data-payments-db-0');
    // Sizes above 2^32 survive (bigint comes back as a string on PostgreSQL).
    expect(Number(item.bytes)).toBe(5_000_000_000);

    // Items belong to their run: deleting the run deletes them.
    await knex('backup_run').where({ id: 'run-1' }).delete();
    const [{ n }] = await knex('backup_item').count({ n: '*' });
    expect(Number(n)).toBe(0);

    // The fair-sharing migration adds its indexes and takes them away again on its own.
    expect(await itemIndexNames(knex)).toEqual(expect.arrayContaining(FAIR_SHARE_INDEXES));
    await knex.migrate.down({ ...config, name: '20261204_fair_share.js' });
    const afterDown = await itemIndexNames(knex);
    expect(afterDown.filter(name => FAIR_SHARE_INDEXES.includes(name))).toEqual([]);
    expect(afterDown).toContain('backup_item_status_idx');
    await knex.migrate.up({ ...config, name: '20261204_fair_share.js' });
    expect(await itemIndexNames(knex)).toEqual(expect.arrayContaining(FAIR_SHARE_INDEXES));

    // The restores migration: its table, the safety-backup marker on runs, and at most one
    // unfinished restore per target PVC, enforced by the database itself.
    await knex('backup_run').insert({
      id: 'run-2',
      cluster: 'kube-sim',
      destination: 'local',
      requested_by: 'user:default/alice',
      created_at: now,
      status: 'queued',
      for_restore_id: 'restore-1',
    });
    const restoreRow = (id: string, phase: string) => ({
      id,
      item_id: 'item-1',
      source_cluster: 'kube-sim',
      source_namespace: 'payments',
      source_pvc: 'data-payments-db-0',
      source_archive_uri: 'file:///backups/x.tar.gz',
      source_sha256: 'a'.repeat(64),
      source_destination: 'local',
      target: JSON.stringify({ type: 'existingPvc', cluster: 'kube-sim', namespace: 'payments', name: 'data' }),
      target_cluster: 'kube-sim',
      target_namespace: 'payments',
      target_name: 'data',
      ownership: 'preserve',
      requested_by: 'user:default/alice',
      phase,
      created_at: now,
      bytes_total: 6_000_000_000,
      checks: '[]',
    });
    await knex('backup_item').insert({
      id: 'item-2',
      run_id: 'run-2',
      cluster: 'kube-sim',
      namespace: 'payments',
      pvc: 'data',
      status: 'queued',
      requested_by: 'user:default/alice',
      queued_at: now,
    });
    await knex('restores').insert(restoreRow('restore-1', 'restoring'));
    await knex('restores').insert(restoreRow('restore-0', 'succeeded'));
    await expect(knex('restores').insert(restoreRow('restore-2', 'queued'))).rejects.toThrow(/unique/i);
    const restore = await knex('restores').where({ id: 'restore-1' }).first();
    expect(Number(restore.bytes_total)).toBe(6_000_000_000);
    expect(Number(restore.bytes_done)).toBe(0);
    expect(restore.created_pvc === false || restore.created_pvc === 0).toBe(true);
    expect((await knex('backup_run').where({ id: 'run-2' }).first()).for_restore_id).toBe('restore-1');

    await knex.migrate.down({ ...config, name: '20261205_restores.js' });
    expect(await tableNames(knex)).not.toContain('restores');
    expect(await knex.schema.hasColumn('backup_run', 'for_restore_id')).toBe(false);
    // Runs survive the column's removal (on SQLite knex rebuilds the table).
    expect((await knex('backup_run').where({ id: 'run-2' }).first()).cluster).toBe('kube-sim');
    // ...and so do their items (rebuilding a run table must not cascade into them).
    expect((await knex('backup_item').where({ id: 'item-2' }).first()).run_id).toBe('run-2');
    await knex.migrate.up({ ...config, name: '20261205_restores.js' });
    expect(await tableNames(knex)).toContain('restores');
    expect(await knex.schema.hasColumn('backup_run', 'for_restore_id')).toBe(true);

    await knex.migrate.rollback(config, true);
    const remaining = await tableNames(knex);
    expect(remaining).not.toContain('backup_item');
    expect(remaining).not.toContain('backup_run');
    expect(remaining).not.toContain('volume_manager_setting');
    expect(remaining).not.toContain('restores');

    await knex.destroy();
  });
});
