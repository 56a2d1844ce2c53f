/*
 * Which hosts a one-off (ad-hoc) destination may reach. A user who may type a host and port
 * must not be able to make the backend connect inside: to itself (loopback), to cloud metadata
 * services (169.254.169.254), to the cluster's services, or to anything else on a private
 * network. So a typed host is resolved once, at request time, every address it resolves to is
 * checked, and the sinks then connect to that checked address (`RemoteDestination.address`),
 * never to the name again: a second DNS answer (rebinding) has nothing to say.
 *
 * - `volumeManager.adHocDestinations.allowedHosts` unset: any host whose every address is
 *   public; refused are cluster-internal names (`*.svc`, `*.cluster.local`, `localhost`,
 *   `*.localhost`, names without a dot) and the ranges in {@link REFUSED_RANGES}.
 * - set: only what it lists, and nothing else (public or not): host names (`backup.example.com`),
 *   wildcards (`*.example.com`: any name below, not the apex) and networks (`10.1.2.0/24`,
 *   `fd00::/8`, or a single address). A listed name may resolve to any address, private too;
 *   an address (or every address a name resolves to) inside a listed network is allowed.
 *
 * Refusals are one InputError that does not say why (does not resolve, resolves privately, is
 * not listed), so the answer tells a user nothing about internal DNS; the reason goes to the log.
 */
import { promises as dns } from 'node:dns';
import net from 'node:net';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';

/** `volumeManager.adHocDestinations.allowedHosts`, parsed. */
export interface HostAllowList {
  /** The entries as configured, for messages. */
  entries: string[];
  names: Set<string>;
  /** `*.example.com` as `.example.com`. */
  suffixes: string[];
  networks: net.BlockList;
}

/**
 * Addresses a one-off destination may not reach unless allow-listed, with what they are.
 * IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) IPv6 addresses
 * are checked by the IPv4 address they carry.
 */
export const REFUSED_RANGES: ReadonlyArray<readonly [string, number, string]> = [
  ['0.0.0.0', 8, 'unspecified ("this network")'],
  ['10.0.0.0', 8, 'private (RFC 1918)'],
  ['100.64.0.0', 10, 'carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local (cloud metadata)'],
  ['172.16.0.0', 12, 'private (RFC 1918)'],
  ['192.0.0.0', 24, 'IETF protocol assignments'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.168.0.0', 16, 'private (RFC 1918)'],
  ['198.18.0.0', 15, 'benchmarking'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved and broadcast'],
  ['::', 96, 'unspecified, loopback or IPv4-compatible'],
  ['64:ff9b:1::', 48, 'local-use NAT64'],
  ['100::', 64, 'discard-only'],
  ['2001::', 32, 'Teredo'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique local (ULA)'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local (deprecated)'],
  ['ff00::', 8, 'multicast'],
];

/** Each refused range as its own list, so a refusal can say which range it hit. */
const refused = REFUSED_RANGES.map(([address, prefix, what]) => {
  const family = net.isIPv6(address) ? ('ipv6' as const) : ('ipv4' as const);
  const list = new net.BlockList();
  list.addSubnet(address, prefix, family);
  return { family, list, what };
});

/** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any. */
function embeddedIPv4(address: string): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  const groups = expandIPv6(address);
  if (!groups) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (groups.slice(0, 5).every(g => g === 0) && groups[5] === 0xffff) return v4(groups[6], groups[7]);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every(g => g === 0)) {
    return v4(groups[6], groups[7]);
  }
  if (groups[0] === 0x2002) return v4(groups[1], groups[2]);
  return undefined;
}

/** Eight 16-bit groups of an IPv6 address (with or without a trailing dotted IPv4 part). */
function expandIPv6(address: string): number[] | undefined {
  if (!net.isIPv6(address)) return undefined;
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = `${text.slice(0, -dotted[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map(g => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill(0);
  return [...h, ...fill, ...t];
}

/** What a refused address is (`loopback`, `private (RFC 1918)`, ...), or undefined if public. */
export function refusedRangeOf(address: string): string | undefined {
  const v4 = net.isIPv4(address) ? address : embeddedIPv4(address);
  const [family, checked] = v4 ? (['ipv4', v4] as const) : (['ipv6', address.replace(/%.*$/, '')] as const);
  return refused.find(r => r.family === family && r.list.check(checked, family))?.what;
}

/** Names that only mean something inside the cluster or on this host. */
export function isInternalName(name: string): boolean {
  return (
    !name.includes('.') ||
    name === 'localhost' ||
    /\.(svc|cluster\.local|localhost)$/.test(name)
  );
}

const NAME = /^(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** Parses and checks the configured allow-list; throws (at start-up) on an entry it cannot read. */
export function parseHostAllowList(entries: string[] | undefined, what: string): HostAllowList | undefined {
  if (entries === undefined) return undefined;
  const list: HostAllowList = { entries, names: new Set(), suffixes: [], networks: new net.BlockList() };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase().replace(/\.$/, '');
    const [address, prefixText, extra] = entry.split('/');
    const family = net.isIP(address);
    if (family) {
      const max = family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? max : Number(prefixText);
      if (extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? `${max}`) || prefix > max) {
        throw new InputError(`${what}: '${raw}' is not an address or a network (a.b.c.d/n, x:y::/n)`);
      }
      list.networks.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
    } else if (NAME.test(entry) && entry.length <= 253) {
      if (entry.startsWith('*.')) list.suffixes.push(entry.slice(1));
      else list.names.add(entry);
    } else {
      throw new InputError(
        `${what}: '${raw}' is not a host name, a wildcard like *.example.com, an address or a network`,
      );
    }
  }
  return list;
}

function inNetworks(list: HostAllowList, address: string): boolean {
  const v4 = net.isIPv4(address) ? address : embeddedIPv4(address);
  if (v4 && list.networks.check(v4, 'ipv4')) return true;
  return net.isIPv6(address) && list.networks.check(address.replace(/%.*$/, ''), 'ipv6');
}

export type LookupAll = (hostname: string) => Promise<string[]>;

/** All addresses of a name, as the system resolver returns them (order kept). */
export const systemLookup: LookupAll = async hostname =>
  // `dns.lookup` is read at call time, so a test can stub DNS (and only DNS).
  (await dns.lookup(hostname, { all: true, verbatim: true })).map(a => a.address);

async function lookupWithin(lookup: LookupAll, name: string, timeoutMs: number): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      lookup(name),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks a typed host and returns the address to connect to: the host itself when it is an
 * address, else the first address it resolves to (every one of which passed). Throws an
 * InputError that names the host and the config key but not the reason; logs the reason.
 */
export async function checkAdHocHost(
  host: string,
  options: {
    allowedHosts?: HostAllowList;
    lookup?: LookupAll;
    timeoutMs: number;
    logger?: LoggerService;
  },
): Promise<string> {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  const literal = net.isIP(name) !== 0;
  const allow = options.allowedHosts;
  const refuse = (reason: string): never => {
    options.logger?.warn(`Refused a one-off destination host: ${reason}`, { host: name });
    throw new InputError(
      `destination: host '${host}' is not allowed for one-off destinations: it must resolve to public addresses only${
        allow ? ' and be listed' : ''
      } (an administrator can allow hosts and networks in volumeManager.adHocDestinations.allowedHosts)`,
    );
  };
  const nameListed = !literal && Boolean(allow && (allow.names.has(name) || allow.suffixes.some(s => name.endsWith(s))));
  if (!literal && !allow && isInternalName(name)) refuse('a cluster-internal or local name');

  let addresses: string[];
  if (literal) {
    addresses = [name];
  } else {
    try {
      addresses = await lookupWithin(options.lookup ?? systemLookup, name, options.timeoutMs);
    } catch (error) {
      return refuse(`it does not resolve (${(error as Error).message})`);
    }
    if (addresses.length === 0) refuse('it resolves to no address');
  }
  if (nameListed) return addresses[0];
  for (const address of addresses) {
    if (allow) {
      if (!inNetworks(allow, address)) refuse(`${address} is not in volumeManager.adHocDestinations.allowedHosts`);
    } else {
      const range = refusedRangeOf(address);
      if (range) refuse(`${address} is ${range}`);
    }
  }
  return addresses[0];
}
