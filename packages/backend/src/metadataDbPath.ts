import path from 'node:path';

/** Where the volume-manager's run records live when no NKVM_METADATA_DB_PATH is given. */
export const DEFAULT_METADATA_DB_PATH = 'data/backups.db';

/**
 * NKVM_METADATA_DB_PATH names the SQLite file of the volume-manager's run records. Backstage's
 * SQLite connector joins a plugin's `connection.filename` onto `connection.directory` (default
 * `.`), which turns an absolute path into a relative one, so app-config reads the directory and
 * the file name from NKVM_METADATA_DB_DIR and NKVM_METADATA_DB_FILE, derived here.
 */
export function applyMetadataDbPath(env: NodeJS.ProcessEnv): string {
  const file = path.resolve(env.NKVM_METADATA_DB_PATH || DEFAULT_METADATA_DB_PATH);
  env.NKVM_METADATA_DB_DIR = path.dirname(file);
  env.NKVM_METADATA_DB_FILE = path.basename(file);
  return file;
}
