/*
 * Restores: one row per restore of a backup item into a PVC, claimed by workers like backup
 * items (phase queued -> verifying with a lease by the database's clock).
 *
 * One operation per PVC: at most one queued or running restore per target PVC (a partial
 * unique index, on top of the store's checks), and `backup_run.for_restore_id` marks the run a
 * restore takes as its safety backup, the one backup its running restore lets through.
 */

const ACTIVE_PHASES = ['queued', 'verifying', 'preflight', 'restoring'];

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('restores', table => {
    table.comment('A restore of one backup item into a new or an existing PVC');
    table.string('id', 36).primary().notNullable();
    table.string('item_id', 36).notNullable().comment('The backup item restored from');
    table.string('source_cluster', 253).notNullable();
    table.string('source_namespace', 63).notNullable();
    table.string('source_pvc', 253).notNullable();
    table.text('source_archive_uri').notNullable();
    table.string('source_sha256', 64).notNullable();
    table.string('source_destination', 253).notNullable();
    table.string('source_entity_ref', 255).nullable().comment('Entity of the backed-up PVC');
    table.json('target').notNullable().comment('The RestoreTarget as requested (no secrets)');
    table.string('target_cluster', 253).notNullable();
    table.string('target_namespace', 63).notNullable();
    table.string('target_name', 253).notNullable();
    table.string('ownership', 16).notNullable();
    table.string('entity_ref', 255).nullable().comment('Entity of the target PVC');
    table.string('requested_by', 255).notNullable();
    table.string('phase', 16).notNullable().defaultTo('queued');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.bigInteger('bytes_done').notNullable().defaultTo(0);
    table.bigInteger('bytes_total').nullable();
    table.bigInteger('entries').nullable();
    table.bigInteger('uncompressed_bytes').nullable();
    table.json('checks').notNullable();
    table.string('safety_backup_run_id', 36).nullable();
    table.string('helper_pod', 253).nullable();
    table.boolean('created_pvc').notNullable().defaultTo(false);
    table.text('error').nullable();
    table.string('claimed_by', 64).nullable().comment('Worker instance holding the lease');
    table.timestamp('lease_expires_at', { useTz: true }).nullable();
    table.boolean('cancel_requested').notNullable().defaultTo(false);
    table.index(['phase', 'created_at'], 'restores_phase_idx');
    table.index(['target_cluster', 'target_namespace', 'target_name', 'phase'], 'restores_target_idx');
    table.index(['created_at', 'id'], 'restores_created_idx');
    table.index(['entity_ref', 'created_at'], 'restores_entity_idx');
    table.index(['source_entity_ref', 'created_at'], 'restores_source_entity_idx');
    table.index(['source_cluster', 'source_namespace', 'source_pvc', 'created_at'], 'restores_source_idx');
  });
  // Both PostgreSQL and SQLite have partial indexes.
  // Both PostgreSQL and SQLite have partial indexes (constant literals, nothing bound: DDL).
  await knex.raw(
    'CREATE UNIQUE INDEX restores_one_active_per_target ' +
      'ON restores (target_cluster, target_namespace, target_name) ' +
      `WHERE phase IN (${ACTIVE_PHASES.map(p => `'${p}'`).join(', ')})`,
  );

  await knex.schema.alterTable('backup_run', table => {
    table
      .string('for_restore_id', 36)
      .nullable()
      .comment('Set on the safety backup a restore takes of its target first');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  // Plain DROP COLUMN on both (SQLite 3.35+ has it). knex's SQLite fallback rebuilds the table,
  // and inside the migration's transaction foreign keys stay on, so dropping the old
  // backup_run would cascade-delete every backup item.
  await knex.raw('ALTER TABLE backup_run DROP COLUMN for_restore_id');
  await knex.schema.dropTable('restores');
};
