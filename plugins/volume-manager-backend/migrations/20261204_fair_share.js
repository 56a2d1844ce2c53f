/*
 * Fair sharing: claiming takes requesters in turn (running count, last start) and run creation
 * counts each requester's and each entity's unfinished items. These indexes keep both lookups
 * cheap however long the history grows.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('backup_item', table => {
    table.index(['requested_by', 'status'], 'backup_item_requester_status_idx');
    table.index(['requested_by', 'started_at'], 'backup_item_requester_started_idx');
    table.index(['entity_ref', 'status'], 'backup_item_entity_status_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('backup_item', table => {
    table.dropIndex(['requested_by', 'status'], 'backup_item_requester_status_idx');
    table.dropIndex(['requested_by', 'started_at'], 'backup_item_requester_started_idx');
    table.dropIndex(['entity_ref', 'status'], 'backup_item_entity_status_idx');
  });
};
