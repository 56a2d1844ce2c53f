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

/**
 * The installation id helpers are labelled with: the configured one, else the stored one, looked
 * up on first use (not at start-up, where an operator-managed schema may lag) and again after a
 * failed lookup.
 */
export function installationIdResolver(
  configured: string | undefined,
  store: { installationId(): Promise<string> },
): () => Promise<string> {
  let stored: Promise<string> | undefined;
  return async () => {
    if (configured) return configured;
    stored ??= store.installationId().catch(error => {
      stored = undefined;
      throw error;
    });
    return stored;
  };
}
