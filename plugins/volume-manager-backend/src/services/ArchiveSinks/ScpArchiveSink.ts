/*
 * The `scp` destination, streamed over SFTP (ssh2) rather than the legacy scp protocol:
 * - SFTP has flow control and random-access writes, so the archive streams from the helper pod
 *   with several WRITE requests in flight (bounded memory) instead of one `scp -t` pipe;
 * - it renames atomically (`posix-rename@openssh.com`), stats and removes files as protocol
 *   operations, so neither the upload nor the rename needs a remote shell, and no path is ever
 *   interpreted by one;
 * - OpenSSH itself made SFTP the default transport of `scp` in 9.0.
 * Host keys are pinned (`hostKeySha256`), see sshConnection.ts. After the upload the size is
 * checked with `stat`, and the sha256 with `sha256sum` over an exec channel when the account
 * allows commands (an SFTP-only account gets the size check only). Then the `.sha256` sidecar
 * is written and the archive renamed from `<file>.partial` to its final name.
 */
import { PassThrough, Writable } from 'node:stream';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { SFTPWrapper } from 'ssh2';
import {
  messageOf,
  remoteArchivePaths,
  remoteUri,
  sinkError,
  withLoggedRetry,
  describeRemote,
  type RemoteDestination,
  type RetryPolicy,
} from './remoteDestination';
import {
  boundedSftp,
  checksumTimeoutMs,
  connectSsh,
  describeSshTarget,
  remoteSha256,
  type SshSession,
} from './sshConnection';
import { abortable } from '../abortable';
import { ArchiveSinkError, type ArchiveSink, type ArchiveTarget, type ArchiveUpload } from './types';

/** WRITE requests of this size, at most this many in flight. */
const WRITE_CHUNK = 256 * 1024;
const WRITES_IN_FLIGHT = 8;

/** One SFTP request, bounded by its session's timeout and signal (see boundedSftp). */
function sftpCall<T>(
  sftp: SFTPWrapper,
  what: string,
  fn: (cb: (err: Error | null | undefined, value?: T) => void) => void,
): Promise<T> {
  return boundedSftp(
    sftp,
    `SFTP ${what}`,
    new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T)))),
  );
}

async function sftpMkdir(sftp: SFTPWrapper, dir: string): Promise<void> {
  const isDir = () =>
    sftpCall<{ isDirectory(): boolean }>(sftp, 'stat', cb => sftp.stat(dir, cb)).then(
      st => st.isDirectory(),
      () => false,
    );
  if (await isDir()) return;
  try {
    await sftpCall(sftp, 'mkdir', cb => sftp.mkdir(dir, cb));
  } catch (error) {
    if (!(await isDir())) throw error; // not created by a concurrent upload either
  }
}

export async function sftpMkdirs(sftp: SFTPWrapper, dir: string): Promise<void> {
  const segments = dir.split('/').filter(s => s && s !== '.');
  const prefix = dir.startsWith('/') ? '' : '.';
  for (let i = 1; i <= segments.length; i++) {
    await sftpMkdir(sftp, `${prefix}/${segments.slice(0, i).join('/')}`);
  }
}

export async function sftpRename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  try {
    await sftpCall(sftp, 'ext_openssh_rename', cb => sftp.ext_openssh_rename(from, to, cb));
  } catch {
    await sftpCall(sftp, 'rename', cb => sftp.rename(from, to, cb));
  }
}

/** Writes an open SFTP handle with several requests in flight; memory stays bounded. */
class SftpHandleWriter extends Writable {
  private position = 0;
  private inFlight = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failure?: Error;
  private waiter?: () => void;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
  ) {
    super({ highWaterMark: WRITE_CHUNK });
  }

  private send(buffer: Buffer) {
    const position = this.position;
    this.position += buffer.length;
    this.inFlight++;
    this.sftp.write(this.handle, buffer, 0, buffer.length, position, err => {
      this.inFlight--;
      if (err && !this.failure) this.failure = err;
      const w = this.waiter;
      this.waiter = undefined;
      w?.();
    });
  }

  private async room(max: number) {
    while (this.inFlight > max && !this.failure) {
      await new Promise<void>(r => (this.waiter = r));
    }
    if (this.failure) throw this.failure;
  }

  private flushPending() {
    if (this.pendingBytes === 0) return;
    const buffer = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.send(buffer);
  }

  _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < WRITE_CHUNK) {
      callback(this.failure);
      return;
    }
    this.flushPending();
    this.room(WRITES_IN_FLIGHT - 1).then(() => callback(), callback);
  }

  _final(callback: (error?: Error | null) => void) {
    this.flushPending();
    this.room(0).then(() => callback(), callback);
  }

  get written() {
    return this.position;
  }
}

export class ScpArchiveSink implements ArchiveSink {
  readonly id: string;
  readonly type = 'scp';

  constructor(
    private readonly destination: RemoteDestination,
    private readonly options: { retry: RetryPolicy; logger: LoggerService },
  ) {
    this.id = destination.id;
  }

  describe() {
    return describeRemote(this.destination);
  }

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withLoggedRetry(describeSshTarget(this.destination), what, { ...this.options, destinationId: this.id }, fn);
  }

  async open(target: ArchiveTarget, openOptions?: { signal?: AbortSignal }): Promise<ArchiveUpload> {
    const d = this.destination;
    const where = describeSshTarget(d);
    const paths = remoteArchivePaths(d.remoteDir, target);
    const timeoutMs = this.options.retry.timeoutMs;

    const connect = async (signal?: AbortSignal) => {
      const session = await connectSsh(d, timeoutMs, signal);
      try {
        const sftp = await session.sftp();
        await sftpMkdirs(sftp, paths.dir);
        return { session, sftp };
      } catch (error) {
        session.close();
        throw error;
      }
    };
    const first = await this.retry('connecting', () => connect(openOptions?.signal));
    // Absolute paths make the recorded URI unambiguous (`~` differs between accounts).
    const absoluteFile = paths.file.startsWith('/')
      ? paths.file
      : await sftpCall<string>(first.sftp, 'realpath', cb => first.sftp.realpath(paths.dir, cb)).then(
          dir => `${dir.replace(/\/$/, '')}/${paths.fileName}`,
          () => paths.file,
        );
    const uri = remoteUri('sftp', d, absoluteFile, true);

    const handle = await sftpCall<Buffer>(first.sftp, 'open', cb => first.sftp.open(paths.partial, 'w', { mode: 0o640 }, cb)).catch(
      error => {
        first.session.close();
        throw sinkError(`${where}: opening ${paths.partial}`, error);
      },
    );
    const writer = new SftpHandleWriter(first.sftp, handle);
    const stream = new PassThrough({ highWaterMark: WRITE_CHUNK });
    stream.on('error', () => {});
    const broken = (error: unknown) => {
      const failure = sinkError(`${where}: uploading ${paths.partial}`, error, true);
      if (!stream.destroyed) stream.destroy(failure);
      return failure;
    };
    first.session.client.on('close', () => broken(new Error('the connection closed')));
    const uploading = new Promise<void>((resolve, reject) => {
      stream.pipe(writer);
      writer.on('finish', resolve);
      writer.on('error', error => reject(broken(error)));
      stream.on('error', error => reject(error));
    }).then(() => sftpCall(first.sftp, 'close', cb => first.sftp.close(handle, cb)));
    uploading.catch(() => {});

    let sidecarCreated = false;
    const finish = async (sha256: string, bytes: number, signal?: AbortSignal) => {
      let reuse: { session: SshSession; sftp: SFTPWrapper } | undefined = first;
      // The upload's connection was opened under open()'s signal: commit's closes it too.
      const closeFirst = () => first.session.close();
      signal?.addEventListener('abort', closeFirst, { once: true });
      const finishing = this.retry('finishing the upload', async () => {
        const { session, sftp } = reuse && !signal?.aborted ? reuse : await connect(signal);
        reuse = undefined;
        try {
          const done = await sftpCall<{ size: number }>(sftp, 'stat', cb => sftp.stat(paths.file, cb)).catch(() => undefined);
          if (done?.size === bytes) return;
          const info = await sftpCall<{ size: number }>(sftp, 'stat', cb => sftp.stat(paths.partial, cb));
          if (info.size !== bytes) {
            throw new ArchiveSinkError(
              `${where}: the server holds ${info.size} bytes of ${paths.partial}, expected ${bytes}`,
              { transient: true },
            );
          }
          const remote = await remoteSha256(session, paths.partial, checksumTimeoutMs(timeoutMs, bytes));
          if (remote !== undefined && remote !== sha256) {
            throw new ArchiveSinkError(
              `${where}: sha256 of ${paths.partial} on the server is ${remote}, expected ${sha256}`,
              { transient: true },
            );
          }
          if (remote === undefined) {
            this.options.logger.info(`${where}: no sha256sum over exec; verified the size only`, {
              destination: this.id,
            });
          }
          await sftpCall(sftp, 'writeFile', cb =>
            sftp.writeFile(paths.sidecarPartial, `${sha256}  ${paths.fileName}\n`, { mode: 0o640 }, cb),
          );
          await sftpRename(sftp, paths.sidecarPartial, paths.sidecar);
          sidecarCreated = true;
          await sftpRename(sftp, paths.partial, paths.file);
        } finally {
          session.close();
        }
      }).finally(() => signal?.removeEventListener('abort', closeFirst));
      await abortable(finishing, signal, () => new ArchiveSinkError(`${where}: cancelled`, { transient: false }));
    };

    return {
      stream,
      async commit({ sha256, bytes }, commitOptions) {
        if (!stream.writableEnded) stream.end();
        await uploading;
        await finish(sha256, bytes, commitOptions?.signal);
        return { uri };
      },
      abort: async () => {
        // With an error, so that `uploading` settles: a plain destroy() emits no 'error', and
        // an idle writer never fails on its own.
        if (!stream.destroyed) stream.destroy(new ArchiveSinkError(`${where}: aborted`, { transient: false }));
        first.session.close();
        await uploading.catch(() => {});
        const s = await connectSsh(d, Math.min(5000, timeoutMs)).catch((error: unknown) => {
          throw new Error(`${where}: could not remove ${paths.partial}: ${messageOf(error)}`);
        });
        try {
          const sftp = await s.sftp();
          for (const p of [paths.partial, paths.sidecarPartial, ...(sidecarCreated ? [paths.sidecar] : [])]) {
            await sftpCall(sftp, 'unlink', cb => sftp.unlink(p, cb)).catch(() => {});
          }
        } finally {
          s.close();
        }
      },
    };
  }
}
