import type { DatabaseService } from '@backstage/backend-plugin-api';
import { DatabaseBackupStore } from './DatabaseBackupStore';
import { DatabaseRestoreStore } from './DatabaseRestoreStore';
import { migrateBackupStore } from './migrateBackupStore';

/**
 * The plugin's stores over one database client, its schema migrated once at start-up (each
 * store's own `create` migrates too, which is what a store used alone needs).
 */
export async function openStores(database: DatabaseService) {
  const knex = await migrateBackupStore(database);
  return {
    backups: DatabaseBackupStore.fromKnex(knex),
    restores: DatabaseRestoreStore.fromKnex(knex),
  };
}
