/*
 * Backup policies (issue 15): schedules and retention for one PVC or for every PVC of a catalog
 * entity.
 *
 * - `policies`: the policy as written (cron as given, `-random` presets unresolved) and its
 *   status (last run, last success, last error, missed runs).
 * - `policy_targets`: one row per (policy, PVC) the policy covers, with the effective cron
 *   (`-random` resolved once for that PVC), the last decided slot, and `next_run_at`, the column
 *   the dispatch tick's single query filters on (indexed; NULL while the policy is disabled or
 *   the schedule never fires again).
 * - `policy_slots`: the exactly-once ledger. A replica decides a slot (runs it, or counts it
 *   missed) only after it inserted (policy, PVC, slot) here; the primary key makes every other
 *   replica's insert a no-op, so two replicas sharing PostgreSQL never start one slot twice. A
 *   claim never recorded within its lease (its replica stopped) can be taken over, and is then
 *   counted missed, never run.
 * - `backup_item` gains `pinned` (retention never deletes it), `policy_id` and `trigger`
 *   (`manual` | `schedule`): retention groups by policy id, and leaves manual backups alone
 *   unless the policy includes them.
 *
 * Runs after 20261205_restores.js. Adding columns is the only change to existing tables.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('policies', table => {
    table.comment('A backup policy: a schedule, a destination and retention rules for PVCs');
    table.string('id', 36).primary().notNullable();
    table.string('scope', 8).notNullable().comment("'pvc' (cluster, namespace, pvc) or 'entity' (entity_ref)");
    table.string('cluster', 253).nullable();
    table.string('namespace', 63).nullable();
    table.string('pvc', 253).nullable();
    table
      .string('entity_ref', 255)
      .nullable()
      .comment('The entity of an entity policy, or the entity owning the PVC of a PVC policy (for permissions)');
    table.string('cron', 256).notNullable().comment('As written, -random presets unresolved');
    table.string('timezone', 64).notNullable().defaultTo('UTC');
    table.string('destination', 253).notNullable();
    table.text('retention').notNullable().comment('Retention rules as JSON; {} keeps everything');
    table.string('catch_up', 8).notNullable().defaultTo('one');
    table.string('max_duration', 64).nullable().comment('As written');
    table.bigInteger('max_duration_ms').nullable();
    table.boolean('include_manual').notNullable().defaultTo(false);
    table.boolean('enabled').notNullable().defaultTo(true);
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.string('updated_by', 255).nullable();
    table.timestamp('last_run_at', { useTz: true }).nullable().comment('When the newest scheduled run started');
    table.string('last_run_id', 36).nullable();
    table.timestamp('last_success_at', { useTz: true }).nullable();
    table.text('last_error').nullable();
    table.timestamp('last_error_at', { useTz: true }).nullable();
    table.bigInteger('missed_runs').notNullable().defaultTo(0).comment('Slots that never ran, all targets');
    table.index(['entity_ref'], 'policies_entity_idx');
    table.index(['cluster', 'namespace', 'pvc'], 'policies_pvc_idx');
  });

  await knex.schema.createTable('policy_targets', table => {
    table.comment('One PVC a policy covers, with its effective schedule and dispatch state');
    table
      .string('policy_id', 36)
      .notNullable()
      .references('id')
      .inTable('policies')
      .onDelete('CASCADE');
    table.string('cluster', 253).notNullable();
    table.string('namespace', 63).notNullable();
    table.string('pvc', 253).notNullable();
    table.string('effective_cron', 256).notNullable().comment('5 fields; -random presets resolved for this PVC');
    table
      .timestamp('since', { useTz: true })
      .notNullable()
      .comment('Covered, enabled or rescheduled at: slots at or before it are never due');
    table.timestamp('last_slot', { useTz: true }).nullable().comment('The newest slot decided (ran or missed)');
    table.timestamp('next_run_at', { useTz: true }).nullable().comment('NULL: disabled or never again');
    table.bigInteger('missed_runs').notNullable().defaultTo(0);
    table.string('last_run_id', 36).nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.primary(['policy_id', 'cluster', 'namespace', 'pvc']);
    table.index(['next_run_at'], 'policy_targets_next_run_idx');
    table.index(['cluster', 'namespace', 'pvc'], 'policy_targets_pvc_idx');
  });

  await knex.schema.createTable('policy_slots', table => {
    table.comment('Exactly-once ledger: a slot of a (policy, PVC) is started by whoever inserted its row');
    table
      .string('policy_id', 36)
      .notNullable()
      .references('id')
      .inTable('policies')
      .onDelete('CASCADE');
    table.string('cluster', 253).notNullable();
    table.string('namespace', 63).notNullable();
    table.string('pvc', 253).notNullable();
    table.timestamp('slot', { useTz: true }).notNullable();
    table.string('claimed_by', 64).notNullable().comment('Dispatcher instance');
    table.timestamp('claimed_at', { useTz: true }).notNullable().comment("The database's clock");
    table.integer('attempts').notNullable().defaultTo(1).comment('2+: taken over from a dispatcher that stopped');
    table
      .timestamp('recorded_at', { useTz: true })
      .nullable()
      .comment("The holder stored its decision (database clock); NULL past the lease: the claim can be taken over");
    table.string('run_id', 36).nullable().comment('The backup run started for the slot');
    table.primary(['policy_id', 'cluster', 'namespace', 'pvc', 'slot']);
    table.index(['slot'], 'policy_slots_slot_idx');
  });

  await knex.schema.alterTable('backup_item', table => {
    table.boolean('pinned').notNullable().defaultTo(false).comment('Retention never deletes a pinned backup');
    table.string('policy_id', 36).nullable().comment('The policy whose schedule started it');
    table.string('trigger', 16).notNullable().defaultTo('manual').comment("'manual' or 'schedule'");
  });
  await knex.schema.alterTable('backup_item', table => {
    table.index(['policy_id', 'status'], 'backup_item_policy_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('backup_item', table => {
    table.dropIndex(['policy_id', 'status'], 'backup_item_policy_idx');
  });
  // Plain DROP COLUMN on both (SQLite 3.35+ has it): knex's SQLite fallback rebuilds the table,
  // which inside the migration's transaction (foreign keys on) would cascade to rows that
  // reference backup items.
  for (const column of ['pinned', 'policy_id', 'trigger']) {
    await knex.raw('ALTER TABLE ?? DROP COLUMN ??', ['backup_item', column]);
  }
  await knex.schema.dropTable('policy_slots');
  await knex.schema.dropTable('policy_targets');
  await knex.schema.dropTable('policies');
};
