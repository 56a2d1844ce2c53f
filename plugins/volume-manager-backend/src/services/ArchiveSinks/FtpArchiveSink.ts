/*
 * FTP and FTPS with basic-ftp. FTPS uses explicit TLS (AUTH TLS on the control port) unless
 * `tls.implicit`; `tls.ca` and `tls.rejectUnauthorized` feed Node's TLS options, and both the
 * control and the data connections are encrypted.
 *
 * The archive streams straight from the helper pod into `STOR <file>.partial` (a PassThrough
 * carries backpressure from the data connection back to the exec socket). Commit checks the
 * size with `SIZE`, uploads the `.sha256` sidecar (via its own `.partial` name), then renames
 * the archive with RNFR/RNTO, so nothing appears under the final name before it is complete.
 * FTP offers no standard server-side checksum, so only the size is verified. Connecting and
 * finishing are retried with backoff; a failure while bytes flow fails the stream as transient
 * and the executor retries the whole stream.
 *
 * basic-ftp applies `remoteTransfer.timeoutSeconds` to every command and to data connections
 * that stop moving; aborting the signal given to open() or commit() closes the connection, which
 * fails whatever command waits.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client } from 'basic-ftp';
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  archivePathsUnder,
  connectHostOf,
  isTransientError,
  messageOf,
  portOf,
  remoteArchivePaths,
  remoteUri,
  remoteUriPath,
  sinkError,
  withLoggedRetry,
  describeRemote,
  type RemoteDestination,
  type RetryPolicy,
} from './remoteDestination';
import { MAX_SIDECAR_BYTES, parseSidecar } from './sidecar';
import {
  ArchiveSinkError,
  type ArchiveDownload,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from './types';

const STREAM_BUFFER = 1024 * 1024;

/** FTP's "file unavailable" (vsftpd: 550 Failed to open file / Could not get file size). */
function isMissing(error: unknown): boolean {
  return (error as { code?: unknown })?.code === 550;
}

function ftpSecureMode(d: RemoteDestination): boolean | 'implicit' {
  if (d.type !== 'ftps') return false;
  return d.tls?.implicit ? 'implicit' : true;
}

export class FtpArchiveSink implements ArchiveSink {
  readonly id: string;
  readonly type: 'ftp' | 'ftps';

  constructor(
    private readonly destination: RemoteDestination,
    private readonly options: { retry: RetryPolicy; logger: LoggerService },
  ) {
    if (destination.type !== 'ftp' && destination.type !== 'ftps') {
      throw new Error(`FtpArchiveSink cannot serve ${destination.type}`);
    }
    this.id = destination.id;
    this.type = destination.type;
  }

  describe() {
    return describeRemote(this.destination);
  }

  private get where() {
    return `${this.type.toUpperCase()} ${this.destination.host}:${portOf(this.destination)}`;
  }

  /** Connects, logs in and returns to the login directory. */
  private async connect(timeoutMs = this.options.retry.timeoutMs, signal?: AbortSignal): Promise<Client> {
    const d = this.destination;
    if (signal?.aborted) throw new ArchiveSinkError(`${this.where}: cancelled`, { transient: false });
    const client = new Client(timeoutMs);
    signal?.addEventListener('abort', () => client.close(), { once: true });
    const secureOptions: ConnectionOptions = {
      ca: d.tls?.ca,
      rejectUnauthorized: d.tls?.rejectUnauthorized ?? true,
      // The certificate must match the name as typed, even when we connect to its checked address.
      servername: isIP(d.host) ? undefined : d.host,
    };
    try {
      await client.access({
        host: connectHostOf(d),
        port: portOf(d),
        user: d.username,
        password: d.password ?? '',
        secure: ftpSecureMode(d),
        secureOptions: d.type === 'ftps' ? secureOptions : undefined,
      });
      return client;
    } catch (error) {
      client.close();
      if (signal?.aborted) throw new ArchiveSinkError(`${this.where}: cancelled`, { transient: false, cause: error });
      const code = (error as { code?: unknown }).code;
      if (code === 530) {
        throw new ArchiveSinkError(
          `${this.where}: login as '${d.username}' was refused (${messageOf(error)}); check the username and password`,
          { transient: false, cause: error },
        );
      }
      throw error;
    }
  }

  private retry<T>(what: string, fn: (attempt: number) => Promise<T>): Promise<T> {
    return withLoggedRetry(this.where, what, { ...this.options, destinationId: this.id }, fn);
  }

  async open(target: ArchiveTarget, openOptions?: { signal?: AbortSignal }): Promise<ArchiveUpload> {
    const d = this.destination;
    const paths = remoteArchivePaths(d.remoteDir, target);
    const uri = remoteUri(this.type, d, paths.file);
    const where = this.where;

    // Every connection works inside the archive's directory, by base names.
    const connectIn = async (signal?: AbortSignal) => {
      const c = await this.connect(undefined, signal);
      try {
        await c.ensureDir(paths.dir);
        return c;
      } catch (error) {
        c.close();
        throw error;
      }
    };
    const name = {
      partial: `${paths.fileName}.partial`,
      file: paths.fileName,
      sidecar: `${paths.fileName}.sha256`,
      sidecarPartial: `${paths.fileName}.sha256.partial`,
    };
    // Fail fast (credentials, TLS, permissions) before the backend starts a helper pod; the
    // upload connection itself is opened when the first bytes arrive, so no FTP connection
    // idles (and times out) while the helper pod starts.
    (await this.retry('connecting', () => connectIn(openOptions?.signal))).close();

    // `source` is what basic-ftp reads: it may destroy it with a raw socket error, so the
    // stream the executor writes is ours alone, and we fail it with an ArchiveSinkError.
    const source = new PassThrough({ highWaterMark: STREAM_BUFFER });
    source.on('error', () => {});
    let client: Client | undefined;
    let uploading: Promise<void> | undefined;
    let failure: Error | undefined;
    const start = () => {
      if (!uploading) {
        uploading = this.retry('connecting', () => connectIn(openOptions?.signal)).then(async c => {
          client = c;
          await c.uploadFrom(source, name.partial);
        });
        uploading.catch(error => {
          failure = sinkError(`${where}: uploading ${paths.partial}`, error);
          // eslint-disable-next-line @typescript-eslint/no-use-before-define
          if (!stream.destroyed) stream.destroy(failure);
        });
      }
      return uploading;
    };
    const stream: Writable = new Writable({
      highWaterMark: STREAM_BUFFER,
      write(chunk: Buffer, _encoding, callback) {
        start();
        if (source.write(chunk)) {
          callback();
          return;
        }
        // Whichever comes first: room in `source`, or `source` closing because the upload failed.
        const listeners = {
          drain: () => settle(),
          close: () => settle(failure ?? new Error(`${where}: the upload stream closed`)),
        };
        function settle(error?: Error) {
          source.off('drain', listeners.drain);
          source.off('close', listeners.close);
          if (!error) callback();
          else if (!stream.destroyed) callback(error);
        }
        source.once('drain', listeners.drain);
        source.once('close', listeners.close);
      },
      final(callback) {
        start().then(
          () => callback(),
          () => {
            if (!stream.destroyed) callback(failure);
          },
        );
        source.end();
      },
      destroy(error, callback) {
        if (!source.destroyed) source.destroy();
        callback(error);
      },
    });
    stream.on('error', () => {}); // observed by the executor and by commit()

    let sidecarCreated = false;
    const finish = async (sha256: string, bytes: number, signal?: AbortSignal) => {
      let attemptClient: Client | undefined = client && !client.closed ? client : undefined;
      const closeClient = () => attemptClient?.close();
      signal?.addEventListener('abort', closeClient, { once: true });
      await this.retry('finishing the upload', async () => {
        const c = attemptClient && !signal?.aborted ? attemptClient : await connectIn(signal);
        attemptClient = undefined;
        try {
          const finalSize = await c.size(name.file).catch(() => undefined);
          if (finalSize === bytes) return; // a previous attempt renamed it already
          const size = await c.size(name.partial);
          if (size !== bytes) {
            throw new ArchiveSinkError(
              `${where}: the server holds ${size} bytes of ${paths.partial}, expected ${bytes}`,
              { transient: true },
            );
          }
          await c.uploadFrom(Readable.from([`${sha256}  ${name.file}\n`]), name.sidecarPartial);
          await c.rename(name.sidecarPartial, name.sidecar);
          sidecarCreated = true;
          await c.rename(name.partial, name.file);
        } finally {
          c.close();
        }
      }).finally(() => signal?.removeEventListener('abort', closeClient));
    };

    return {
      stream,
      async commit({ sha256, bytes }, commitOptions) {
        if (stream.errored || stream.destroyed) {
          throw failure ?? stream.errored ?? new Error(`${where}: the upload was aborted`);
        }
        if (!stream.writableFinished) {
          await new Promise<void>((resolve, reject) => {
            stream.once('finish', resolve);
            stream.once('error', reject);
            if (!stream.writableEnded) stream.end();
          });
        }
        await finish(sha256, bytes, commitOptions?.signal);
        return { uri };
      },
      abort: async () => {
        if (!stream.destroyed) stream.destroy();
        if (!source.destroyed) source.destroy();
        client?.close();
        await uploading?.catch(() => {});
        let c: Client | undefined;
        try {
          c = await this.connect(Math.min(5000, this.options.retry.timeoutMs));
          await c.cd(paths.dir);
          for (const p of [name.partial, name.sidecarPartial, ...(sidecarCreated ? [name.sidecar] : [])]) {
            await c.remove(p, true).catch(() => {});
          }
        } catch (error) {
          if (!isTransientError(error)) throw error;
          throw new Error(`${where}: could not remove ${paths.partial}: ${messageOf(error)}`);
        } finally {
          c?.close();
        }
      },
    };
  }

  /**
   * Reads back an archive this sink wrote: the sidecar first (`RETR` into memory, at most a few
   * KiB), the size with `SIZE`, then `RETR` of the archive into the returned stream, with
   * backpressure (basic-ftp pipes the data connection, so a paused reader pauses the server).
   * The stream ends only after the server confirmed the transfer (226) and the byte count
   * matches `SIZE`; anything else destroys it with an ArchiveSinkError.
   */
  async read(uri: string, options?: { signal?: AbortSignal }): Promise<ArchiveDownload> {
    const d = this.destination;
    const where = this.where;
    const paths = archivePathsUnder(d.remoteDir, remoteUriPath(this.type, d, uri, false));
    if (!paths) {
      throw new ArchiveSinkError(`${where}: refusing to read '${uri}': not an archive below ${d.remoteDir}`, {
        transient: false,
      });
    }
    const signal = options?.signal;
    const missing = (file: string, error: unknown) =>
      new ArchiveSinkError(`${where}: ${file} does not exist or cannot be read (${messageOf(error)})`, {
        transient: false,
        cause: error,
      });

    const prepared = await this.retry('reading', async () => {
      const c = await this.connect(undefined, signal);
      try {
        await c.cd(paths.dir).catch(error => {
          throw isMissing(error) ? missing(paths.dir, error) : error;
        });
        const sidecarName = `${paths.fileName}.sha256`;
        const chunks: Buffer[] = [];
        let sidecarBytes = 0;
        await c
          .downloadTo(
            new Writable({
              write(chunk: Buffer, _encoding, callback) {
                sidecarBytes += chunk.length;
                if (sidecarBytes > MAX_SIDECAR_BYTES) {
                  callback(new ArchiveSinkError(`${where}: ${paths.sidecar} is not a sha256sum sidecar (too big)`, { transient: false }));
                  return;
                }
                chunks.push(chunk);
                callback();
              },
            }),
            sidecarName,
          )
          .catch(error => {
            if (error instanceof ArchiveSinkError) throw error;
            throw isMissing(error) ? missing(paths.sidecar, error) : error;
          });
        const sidecarSha256 = parseSidecar(
          Buffer.concat(chunks).toString('utf8'),
          paths.fileName,
          `${where}: ${paths.sidecar}`,
        );
        const bytes = await c.size(paths.fileName).catch(error => {
          throw isMissing(error) ? missing(paths.file, error) : error;
        });
        return { client: c, sidecarSha256, bytes };
      } catch (error) {
        c.close();
        // Aborting closed the client: whatever command waited failed, say why.
        if (signal?.aborted) throw new ArchiveSinkError(`${where}: cancelled`, { transient: false, cause: error });
        throw error;
      }
    });
    const { client, sidecarSha256, bytes } = prepared;

    // The consumer's stream: ended by us once the server confirmed the whole transfer, so a data
    // connection that closes early never looks like a complete archive.
    const stream = new PassThrough({ highWaterMark: STREAM_BUFFER });
    let received = 0;
    const fail = (error: unknown) => {
      if (!stream.destroyed) stream.destroy(sinkError(`${where}: reading ${paths.file}`, error));
    };
    // What basic-ftp pipes the data connection into; it waits whenever `stream` is full.
    const sink = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (stream.destroyed) {
          callback(new Error('the reader went away'));
          return;
        }
        if (stream.write(chunk)) {
          callback();
          return;
        }
        const settle = () => {
          stream.off('drain', settle);
          stream.off('close', settle);
          callback(stream.destroyed ? new Error('the reader went away') : undefined);
        };
        stream.once('drain', settle);
        stream.once('close', settle);
      },
    });
    sink.on('error', () => {});
    const onAbort = () => {
      client.close();
      fail(new ArchiveSinkError(`${where}: cancelled`, { transient: false }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => {
      signal?.removeEventListener('abort', onAbort);
      client.close(); // the reader is done or gone: release the connection either way
    });
    client.downloadTo(sink, paths.fileName).then(
      () => {
        if (received !== bytes) {
          fail(new ArchiveSinkError(`received ${received} of ${bytes} bytes`, { transient: true }));
        } else if (!stream.destroyed) {
          stream.end();
        }
      },
      error => fail(isMissing(error) ? missing(paths.file, error) : error),
    );
    if (signal?.aborted) onAbort();
    return { stream, bytes, sidecarSha256 };
  }
}
