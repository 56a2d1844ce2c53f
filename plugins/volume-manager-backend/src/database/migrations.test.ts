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
      expect.arrayContaining(['backup_item', 'backup_run', 'volume_manager_setting']),
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

    await knex.migrate.rollback(config, true);
    const remaining = await tableNames(knex);
    expect(remaining).not.toContain('backup_item');
    expect(remaining).not.toContain('backup_run');
    expect(remaining).not.toContain('volume_manager_setting');

    await knex.destroy();
  });
});
