import type { Writable } from 'node:stream';

/** What an archive is of, which decides where it goes. */
export interface ArchiveTarget {
  cluster: string;
  namespace: string;
  pvc: string;
  /** When the backup started; names the archive `<pvc>-<UTC yyyymmddThhmmssZ>.tar.gz`. */
  startedAt: Date;
}

/** One archive being written. Exactly one of commit() or abort() is called. */
export interface ArchiveUpload {
  /** The archive bytes go here; honour its write() return value. */
  readonly stream: Writable;
  /**
   * Makes the archive visible under its final name, with its `.sha256` sidecar, and returns its
   * URI (no credentials in it). Only called after the stream has finished successfully.
   */
  commit(result: { sha256: string; bytes: number }): Promise<{ uri: string }>;
  /** Removes whatever was written; nothing remains under the final name. */
  abort(): Promise<void>;
}

/** A destination for archives: local storage, FTP, FTPS, SCP, RSYNC, or one a module adds. */
export interface ArchiveSink {
  readonly id: string;
  readonly type: string;
  open(target: ArchiveTarget): Promise<ArchiveUpload>;
}

/** `20261126T051500Z` */
export function utcStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** `<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz`, the layout every sink mirrors. */
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
