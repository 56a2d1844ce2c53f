import { applyMetadataDbPath } from './metadataDbPath';

describe('applyMetadataDbPath', () => {
  it('splits an absolute path into directory and file name', () => {
    const env: NodeJS.ProcessEnv = { NKVM_METADATA_DB_PATH: '/var/lib/nkvm/data/backups.db' };
    expect(applyMetadataDbPath(env)).toBe('/var/lib/nkvm/data/backups.db');
    expect(env.NKVM_METADATA_DB_DIR).toBe('/var/lib/nkvm/data');
    expect(env.NKVM_METADATA_DB_FILE).toBe('backups.db');
  });

  it('resolves a relative path and the default against the working directory', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(applyMetadataDbPath(env)).toBe(`${process.cwd()}/data/backups.db`);
    expect(env.NKVM_METADATA_DB_DIR).toBe(`${process.cwd()}/data`);
  });
});
