import { createClusterObjectsCache } from './clusterObjectsCache';

describe('clusterObjectsCache', () => {
  let t = 0;
  const now = () => t;

  it('shares one load among concurrent callers and serves it until the TTL runs out', async () => {
    const cache = createClusterObjectsCache<number>({ ttlMs: 10_000, now });
    const client = {};
    let loads = 0;
    let release: (v: number) => void = () => {};
    const load = () => {
      loads += 1;
      return new Promise<number>(resolve => {
        release = resolve;
      });
    };
    const waiting = Array.from({ length: 20 }, () => cache.get(client, '*', load));
    expect(loads).toBe(1);
    release(42);
    expect(await Promise.all(waiting)).toEqual(Array(20).fill(42));

    t += 9_999;
    expect(await cache.get(client, '*', async () => 7)).toBe(42);
    t += 1;
    expect(await cache.get(client, '*', async () => 7)).toBe(7);
    // Scopes and clients are separate entries.
    expect(await cache.get(client, 'payments', async () => 8)).toBe(8);
    expect(await cache.get({}, '*', async () => 9)).toBe(9);
  });

  it('does not keep a failed load', async () => {
    const cache = createClusterObjectsCache<number>({ ttlMs: 10_000, now });
    const client = {};
    await expect(cache.get(client, '*', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get(client, '*', async () => 1)).toBe(1);
  });

  it('holds at most maxKeysPerClient scopes, and nothing with a TTL of 0', async () => {
    const cache = createClusterObjectsCache<string>({ ttlMs: 10_000, maxKeysPerClient: 2, now });
    const client = {};
    for (const scope of ['a', 'b', 'c']) await cache.get(client, scope, async () => scope);
    expect(await cache.get(client, 'a', async () => 'a again')).toBe('a again');
    expect(await cache.get(client, 'c', async () => 'c again')).toBe('c');

    const off = createClusterObjectsCache<number>({ ttlMs: 0, now });
    let n = 0;
    await off.get(client, '*', async () => ++n);
    expect(await off.get(client, '*', async () => ++n)).toBe(2);
  });
});
