/*
 * The archive-sink contract shared by the volume-manager backend and the modules that add
 * destinations to it (S3, a vendor API, ...). A sink receives one `.tar.gz` as a stream and
 * makes it visible under its final name only when it is complete and its checksum is recorded.
 */
import type { Readable, Writable } from 'node:stream';

/**
 * What an archive is of, which decides where it goes.
 *
 * @public
 */
export interface ArchiveTarget {
  cluster: string;
  namespace: string;
  pvc: string;
  /** When the backup started; names the archive `<pvc>-<UTC yyyymmddThhmmssZ>.tar.gz`. */
  startedAt: Date;
}

/**
 * Options of {@link ArchiveSink.open} and {@link ArchiveUpload.commit}.
 *
 * @public
 */
export interface ArchiveSinkCallOptions {
  /**
   * Aborted when the backup is cancelled (or its replica stops). A sink should then stop what it
   * waits for (connecting, a command, a checksum) and reject soon. A sink that ignores it still
   * works: the backend stops waiting at once, and cleans up (abort(), or the upload open()
   * returns late) when the call settles.
   */
  signal?: AbortSignal;
}

/**
 * One archive being written. Exactly one of commit() or abort() is called; abort() may follow a
 * commit() that failed or was cancelled.
 *
 * @public
 */
export interface ArchiveUpload {
  /**
   * The archive bytes go here; honour its write() return value. A sink that fails while bytes
   * flow destroys this stream with an error (an {@link ArchiveSinkError} with `transient: true`
   * when retrying the whole stream could succeed).
   */
  readonly stream: Writable;
  /**
   * Makes the archive visible under its final name, with its `.sha256` sidecar, and returns its
   * URI (no credentials in it). Only called after the stream has finished successfully.
   * Every network step should have a timeout; `options.signal` cancels it.
   */
  commit(result: { sha256: string; bytes: number }, options?: ArchiveSinkCallOptions): Promise<{ uri: string }>;
  /** Removes whatever was written; nothing remains under the final name. */
  abort(): Promise<void>;
}

/**
 * An archive being read back for a restore (see {@link ArchiveSink.read}).
 *
 * @public
 */
export interface ArchiveDownload {
  /**
   * The archive's bytes, from the first. The reader honours backpressure (pauses it); a network
   * failure destroys it with an error ({@link ArchiveSinkError}, `transient: true` when reading
   * again could succeed). Destroying it (the restore was cancelled) releases the connection
   * and any temporary copy. It ends only when the destination confirmed the whole transfer, so
   * a download cut short never looks complete.
   */
  readonly stream: Readable;
  /** The archive's size in bytes, when the destination tells it before the transfer. */
  readonly bytes?: number;
  /** The sha256 in the archive's `.sha256` sidecar (lowercase hex), read before `stream`. */
  readonly sidecarSha256: string;
}

/**
 * A destination for archives: local storage, FTP, FTPS, SCP, RSYNC, or one a module adds.
 *
 * @public
 */
export interface ArchiveSink {
  /** The destination id used in requests and stored with each backup item. */
  readonly id: string;
  /** A short type name shown by `GET /destinations`, for example `s3`. */
  readonly type: string;
  /**
   * Starts an archive. Connection and authentication problems should surface here, before the
   * backend starts a helper pod. Every network step should have a timeout; `options.signal`
   * cancels it.
   */
  open(target: ArchiveTarget, options?: ArchiveSinkCallOptions): Promise<ArchiveUpload>;
  /**
   * Reads back an archive this sink wrote (a URI its commit() returned), for a restore. Sinks
   * without it cannot serve restores: the backend refuses a restore from their archives with a
   * clear reason. A URI that is not one of this sink's (another scheme, host, port or user, a
   * path outside its directory, `..` or an encoded `/`) is refused before connecting, with an
   * {@link ArchiveSinkError} (`transient: false`). The sidecar is read first; a missing archive
   * or sidecar is an {@link ArchiveSinkError} (`transient: false`) that names the file. Every
   * network step should have a timeout; `options.signal` cancels it and destroys the stream.
   */
  read?(uri: string, options?: ArchiveSinkCallOptions): Promise<ArchiveDownload>;
  /**
   * What `GET /destinations` shows about this sink, besides id and type. Never secrets.
   */
  describe?(): { host?: string; port?: number; username?: string; remoteDir?: string };
}

/**
 * An error from a sink. `transient: true` means the backend may retry the whole stream with
 * backoff (network drops, a server restarting); anything else fails the item at once.
 *
 * @public
 */
export class ArchiveSinkError extends Error {
  readonly name = 'ArchiveSinkError';
  readonly transient: boolean;

  constructor(message: string, options: { transient: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.transient = options.transient;
  }
}

/**
 * Whether an error is a sink failure worth retrying.
 *
 * @public
 */
export function isTransientArchiveSinkError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { name?: unknown }).name === 'ArchiveSinkError' &&
    (error as { transient?: unknown }).transient === true
  );
}

/**
 * `20261126T051500Z`
 *
 * @public
 */
export function utcStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/**
 * `<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz`, the layout every sink mirrors. Each
 * segment is checked, so the result can never climb out of the directory it is joined to.
 *
 * @public
 */
export function archiveRelativePath(target: ArchiveTarget): string[] {
  for (const [what, value] of Object.entries({
    cluster: target.cluster,
    namespace: target.namespace,
    pvc: target.pvc,
  })) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) || value.includes('..')) {
      throw new Error(`Refusing ${what} '${value}' as a path segment`);
    }
  }
  return [
    target.cluster,
    target.namespace,
    target.pvc,
    `${target.pvc}-${utcStamp(target.startedAt)}.tar.gz`,
  ];
}
