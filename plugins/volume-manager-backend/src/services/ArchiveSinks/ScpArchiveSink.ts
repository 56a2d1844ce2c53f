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
import { PassThrough, Readable, Writable } from 'node:stream';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { SFTPWrapper } from 'ssh2';
import {
  archivePathsUnder,
  messageOf,
  remoteArchivePaths,
  remoteUri,
  remoteUriPath,
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
import { MAX_SIDECAR_BYTES, parseSidecar } from './sidecar';
import {
  ArchiveSinkError,
  type ArchiveDownload,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from './types';

/** WRITE requests of this size, at most this many in flight. */
const WRITE_CHUNK = 256 * 1024;
const WRITES_IN_FLIGHT = 8;
/**
 * READ requests of this size, at most this many in flight. ssh2 splits a READ above 254 KiB
 * (OpenSSH's packet limit) into sequential requests, so one request stays below it.
 */
const READ_CHUNK = 192 * 1024;
const READS_IN_FLIGHT = 8;

/** SFTP status 2: no such file. */
const SFTP_NO_SUCH_FILE = 2;

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

/** One READ at `position`; the server may return fewer bytes than asked (never more). */
function sftpRead(sftp: SFTPWrapper, handle: Buffer, position: number, length: number): Promise<Buffer> {
  return sftpCall<Buffer>(sftp, 'read', cb =>
    sftp.read(handle, Buffer.allocUnsafe(length), 0, length, position, (err, bytesRead, buffer) =>
      cb(err, err ? undefined : buffer.subarray(0, bytesRead)),
    ),
  );
}

/**
 * Reads an open SFTP handle of a known size, several READ requests in flight and in order. It
 * only asks for more when the consumer does (`_read`), so a paused consumer stops the requests,
 * and memory stays at the stream buffer plus the requests in flight. Every READ has the
 * session's timeout; destroying the stream closes the session.
 */
class SftpHandleReader extends Readable {
  private offset = 0;
  private readonly queue: { position: number; length: number; data: Promise<Buffer> }[] = [];
  private pumping = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    private readonly size: number,
    /** Names the transfer in errors: `SCP user@host:port: reading <file>`. */
    private readonly what: string,
    private readonly release: () => void,
  ) {
    super({ highWaterMark: READ_CHUNK * READS_IN_FLIGHT });
  }

  private request(position: number, length: number) {
    const data = sftpRead(this.sftp, this.handle, position, length);
    data.catch(() => {}); // observed in order by pump()
    return { position, length, data };
  }

  private fill() {
    while (this.queue.length < READS_IN_FLIGHT && this.offset < this.size) {
      const length = Math.min(READ_CHUNK, this.size - this.offset);
      this.queue.push(this.request(this.offset, length));
      this.offset += length;
    }
  }

  private async pump() {
    for (;;) {
      this.fill();
      const next = this.queue.shift();
      if (!next) {
        this.push(null);
        return;
      }
      const data = await next.data;
      if (this.destroyed) return;
      if (data.length === 0) {
        throw new ArchiveSinkError(`${this.what}: the file ended at ${next.position} of ${this.size} bytes`, {
          transient: false,
        });
      }
      if (data.length < next.length) {
        // A short read: ask for the rest before anything queued behind it.
        this.queue.unshift(this.request(next.position + data.length, next.length - data.length));
      }
      if (!this.push(data)) return;
    }
  }

  _read() {
    if (this.pumping) return;
    this.pumping = true;
    this.pump().then(
      () => {
        this.pumping = false;
      },
      error => {
        this.pumping = false;
        // The file opened and its size was known: reading it again may well succeed.
        this.destroy(error instanceof ArchiveSinkError ? error : sinkError(this.what, error, true));
      },
    );
  }

  _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    this.release();
    callback(error);
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

  /**
   * The remote path of an archive URI this sink wrote: its absolute path (below the real path
   * of `remoteDir`), or, when realpath failed at upload, its path relative to the login
   * directory. Anything else is refused.
   */
  private async archivePathsOf(uri: string, sftp: SFTPWrapper) {
    const d = this.destination;
    const uriPath = remoteUriPath('sftp', d, uri, true);
    let paths = archivePathsUnder(d.remoteDir, uriPath);
    if (!paths && !d.remoteDir.startsWith('/')) {
      paths = archivePathsUnder(d.remoteDir, uriPath.slice(1));
      if (!paths) {
        const realDir = await sftpCall<string>(sftp, 'realpath', cb => sftp.realpath(d.remoteDir, cb)).catch(
          () => undefined,
        );
        if (realDir) paths = archivePathsUnder(realDir, uriPath);
      }
    }
    if (!paths) {
      throw new ArchiveSinkError(
        `${describeSshTarget(d)}: refusing to read '${uri}': not an archive below ${d.remoteDir}`,
        { transient: false },
      );
    }
    return paths;
  }

  /**
   * Reads back an archive this sink wrote over SFTP: the sidecar first (at most a few KiB),
   * then the archive with several READ requests in flight, only as fast as the reader takes
   * them. The host key is pinned as for uploads.
   */
  async read(uri: string, options?: { signal?: AbortSignal }): Promise<ArchiveDownload> {
    const d = this.destination;
    const where = describeSshTarget(d);
    // Refuse another host, port or user before connecting anywhere.
    remoteUriPath('sftp', d, uri, true);
    const signal = options?.signal;
    const timeoutMs = this.options.retry.timeoutMs;
    const missingOr = (file: string, error: unknown) =>
      (error as { code?: unknown })?.code === SFTP_NO_SUCH_FILE
        ? new ArchiveSinkError(`${where}: ${file} does not exist`, { transient: false, cause: error })
        : error;

    const { session, sftp, handle, size, sidecarSha256, file } = await this.retry('reading', async () => {
      const s = await connectSsh(d, timeoutMs, signal);
      try {
        const channel = await s.sftp();
        const paths = await this.archivePathsOf(uri, channel);
        const sidecarHandle = await sftpCall<Buffer>(channel, 'open', cb => channel.open(paths.sidecar, 'r', cb)).catch(
          error => {
            throw missingOr(paths.sidecar, error);
          },
        );
        const sidecarText = await sftpRead(channel, sidecarHandle, 0, MAX_SIDECAR_BYTES + 1);
        await sftpCall(channel, 'close', cb => channel.close(sidecarHandle, cb));
        const sha256 = parseSidecar(sidecarText.toString('utf8'), paths.fileName, `${where}: ${paths.sidecar}`);
        const h = await sftpCall<Buffer>(channel, 'open', cb => channel.open(paths.file, 'r', cb)).catch(error => {
          throw missingOr(paths.file, error);
        });
        const info = await sftpCall<{ size: number; isFile(): boolean }>(channel, 'fstat', cb => channel.fstat(h, cb));
        if (!info.isFile()) throw new ArchiveSinkError(`${where}: ${paths.file} is not a regular file`, { transient: false });
        return { session: s, sftp: channel, handle: h, size: info.size, sidecarSha256: sha256, file: paths.file };
      } catch (error) {
        s.close();
        throw error;
      }
    });

    const stream = new SftpHandleReader(sftp, handle, size, `${where}: reading ${file}`, () => session.close());
    const onAbort = () => stream.destroy(new ArchiveSinkError(`${where}: cancelled`, { transient: false }));
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal?.removeEventListener('abort', onAbort));
    session.client.once('close', () => {
      if (!stream.destroyed && !stream.readableEnded) {
        stream.destroy(new ArchiveSinkError(`${where}: reading ${file}: the connection closed`, { transient: true }));
      }
    });
    if (signal?.aborted) onAbort();
    return { stream, bytes: size, sidecarSha256 };
  }
}
