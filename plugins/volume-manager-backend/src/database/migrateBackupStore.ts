import {
  resolvePackagePath,
  type DatabaseService,
} from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';

const migrationsDir = resolvePackagePath(
  '@nkvm/backstage-plugin-volume-manager-backend',
  'migrations',
);

/**
 * Gets the plugin's database client and brings its schema up to date, unless the operator
 * manages migrations themselves (`backend.database.plugin.volume-manager.skipMigrations`
 * surfaces as `database.migrations.skip`).
 */
export async function migrateBackupStore(database: DatabaseService): Promise<Knex> {
  const client = await database.getClient();
  if (!database.migrations?.skip) {
    await client.migrate.latest({ directory: migrationsDir });
  }
  return client;
}

/** Exposed for the migration tests, which also migrate down. */
export const BACKUP_STORE_MIGRATIONS_DIR = migrationsDir;
