import type { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { BACKUP_STORE_MIGRATIONS_DIR } from './migrateBackupStore';

jest.setTimeout(120_000);

const databases = createTestDatabases();
const MIGRATION = '20261206_policies.js';
const config = { directory: BACKUP_STORE_MIGRATIONS_DIR };

async function tableNames(knex: Knex): Promise<string[]> {
  if (knex.client.config.client === 'pg') {
    const rows = await knex('information_schema.tables').where({ table_schema: 'public' }).select('table_name');
    return rows.map(r => r.table_name).sort();
  }
  const rows = await knex('sqlite_master').where({ type: 'table' }).select('name');
  return rows.map(r => r.name).sort();
}

async function columnsOf(knex: Knex, table: string): Promise<string[]> {
  return Object.keys(await knex(table).columnInfo()).sort();
}

async function indexNames(knex: Knex, table: string): Promise<string[]> {
  if (knex.client.config.client === 'pg') {
    const rows = await knex('pg_indexes').where({ tablename: table }).select('indexname');
    return rows.map(r => r.indexname).sort();
  }
  const rows = await knex('sqlite_master').where({ type: 'index', tbl_name: table }).select('name');
  return rows.map(r => r.name).sort();
}

async function seedBackups(knex: Knex) {
  const now = new Date();
  await knex('backup_run').insert({
    id: 'run-1',
    cluster: 'kube-sim',
    destination: 'local',
    requested_by: 'user:default/alice',
    created_at: now,
    status: 'succeeded',
  });
  await knex('backup_item').insert({
    id: 'item-1',
    run_id: 'run-1',
    cluster: 'kube-sim',
    namespace: 'payments',
    pvc: 'data-0',
    status: 'succeeded',
    requested_by: 'user:default/alice',
    queued_at: now,
  });
}

const policyRow = (id: string) => ({
  id,
  scope: 'pvc',
  cluster: 'kube-sim',
  namespace: 'payments',
  pvc: 'data-0',
  cron: '@daily',
  timezone: 'UTC',
  destination: 'local',
  retention: '{}',
  catch_up: 'one',
  include_manual: false,
  enabled: true,
  created_by: 'user:default/alice',
  created_at: new Date(),
  updated_at: new Date(),
});

const slotRow = (slot: Date, claimedBy = 'replica-a') => ({
  policy_id: 'p-1',
  cluster: 'kube-sim',
  namespace: 'payments',
  pvc: 'data-0',
  slot,
  claimed_by: claimedBy,
  claimed_at: new Date(),
});

describe('policies migration', () => {
  it.each(databases.eachSupportedId())('goes up and down without touching backups on %p', async id => {
    const knex = await databases.init(id);
    // Everything before this migration, with a backup in it.
    await knex.migrate.latest(config);
    await knex.migrate.down({ ...config, name: MIGRATION });
    expect(await tableNames(knex)).not.toContain('policies');
    expect(await columnsOf(knex, 'backup_item')).not.toContain('pinned');
    await seedBackups(knex);

    await knex.migrate.up({ ...config, name: MIGRATION });
    expect(await tableNames(knex)).toEqual(expect.arrayContaining(['policies', 'policy_targets', 'policy_slots']));
    expect(await columnsOf(knex, 'backup_item')).toEqual(expect.arrayContaining(['pinned', 'policy_id', 'trigger']));
    expect(await indexNames(knex, 'policy_targets')).toContain('policy_targets_next_run_idx');
    expect(await indexNames(knex, 'backup_item')).toContain('backup_item_policy_idx');

    // Existing backups are manual, unpinned, of no policy.
    const item = await knex('backup_item').where({ id: 'item-1' }).first();
    expect(item).toMatchObject({ trigger: 'manual', policy_id: null });
    expect(Boolean(item.pinned)).toBe(false);

    // The ledger refuses a second claim of one slot.
    await knex('policies').insert(policyRow('p-1'));
    const slot = new Date('2026-12-06T10:00:00Z');
    await knex('policy_slots').insert(slotRow(slot));
    const dup = await knex('policy_slots').insert(slotRow(slot, 'replica-b')).then(() => 'inserted', (e: Error) => e.message);
    expect(dup).toMatch(/unique|duplicate/i);
    await knex('policy_slots').insert(slotRow(new Date(slot.getTime() + 60_000)));

    // Down removes the policy tables and the new columns, and keeps every backup.
    await knex.migrate.down({ ...config, name: MIGRATION });
    expect(await tableNames(knex)).not.toEqual(expect.arrayContaining(['policies']));
    const tables = await tableNames(knex);
    for (const t of ['policies', 'policy_targets', 'policy_slots']) expect(tables).not.toContain(t);
    const columns = await columnsOf(knex, 'backup_item');
    for (const c of ['pinned', 'policy_id', 'trigger']) expect(columns).not.toContain(c);
    expect(await indexNames(knex, 'backup_item')).not.toContain('backup_item_policy_idx');
    const [{ n }] = await knex('backup_item').count({ n: '*' });
    expect(Number(n)).toBe(1);
    const [{ runs }] = await knex('backup_run').count({ runs: '*' });
    expect(Number(runs)).toBe(1);

    // And up again, on the same data.
    await knex.migrate.latest(config);
    expect(await tableNames(knex)).toEqual(expect.arrayContaining(['policies', 'policy_targets', 'policy_slots']));
    await knex.destroy();
  });
});
