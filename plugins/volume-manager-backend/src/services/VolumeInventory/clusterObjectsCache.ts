/*
 * A short-lived cache of what one cluster listed (PVCs, pods, owners), so that many concurrent
 * inventory requests cause one cluster-wide list per resource, not one per request.
 *
 * - Keyed by the cluster client (a configured cluster's client, or the pasted session of one
 *   user) and the namespace scope of the listing. The raw objects are cached, never a user's
 *   view: entity matching and permission filtering still run per request.
 * - Singleflight: while a listing is in flight, every request for the same key waits for it.
 * - A listing is served for `ttlMs` after it finished. A failed listing is not kept.
 * - Bounded: at most `maxKeysPerClient` scopes per client (the oldest goes first), expired
 *   entries are dropped when a new one is stored, and entries of a client that is no longer
 *   used go with it (WeakMap).
 */
export interface ClusterObjectsCache<T> {
  get(client: object, scope: string, load: () => Promise<T>): Promise<T>;
}

interface Entry<T> {
  value: Promise<T>;
  /** Set when the load finished; until then the entry is in flight. */
  expiresAt?: number;
}

export function createClusterObjectsCache<T>(options: {
  ttlMs: number;
  maxKeysPerClient?: number;
  now?: () => number;
}): ClusterObjectsCache<T> {
  const { ttlMs } = options;
  const maxKeys = options.maxKeysPerClient ?? 64;
  const now = options.now ?? Date.now;
  const byClient = new WeakMap<object, Map<string, Entry<T>>>();

  return {
    get(client, scope, load) {
      if (ttlMs <= 0) return load();
      let entries = byClient.get(client);
      if (!entries) {
        entries = new Map();
        byClient.set(client, entries);
      }
      const found = entries.get(scope);
      if (found && (found.expiresAt === undefined || found.expiresAt > now())) {
        return found.value;
      }
      for (const [key, e] of entries) {
        if (e.expiresAt !== undefined && e.expiresAt <= now()) entries.delete(key);
      }
      while (entries.size >= maxKeys) {
        entries.delete(entries.keys().next().value as string);
      }
      const map = entries;
      const entry: Entry<T> = { value: load() };
      map.set(scope, entry);
      entry.value.then(
        () => {
          entry.expiresAt = now() + ttlMs;
        },
        () => {
          if (map.get(scope) === entry) map.delete(scope);
        },
      );
      return entry.value;
    },
  };
}
