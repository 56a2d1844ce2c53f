/*
 * Settings of this installation that every replica sharing the database must agree on. Holds
 * `installation_id`: generated once, it labels the helper pods of this installation so the
 * janitor never deletes another installation's helpers (unless volumeManager.installationId
 * is configured, which wins).
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('volume_manager_setting', table => {
    table.comment('Installation-wide settings shared by every replica');
    table.string('key', 64).primary().notNullable();
    table.string('value', 255).notNullable();
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('volume_manager_setting');
};
