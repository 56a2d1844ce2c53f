/*
 * SSH connections for the SCP (SFTP) and RSYNC sinks, with ssh2. The server's host key must
 * match the pinned `hostKeySha256` (the fingerprint `ssh-keygen -lf` prints); a destination
 * without a pin, or a server presenting another key, is refused before authentication, and the
 * error names the fingerprint the server presented so an operator can check it out of band.
 *
 * Nothing waits on the server forever: the handshake has `readyTimeout`, every command and every
 * SFTP operation `timeoutMs` (remoteTransfer.timeoutSeconds; a checksum gets more time per byte,
 * see checksumTimeoutMs), and aborting the session's signal (the item was cancelled) closes the
 * connection and fails whatever waits on it. A timeout closes the connection too: a server that
 * stopped answering one request is not trusted with the next.
 */
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { abortable } from '../abortable';
import { ArchiveSinkError } from './types';
import { connectHostOf, fingerprintOf, isTransientError, messageOf, portOf, type RemoteDestination } from './remoteDestination';

export interface SshSession {
  client: Client;
  /** The host key the server presented (and that matched the pin). */
  hostKey: { type: string; blob: Buffer };
  sftp(): Promise<SFTPWrapper>;
  /**
   * Runs a command; resolves with its exit code and output (never throws on exit != 0), fails
   * after `timeoutMs` (default: the session's).
   */
  exec(command: string, options?: { timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `operation` bounded by the session's timeout and signal, named `what` in the error. */
  bounded<T>(what: string, operation: Promise<T>, timeoutMs?: number): Promise<T>;
  close(): void;
}

/** The session each SFTP channel belongs to, so SFTP calls get its timeout and signal. */
const sessionOfSftp = new WeakMap<SFTPWrapper, SshSession>();

/** `request` (an SFTP call) bounded like every other operation of its session. */
export function boundedSftp<T>(sftp: SFTPWrapper, what: string, request: Promise<T>): Promise<T> {
  const session = sessionOfSftp.get(sftp);
  return session ? session.bounded(what, request) : request;
}

/** Throughput a remote checksum is granted on top of the command timeout: 20 MiB/s. */
const CHECKSUM_BYTES_PER_MS = (20 * 1024 * 1024) / 1000;

/** How long hashing `bytes` on the server may take: the command timeout plus 1 s per 20 MiB. */
export function checksumTimeoutMs(timeoutMs: number, bytes: number): number {
  return timeoutMs + Math.ceil(bytes / CHECKSUM_BYTES_PER_MS);
}

function cancelledError(where: string): ArchiveSinkError {
  return new ArchiveSinkError(`${where}: cancelled`, { transient: false });
}

function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function describeSshTarget(d: RemoteDestination): string {
  return `${d.type.toUpperCase()} ${d.username}@${d.host}:${portOf(d)}`;
}

export function connectSsh(d: RemoteDestination, timeoutMs: number, signal?: AbortSignal): Promise<SshSession> {
  const where = describeSshTarget(d);
  if (signal?.aborted) return Promise.reject(cancelledError(where));
  return new Promise((resolve, reject) => {
    const client = new Client();
    let presented: { type: string; blob: Buffer; fingerprint: string } | undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(error);
    };
    const onAbort = () => {
      fail(cancelledError(where));
      client.end();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    client.once('close', () => signal?.removeEventListener('abort', onAbort));
    const bounded = <T>(what: string, operation: Promise<T>, limitMs = timeoutMs): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_resolve, rejectTimeout) => {
        timer = setTimeout(() => {
          const error = new Error(
            `${where}: ${what} did not answer within ${Math.round(limitMs / 1000)}s (remoteTransfer.timeoutSeconds)`,
          ) as Error & { code?: string };
          error.code = 'ETIMEDOUT';
          client.end();
          rejectTimeout(error);
        }, limitMs);
      });
      return abortable(Promise.race([operation, timedOut]), signal, () => cancelledError(where)).finally(() =>
        clearTimeout(timer),
      );
    };
    client.on('error', (error: Error & { level?: string }) => {
      if (presented && presented.fingerprint !== d.hostKeySha256) {
        fail(
          new ArchiveSinkError(
            d.hostKeySha256
              ? `${where}: the server's host key ${presented.fingerprint} does not match the pinned hostKeySha256 ${d.hostKeySha256}; refusing to connect`
              : `${where}: no hostKeySha256 is pinned for this destination; refusing the server's unverified host key ${presented.fingerprint} (verify it out of band, then pin it)`,
            { transient: false },
          ),
        );
      } else if (error.level === 'client-authentication') {
        fail(
          new ArchiveSinkError(
            `${where}: authentication failed (${d.privateKey ? 'private key' : 'password'}); check the username and credentials`,
            { transient: false },
          ),
        );
      } else {
        const e = new Error(`${where}: ${messageOf(error)}`) as Error & { code?: unknown };
        e.code = (error as { code?: unknown }).code;
        fail(e);
      }
    });
    client.on('ready', () => {
      if (settled) return;
      settled = true;
      const session: SshSession = {
        client,
        hostKey: { type: presented!.type, blob: presented!.blob },
        bounded,
        sftp: () =>
          bounded(
            'opening the SFTP channel',
            new Promise<SFTPWrapper>((res, rej) => client.sftp((err, sftp) => (err ? rej(err) : res(sftp)))),
          ).then(sftp => {
            sessionOfSftp.set(sftp, session);
            return sftp;
          }),
        exec: (command, options) =>
          bounded(
            `'${command.split(' ')[0]}'`,
            new Promise((res, rej) => {
              client.exec(command, (err, channel: ClientChannel) => {
                if (err) {
                  rej(err);
                  return;
                }
                let stdout = '';
                let stderr = '';
                let code: number | null = null;
                channel.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
                channel.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
                channel.on('exit', (c: number | null) => (code = c));
                channel.on('close', () => res({ code, stdout, stderr }));
              });
            }),
            options?.timeoutMs,
          ),
        close: () => client.end(),
      };
      resolve(session);
    });
    client.on('close', () => fail(new Error(`${where}: the connection closed during the handshake`)));
    client.connect({
      host: connectHostOf(d),
      port: portOf(d),
      username: d.username,
      password: d.privateKey ? undefined : d.password,
      privateKey: d.privateKey,
      readyTimeout: timeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 4,
      hostVerifier: (key: Buffer) => {
        presented = { type: keyTypeOf(key), blob: key, fingerprint: fingerprintOf(key) };
        return Boolean(d.hostKeySha256) && presented.fingerprint === d.hostKeySha256;
      },
    });
  });
}

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * `sha256sum` of a remote file over an exec channel, or undefined when the account has no
 * shell or no `sha256sum` (an SFTP-only account): the checksum is then not verified remotely.
 */
export async function remoteSha256(
  session: SshSession,
  file: string,
  timeoutMs: number,
): Promise<string | undefined> {
  let result: { code: number | null; stdout: string };
  try {
    result = await session.exec(`sha256sum -- ${shellQuote(file)}`, { timeoutMs });
  } catch (error) {
    // A server that accepted the command and never answered is a failure, not "no shell".
    if (isTransientError(error) || error instanceof ArchiveSinkError) throw error;
    return undefined;
  }
  if (result.code !== 0) return undefined;
  const m = /^([0-9a-f]{64})\s/.exec(result.stdout);
  return m?.[1];
}
