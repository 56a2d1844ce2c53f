/*
 * SSH connections for the SCP (SFTP) and RSYNC sinks, with ssh2. The server's host key must
 * match the pinned `hostKeySha256` (the fingerprint `ssh-keygen -lf` prints); a destination
 * without a pin, or a server presenting another key, is refused before authentication, and the
 * error names the fingerprint the server presented so an operator can check it out of band.
 */
import { Client, type ClientChannel, type SFTPWrapper } from 'ssh2';
import { ArchiveSinkError } from './types';
import { connectHostOf, fingerprintOf, messageOf, portOf, type RemoteDestination } from './remoteDestination';

export interface SshSession {
  client: Client;
  /** The host key the server presented (and that matched the pin). */
  hostKey: { type: string; blob: Buffer };
  sftp(): Promise<SFTPWrapper>;
  /** Runs a command; resolves with its exit code and output (never throws on exit != 0). */
  exec(command: string): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): void;
}

function keyTypeOf(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString('latin1');
}

export function describeSshTarget(d: RemoteDestination): string {
  return `${d.type.toUpperCase()} ${d.username}@${d.host}:${portOf(d)}`;
}

export function connectSsh(d: RemoteDestination, timeoutMs: number): Promise<SshSession> {
  const where = describeSshTarget(d);
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
      resolve({
        client,
        hostKey: { type: presented!.type, blob: presented!.blob },
        sftp: () =>
          new Promise((res, rej) => client.sftp((err, sftp) => (err ? rej(err) : res(sftp)))),
        exec: command =>
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
        close: () => client.end(),
      });
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
export async function remoteSha256(session: SshSession, file: string): Promise<string | undefined> {
  try {
    const { code, stdout } = await session.exec(`sha256sum -- ${shellQuote(file)}`);
    if (code !== 0) return undefined;
    const m = /^([0-9a-f]{64})\s/.exec(stdout);
    return m?.[1];
  } catch {
    return undefined;
  }
}
