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

    await knex.migrate.rollback(config, true);
    const remaining = await tableNames(knex);
    expect(remaining).not.toContain('backup_item');
    expect(remaining).not.toContain('backup_run');
    expect(remaining).not.toContain('volume_manager_setting');

    await knex.destroy();
  });
});
