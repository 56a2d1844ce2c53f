/*
 * Runs and their items. A run is one request ({cluster, volumes[], destination}); an item is
 * the backup of one PVC. Items are claimed atomically by workers (status queued -> running with
 * a lease), so several backend replicas sharing a database never run the same item twice.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('backup_run', table => {
    table.comment('One backup request: a set of PVCs of one cluster to one destination');
    table.string('id', 36).primary().notNullable();
    table.string('cluster', 253).notNullable();
    table.string('destination', 253).notNullable().comment('Destination id, or "adhoc:<type>"');
    table.string('requested_by', 255).notNullable().comment('Backstage user entity ref');
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.string('status', 16).notNullable().defaultTo('queued');
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.boolean('cancel_requested').notNullable().defaultTo(false);
  });

  await knex.schema.createTable('backup_item', table => {
    table.comment('The backup of one PVC within a run');
    table.string('id', 36).primary().notNullable();
    table
      .string('run_id', 36)
      .notNullable()
      .references('id')
      .inTable('backup_run')
      .onDelete('CASCADE');
    table.string('cluster', 253).notNullable();
    table.string('namespace', 63).notNullable();
    table.string('pvc', 253).notNullable();
    table.string('entity_ref', 255).nullable();
    table
      .integer('position')
      .notNullable()
      .defaultTo(0)
      .comment('Place of the PVC in its run request; workers take a run in this order');
    table.string('status', 16).notNullable().defaultTo('queued');
    table.bigInteger('bytes').nullable();
    table.string('sha256', 64).nullable();
    table.text('archive_uri').nullable();
    table.string('helper_pod', 253).nullable();
    table.string('node', 253).nullable();
    table.text('error').nullable();
    table.string('requested_by', 255).notNullable();
    table.timestamp('queued_at', { useTz: true }).notNullable();
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.bigInteger('progress_bytes').nullable().comment('Bytes streamed so far while running');
    table.timestamp('progress_updated_at', { useTz: true }).nullable();
    table.string('claimed_by', 64).nullable().comment('Worker instance holding the lease');
    table.timestamp('lease_expires_at', { useTz: true }).nullable();
    table.index(['status', 'queued_at'], 'backup_item_status_idx');
    table.index(['run_id'], 'backup_item_run_idx');
    table.index(['cluster', 'namespace', 'pvc', 'status', 'finished_at'], 'backup_item_pvc_idx');
    table.index(['cluster', 'namespace', 'pvc', 'queued_at'], 'backup_item_pvc_queued_idx');
    table.index(['queued_at', 'id'], 'backup_item_queued_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('backup_item');
  await knex.schema.dropTable('backup_run');
};
