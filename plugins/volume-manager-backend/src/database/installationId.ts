import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';

const KEY = 'installation_id';

/**
 * The id generated for this installation on first use and stored in the plugin database, so
 * every replica sharing the database (and every restart) uses the same one. Concurrent first
 * starts agree: the first insert wins, the others read it.
 */
export async function storedInstallationId(knex: Knex): Promise<string> {
  const read = async () =>
    (await knex('volume_manager_setting').where({ key: KEY }).first('value'))?.value as string | undefined;
  const existing = await read();
  if (existing) return existing;
  await knex('volume_manager_setting').insert({ key: KEY, value: randomUUID() }).onConflict('key').ignore();
  const stored = await read();
  if (!stored) throw new Error('Could not store the installation id in the plugin database');
  return stored;
}
