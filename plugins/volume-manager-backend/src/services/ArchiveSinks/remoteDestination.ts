/*
 * What every remote sink shares: the destination spec (configured or ad hoc), validation of
 * `remoteDir` and host-key fingerprints, the remote layout, credential-free URIs, and the
 * classification of errors into transient (retry) and final.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { LoggerService } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import type { AdHocDestination } from '@nkvm/backstage-plugin-volume-manager-common';
import { ArchiveSinkError, archiveRelativePath, type ArchiveTarget } from './types';

export type RemoteDestinationType = 'ftp' | 'ftps' | 'scp' | 'rsync';

/** A remote destination with its secrets, held in config or (ad hoc) in memory only. */
export interface RemoteDestination {
  /** The configured id, or `adhoc:<type>`. */
  id: string;
  type: RemoteDestinationType;
  /** As configured or typed: TLS server name (SNI, certificate check) and messages. */
  host: string;
  /**
   * Where to connect instead of resolving `host` again: for a one-off destination, the
   * address `host` resolved to when the request was checked (adHocHostPolicy.ts).
   */
  address?: string;
  port?: number;
  username: string;
  password?: string;
  privateKey?: string;
  /** Normalized by {@link normalizeRemoteDir}: relative to the login directory, or absolute. */
  remoteDir: string;
  tls?: { ca?: string; rejectUnauthorized: boolean; implicit: boolean };
  /** Canonical `SHA256:<base64 without padding>`. */
  hostKeySha256?: string;
  keepLocalCopy: boolean;
}

/** How remote transfers retry transient failures. */
export interface RetryPolicy {
  /** Tries in all, including the first. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Connect, login and per-command timeout. */
  timeoutMs: number;
}

export const DEFAULT_PORTS: Record<RemoteDestinationType, number> = {
  ftp: 21,
  ftps: 21,
  scp: 22,
  rsync: 22,
};

export function portOf(d: Pick<RemoteDestination, 'type' | 'port' | 'tls'>): number {
  if (d.port) return d.port;
  return d.type === 'ftps' && d.tls?.implicit ? 990 : DEFAULT_PORTS[d.type];
}

/** The host or address a sink opens its connections to. */
export function connectHostOf(d: Pick<RemoteDestination, 'host' | 'address'>): string {
  return d.address ?? d.host;
}

const SAFE_REMOTE_DIR = /^[A-Za-z0-9._@+=,:/-]+$/;

/**
 * Checks a `remoteDir` and returns it normalized (no empty or `.` segments, no trailing `/`).
 * `..` anywhere is refused, not resolved. A relative directory is below the account's login
 * directory (its FTP root or SSH home). An absolute one must be at or below one of `roots`
 * when `roots` is given (ad-hoc destinations: `volumeManager.adHocRemoteRoots`).
 */
export function normalizeRemoteDir(remoteDir: string, options: { what: string; roots?: string[] }): string {
  const { what } = options;
  if (!remoteDir || remoteDir.length > 1024) {
    throw new InputError(`${what}: remoteDir must be 1 to 1024 characters`);
  }
  if (!SAFE_REMOTE_DIR.test(remoteDir)) {
    throw new InputError(
      `${what}: remoteDir '${remoteDir}' may only contain letters, digits and . _ @ + = , : / -`,
    );
  }
  const segments = remoteDir.split('/');
  if (segments.includes('..')) {
    throw new InputError(`${what}: remoteDir '${remoteDir}' must not contain '..' (path traversal)`);
  }
  const absolute = remoteDir.startsWith('/');
  const kept = segments.filter(s => s !== '' && s !== '.');
  const normalized = absolute ? `/${kept.join('/')}` : kept.join('/') || '.';
  if (absolute && options.roots) {
    const inside = options.roots.some(root => {
      const r = path.posix.normalize(root).replace(/\/+$/, '');
      return r === '' || normalized === r || normalized.startsWith(`${r}/`);
    });
    if (!inside) {
      throw new InputError(
        `${what}: remoteDir '${remoteDir}' is outside the allowed remote roots (${options.roots.join(', ') || 'none'}); use a directory relative to the login directory`,
      );
    }
  }
  return normalized;
}

/** Accepts `SHA256:<base64>` as OpenSSH prints it (padding optional); returns it canonical. */
export function normalizeHostKeySha256(value: string, what: string): string {
  const m = /^(?:SHA256:)?([A-Za-z0-9+/]{43})=?$/.exec(value.trim());
  if (!m) {
    throw new InputError(
      `${what}: hostKeySha256 must be a SHA-256 fingerprint as 'ssh-keygen -lf' prints it, like SHA256:<43 base64 characters>`,
    );
  }
  return `SHA256:${m[1]}`;
}

/** The OpenSSH-style fingerprint of a raw public key blob. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Where an archive and its sidecar go on the server, all relative to the login directory or absolute. */
export interface RemoteArchivePaths {
  dir: string;
  fileName: string;
  file: string;
  partial: string;
  sidecar: string;
  sidecarPartial: string;
}

export function remoteArchivePaths(remoteDir: string, target: ArchiveTarget): RemoteArchivePaths {
  const segments = archiveRelativePath(target);
  const fileName = segments[segments.length - 1];
  const dir = path.posix.join(remoteDir, ...segments.slice(0, -1));
  const file = path.posix.join(dir, fileName);
  return {
    dir,
    fileName,
    file,
    partial: `${file}.partial`,
    sidecar: `${file}.sha256`,
    sidecarPartial: `${file}.sha256.partial`,
  };
}

/** A URI with no credentials: `ftp://host:port/dir/file`, `sftp://user@host:port/abs/path`. */
export function remoteUri(scheme: string, d: RemoteDestination, remotePath: string, user?: boolean): string {
  const host = d.host.includes(':') ? `[${d.host}]` : d.host;
  const encoded = remotePath
    .split('/')
    .map(s => encodeURIComponent(s))
    .join('/');
  // RFC 1738: an FTP URL path is relative to the login directory; %2F marks an absolute one.
  let p = `/${encoded}`;
  if (remotePath.startsWith('/')) p = scheme.startsWith('ftp') ? `/%2F${encoded.slice(1)}` : encoded;
  const userPart = user ? `${encodeURIComponent(d.username)}@` : '';
  return `${scheme}://${userPart}${host}:${portOf(d)}${p}`;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Network drops, timeouts and FTP 4xx replies pass; authentication, host keys and 5xx do not. */
export function isTransientError(error: unknown): boolean {
  if (error instanceof ArchiveSinkError) return error.transient;
  const e = error as { code?: unknown; level?: unknown; message?: unknown } | undefined;
  if (!e) return false;
  if (e.level === 'client-authentication') return false;
  if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
  if (typeof e.code === 'number') return e.code >= 400 && e.code < 500;
  const message = typeof e.message === 'string' ? e.message : '';
  return /timed? ?out|socket closed|socket hang up|FIN packet|closed unexpectedly|connection (lost|closed|reset)|closed by (the )?server|not connected|keepalive|ECONNRESET|ECONNREFUSED|EPIPE/i.test(
    message,
  );
}

export function messageOf(error: unknown): string {
  return (error as { message?: string })?.message ?? String(error);
}

/** Wraps any error as an ArchiveSinkError, keeping its transient-ness unless told otherwise. */
export function sinkError(context: string, error: unknown, transient = isTransientError(error)): ArchiveSinkError {
  if (error instanceof ArchiveSinkError && error.message.startsWith(context)) return error;
  return new ArchiveSinkError(`${context}: ${messageOf(error)}`, { transient, cause: error });
}

export function backoffDelay(policy: RetryPolicy, failures: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, failures - 1));
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/**
 * Runs `fn` until it succeeds, a non-transient error occurs, or `policy.attempts` tries fail.
 * The final error says how many attempts were made and is no longer transient.
 */
export async function withRetry<T>(
  what: string,
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (error instanceof ArchiveSinkError && !error.transient) throw error; // already says where
      if (!isTransientError(error)) throw sinkError(what, error, false);
      if (attempt >= policy.attempts) {
        throw sinkError(`${what} failed after ${attempt} attempts`, error, false);
      }
      const delayMs = backoffDelay(policy, attempt);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}

/** What a remote sink shows about itself (`GET /destinations`): never its secrets. */
export function describeRemote(d: RemoteDestination) {
  return { host: d.host, port: portOf(d), username: d.username, remoteDir: d.remoteDir };
}

/** {@link withRetry}, logging each retry against the destination's id. */
export function withLoggedRetry<T>(
  where: string,
  what: string,
  options: { retry: RetryPolicy; logger: LoggerService; destinationId: string },
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  return withRetry(`${where}: ${what}`, options.retry, fn, ({ attempt, delayMs, error }) =>
    options.logger.warn(
      `${where}: ${what} failed (attempt ${attempt} of ${options.retry.attempts}), retrying in ${delayMs} ms: ${messageOf(error)}`,
      { destination: options.destinationId },
    ),
  );
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/;
const USERNAME = /^[A-Za-z0-9._][A-Za-z0-9._@+-]*$/;

/** The fields a destination is given with, from config or from a request (the API's shape). */
export type RemoteDestinationInput = AdHocDestination & { keepLocalCopy?: boolean };

/**
 * Checks a destination and returns it normalized. Errors are InputErrors that name the field,
 * never a secret.
 */
export function normalizeRemoteDestination(
  input: RemoteDestinationInput,
  options: { id: string; what: string; roots?: string[] },
): RemoteDestination {
  const { what } = options;
  if (!['ftp', 'ftps', 'scp', 'rsync'].includes(input.type)) {
    throw new InputError(`${what}: unknown type '${input.type}'`);
  }
  if (!HOST.test(input.host) || input.host.length > 253) {
    throw new InputError(`${what}: host '${input.host}' is not a host name or IP address`);
  }
  if (input.port !== undefined && (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)) {
    throw new InputError(`${what}: port must be 1 to 65535`);
  }
  if (!USERNAME.test(input.username) || input.username.length > 256) {
    throw new InputError(`${what}: username may only contain letters, digits and . _ @ + - (not first)`);
  }
  if ((input.type === 'scp' || input.type === 'rsync') && !input.password && !input.privateKey) {
    throw new InputError(`${what}: ${input.type} needs a password or a privateKey`);
  }
  return {
    id: options.id,
    type: input.type,
    host: input.host.replace(/^\[(.*)\]$/, '$1'),
    port: input.port,
    username: input.username,
    password: input.password,
    privateKey: input.privateKey,
    remoteDir: normalizeRemoteDir(input.remoteDir, { what, roots: options.roots }),
    tls:
      input.type === 'ftps'
        ? {
            ca: input.tls?.ca,
            rejectUnauthorized: input.tls?.rejectUnauthorized ?? true,
            implicit: input.tls?.implicit ?? false,
          }
        : undefined,
    hostKeySha256: input.hostKeySha256 ? normalizeHostKeySha256(input.hostKeySha256, what) : undefined,
    keepLocalCopy: input.keepLocalCopy ?? false,
  };
}

/** `<pvc>-<yyyymmddThhmmssZ>.tar.gz` below `<cluster>/<namespace>/<pvc>/`: the layout every sink writes. */
const ARCHIVE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ARCHIVE_STAMP = /^\d{8}T\d{6}Z\.tar\.gz$/;

/**
 * The archive paths of `remotePath` when it is an archive directly in the layout below
 * `remoteDir` (`<remoteDir>/<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz`), else undefined.
 * Nothing is resolved: `..`, `.`, empty segments and anything outside `remoteDir` fail.
 */
export function archivePathsUnder(remoteDir: string, remotePath: string): RemoteArchivePaths | undefined {
  const prefix = remoteDir === '.' ? '' : `${remoteDir.replace(/\/+$/, '')}/`;
  if (!remotePath.startsWith(prefix)) return undefined;
  const segments = remotePath.slice(prefix.length).split('/');
  if (segments.length !== 4) return undefined;
  const [cluster, namespace, pvc, fileName] = segments;
  if (![cluster, namespace, pvc].every(s => ARCHIVE_SEGMENT.test(s) && !s.includes('..'))) return undefined;
  if (!fileName.startsWith(`${pvc}-`) || !ARCHIVE_STAMP.test(fileName.slice(pvc.length + 1))) return undefined;
  const dir = path.posix.join(remoteDir, cluster, namespace, pvc);
  const file = path.posix.join(dir, fileName);
  return {
    dir,
    fileName,
    file,
    partial: `${file}.partial`,
    sidecar: `${file}.sha256`,
    sidecarPartial: `${file}.sha256.partial`,
  };
}

/** The ports a URL parser leaves out of a URI because they are the scheme's default. */
const DEFAULT_URI_PORTS: Record<string, number> = { ftp: 21 };

/**
 * The decoded path of an archive URI formed by {@link remoteUri} for this destination. The
 * scheme, host, port (and user, when `user`) must be this destination's, or the URI is refused
 * with a final ArchiveSinkError: a sink only reads what it wrote. For FTP the path is relative
 * to the login directory unless it starts with `/` (`%2F` in the URI); for the SSH schemes it
 * always starts with `/` (remoteUri writes relative and absolute paths alike there), and the
 * sink decides which it is.
 */
export function remoteUriPath(scheme: string, d: RemoteDestination, uri: string, user: boolean): string {
  const refuse = (why: string) =>
    new ArchiveSinkError(`${scheme.toUpperCase()} ${d.host}:${portOf(d)}: refusing to read '${uri}': ${why}`, {
      transient: false,
    });
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw refuse('not a URI');
  }
  if (url.protocol !== `${scheme}:`) throw refuse(`not a ${scheme}:// URI of this destination`);
  // Both through the same parser, so `0:0::1` and `::1`, or `Host` and `host`, compare equal.
  const hostOf = (h: string) => {
    try {
      return new URL(`${scheme}://${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}/`).hostname.toLowerCase();
    } catch {
      return undefined;
    }
  };
  const port = url.port ? Number(url.port) : DEFAULT_URI_PORTS[scheme];
  if (!url.hostname || hostOf(url.hostname) !== hostOf(d.host) || port !== portOf(d)) {
    throw refuse('another host or port than this destination');
  }
  let username: string;
  try {
    username = decodeURIComponent(url.username);
  } catch {
    throw refuse('a malformed user name');
  }
  if ((user ? username !== d.username : username !== '') || url.password || url.search || url.hash) {
    throw refuse(user ? 'another user than this destination' : 'a user, query or fragment');
  }
  // The raw path, before any decoding: encoded `/`, `..` and `.` must not hide in a segment.
  const raw = url.pathname.split('/').slice(1);
  let decoded: string[];
  try {
    decoded = raw.map(s => decodeURIComponent(s));
  } catch {
    throw refuse('a malformed path');
  }
  let absolute = false;
  if (scheme.startsWith('ftp') && decoded[0]?.startsWith('/')) {
    // RFC 1738: `%2F` as the first segment's start marks an absolute FTP path.
    absolute = true;
    decoded[0] = decoded[0].slice(1);
  }
  if (decoded.some(s => s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s))) {
    throw refuse("an empty, '.' or '..' segment, or an encoded '/'");
  }
  const joined = decoded.join('/');
  return absolute || !scheme.startsWith('ftp') ? `/${joined}` : joined;
}

