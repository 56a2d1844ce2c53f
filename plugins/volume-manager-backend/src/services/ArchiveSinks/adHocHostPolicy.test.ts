import { promises as dns } from 'node:dns';
import { InputError } from '@backstage/errors';
import {
  checkAdHocHost,
  parseHostAllowList,
  refusedRangeOf,
  type LookupAll,
} from './adHocHostPolicy';

/** A resolver stub: the names it knows, each with its addresses; nothing else resolves. */
function resolver(table: Record<string, string[]>): LookupAll & jest.Mock {
  return jest.fn(async (name: string) => {
    const found = table[name];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  });
}

const check = (host: string, options: { allowedHosts?: string[]; lookup?: LookupAll } = {}) =>
  checkAdHocHost(host, {
    allowedHosts: parseHostAllowList(options.allowedHosts, 'allowedHosts'),
    lookup: options.lookup ?? resolver({}),
    timeoutMs: 2000,
  });

describe('refusedRangeOf', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['10.0.0.1', 'private (RFC 1918)'],
    ['172.16.0.1', 'private (RFC 1918)'],
    ['172.31.255.255', 'private (RFC 1918)'],
    ['192.168.1.1', 'private (RFC 1918)'],
    ['100.64.0.1', 'carrier-grade NAT (RFC 6598)'],
    ['100.127.255.254', 'carrier-grade NAT (RFC 6598)'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'reserved and broadcast'],
    ['::', 'unspecified, loopback or IPv4-compatible'],
    ['::1', 'unspecified, loopback or IPv4-compatible'],
    ['fe80::1', 'link-local'],
    ['fd00::1', 'unique local (ULA)'],
    ['fc00::1', 'unique local (ULA)'],
    ['ff02::1', 'multicast'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'link-local (cloud metadata)'],
    ['64:ff9b::a9fe:a9fe', 'link-local (cloud metadata)'],
    ['2002:a00:1::1', 'private (RFC 1918)'],
  ])('refuses %s (%s)', (address, what) => {
    expect(refusedRangeOf(address)).toBe(what);
  });

  it.each(['93.184.215.14', '172.32.0.1', '100.128.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:93.184.215.14', '64:ff9b::808:808'])(
    'lets the public address %s pass',
    address => {
      expect(refusedRangeOf(address)).toBeUndefined();
    },
  );
});

describe('checkAdHocHost without an allow-list', () => {
  it('returns a public address literal as it is, without DNS', async () => {
    const lookup = resolver({});
    await expect(check('93.184.215.14', { lookup })).resolves.toBe('93.184.215.14');
    await expect(check('[2606:4700::1111]', { lookup })).resolves.toBe('2606:4700::1111');
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(['127.0.0.1', '169.254.169.254', '10.1.2.3', '::1', '[::ffff:127.0.0.1]', 'fd12::5', '0.0.0.0'])(
    'refuses the address %s with an InputError, without DNS',
    async host => {
      const lookup = resolver({});
      const error = await check(host, { lookup }).catch(e => e);
      expect(error).toBeInstanceOf(InputError);
      expect(error.message).toContain('volumeManager.adHocDestinations.allowedHosts');
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it.each(['localhost', 'postgres', 'kubernetes.default.svc', 'db.prod.svc.cluster.local', 'app.localhost', 'KUBERNETES.DEFAULT.SVC.'])(
    'refuses the cluster-internal or local name %s before resolving it',
    async host => {
      const lookup = resolver({ [host.toLowerCase()]: ['93.184.215.14'] });
      await expect(check(host, { lookup })).rejects.toBeInstanceOf(InputError);
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it('resolves a name and returns the address it checked', async () => {
    const lookup = resolver({ 'backup.example.com': ['93.184.215.14', '2606:4700::1111'] });
    await expect(check('backup.example.com', { lookup })).resolves.toBe('93.184.215.14');
    expect(lookup).toHaveBeenCalledWith('backup.example.com');
  });

  it('refuses a name when any address it resolves to is internal', async () => {
    const lookup = resolver({
      'loopback.example.com': ['127.0.0.1'],
      'mixed.example.com': ['93.184.215.14', '10.0.0.7'],
      'metadata.example.com': ['169.254.169.254'],
      'v6.example.com': ['2606:4700::1111', 'fe80::1'],
    });
    for (const host of ['loopback.example.com', 'mixed.example.com', 'metadata.example.com', 'v6.example.com']) {
      await expect(check(host, { lookup })).rejects.toBeInstanceOf(InputError);
    }
  });

  it('answers a name that does not resolve exactly as one that resolves inside', async () => {
    const lookup = resolver({ 'internal.example.com': ['10.0.0.7'] });
    const missing = await check('nowhere.example.com', { lookup }).catch(e => e);
    const inside = await check('internal.example.com', { lookup }).catch(e => e);
    expect(missing).toBeInstanceOf(InputError);
    expect(inside.message.replace('internal', 'X')).toBe(missing.message.replace('nowhere', 'X'));
  });

  it('gives up on a resolver that does not answer, within the timeout', async () => {
    const started = Date.now();
    await expect(
      checkAdHocHost('slow.example.com', { lookup: () => new Promise(() => {}), timeoutMs: 200 }),
    ).rejects.toBeInstanceOf(InputError);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('uses the system resolver by default, read at call time', async () => {
    const spy = jest.spyOn(dns, 'lookup').mockResolvedValue([{ address: '127.0.0.1', family: 4 }] as never);
    try {
      await expect(
        checkAdHocHost('rebind.example.com', { timeoutMs: 2000 }),
      ).rejects.toBeInstanceOf(InputError);
      expect(spy).toHaveBeenCalledWith('rebind.example.com', { all: true, verbatim: true });
    } finally {
      spy.mockRestore();
    }
  });
});

describe('checkAdHocHost with an allow-list', () => {
  const allowedHosts = ['127.0.0.1', '10.20.0.0/16', 'fd00:1::/64', 'nas.corp.example', '*.backup.example.com'];

  it('allows listed addresses and networks, private ones included', async () => {
    await expect(check('127.0.0.1', { allowedHosts })).resolves.toBe('127.0.0.1');
    await expect(check('10.20.3.4', { allowedHosts })).resolves.toBe('10.20.3.4');
    await expect(check('fd00:1::9', { allowedHosts })).resolves.toBe('fd00:1::9');
    await expect(check('::ffff:127.0.0.1', { allowedHosts })).resolves.toBe('::ffff:127.0.0.1');
  });

  it('refuses everything else, public addresses too', async () => {
    for (const host of ['127.0.0.2', '10.21.0.1', 'fd00:2::1', '169.254.169.254', '93.184.215.14']) {
      await expect(check(host, { allowedHosts })).rejects.toBeInstanceOf(InputError);
    }
  });

  it('allows a listed name or wildcard whatever it resolves to, and connects to that address', async () => {
    const lookup = resolver({ 'nas.corp.example': ['10.9.9.9'], 'eu.backup.example.com': ['192.168.7.7'] });
    await expect(check('nas.corp.example', { allowedHosts, lookup })).resolves.toBe('10.9.9.9');
    await expect(check('EU.Backup.Example.com', { allowedHosts, lookup })).resolves.toBe('192.168.7.7');
  });

  it('does not let a wildcard match its apex, nor a name match by suffix', async () => {
    const lookup = resolver({ 'backup.example.com': ['93.184.215.14'], 'evilnas.corp.example': ['93.184.215.14'] });
    await expect(check('backup.example.com', { allowedHosts, lookup })).rejects.toBeInstanceOf(InputError);
    await expect(check('evilnas.corp.example', { allowedHosts, lookup })).rejects.toBeInstanceOf(InputError);
  });

  it('allows an unlisted name only when every address it resolves to is in a listed network', async () => {
    const lookup = resolver({ 'db.example.com': ['10.20.1.1'], 'half.example.com': ['10.20.1.1', '10.30.1.1'] });
    await expect(check('db.example.com', { allowedHosts, lookup })).resolves.toBe('10.20.1.1');
    await expect(check('half.example.com', { allowedHosts, lookup })).rejects.toBeInstanceOf(InputError);
  });

  it.each(['10.0.0.0/33', '1.2.3.4/8/9', 'http://x', 'exa mple.com', '*.', '::/129', '10.0.0.0/abc'])(
    'refuses the configured entry %j at start-up',
    entry => {
      expect(() => parseHostAllowList([entry], 'volumeManager.adHocDestinations.allowedHosts')).toThrow(
        /volumeManager\.adHocDestinations\.allowedHosts: .* is not/,
      );
    },
  );
});
