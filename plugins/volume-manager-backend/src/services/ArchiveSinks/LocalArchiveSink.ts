/*
 * The `local` destination: `<backupDir>/<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz` plus a
 * `.sha256` sidecar in `sha256sum` format. The archive is written to `*.partial`, fsynced, its
 * sidecar written and fsynced, and only then renamed to its final name, so an archive under its
 * final name is always complete and has its checksum next to it. While it streams, the archive
 * is flushed to disk every 32 MiB, so the final fsync does not wait for gigabytes of dirty pages.
 *
 * A `.partial` whose writer is live is never swept, however long its stream stalls: this sink
 * skips the partials it has open, and touches them every `touchIntervalMs` so the sweep of
 * another replica sharing the directory (which goes by age) sees them as fresh too.
 */
import { constants as fsConstants, createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ArchiveSinkError,
  archiveRelativePath,
  type ArchiveDownload,
  type ArchiveSink,
  type ArchiveTarget,
  type ArchiveUpload,
} from './types';
import { MAX_SIDECAR_BYTES, parseSidecar } from './sidecar';
import { startBackgroundSync } from './backgroundSync';

async function fsyncPath(p: string) {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeDurably(file: string, content: string) {
  const partial = `${file}.partial`;
  const handle = await fs.open(partial, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(partial, file);
}

function missingOr(error: unknown, file: string): Error {
  const code = (error as { code?: unknown }).code;
  if (code === 'ENOENT') return new ArchiveSinkError(`local: ${file} does not exist`, { transient: false, cause: error });
  return new ArchiveSinkError(`local: cannot read ${file}: ${(error as Error).message}`, {
    transient: false,
    cause: error,
  });
}

/** Reads a sidecar, refusing a symlink out of `root` and anything bigger than a sidecar can be. */
async function readSmallFile(file: string, root: string): Promise<string> {
  const real = await fs.realpath(file).catch(error => {
    throw missingOr(error, file);
  });
  if (!real.startsWith(root + path.sep)) {
    throw new ArchiveSinkError(`local: refusing ${file}: it leads outside the backup directory`, { transient: false });
  }
  const handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(error => {
    throw missingOr(error, file);
  });
  try {
    const buffer = Buffer.alloc(MAX_SIDECAR_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

export interface LocalArchiveSinkOptions {
  /** How often an open `.partial` gets its mtime refreshed; keep it well below the sweep age. */
  touchIntervalMs?: number;
}

export class LocalArchiveSink implements ArchiveSink {
  readonly id = 'local';
  readonly type = 'local';
  /** Partials this sink is writing now. */
  private readonly live = new Set<string>();
  private readonly touchIntervalMs: number;

  constructor(
    private readonly backupDir: string,
    options: LocalArchiveSinkOptions = {},
  ) {
    this.touchIntervalMs = options.touchIntervalMs ?? 30_000;
  }

  /** The absolute path an archive URI of this sink points at, or undefined if it is not ours. */
  resolveUri(uri: string): string | undefined {
    if (!uri.startsWith('file://')) return undefined;
    let file: string;
    try {
      // Refuses a host and encoded `/` (`a%2F..%2F..%2Fetc`); `..` is resolved, then checked below.
      file = path.resolve(fileURLToPath(uri));
    } catch {
      return undefined;
    }
    const root = path.resolve(this.backupDir) + path.sep;
    return file.startsWith(root) ? file : undefined;
  }

  /**
   * Streams back an archive this sink wrote. The URI must point inside `backupDir` (after
   * resolving `..` and symlinks) at a `.tar.gz`; anything else is refused.
   */
  async read(uri: string, options?: { signal?: AbortSignal }): Promise<ArchiveDownload> {
    const file = this.resolveUri(uri);
    if (!file || !file.endsWith('.tar.gz')) {
      throw new ArchiveSinkError(`local: refusing to read '${uri}': not an archive under the backup directory`, {
        transient: false,
      });
    }
    if (options?.signal?.aborted) throw new ArchiveSinkError('local: cancelled', { transient: false });
    // A symlink inside backupDir must not lead out of it.
    const root = await fs.realpath(path.resolve(this.backupDir)).catch(() => path.resolve(this.backupDir));
    const real = await fs.realpath(file).catch(error => {
      throw missingOr(error, file);
    });
    if (!real.startsWith(root + path.sep)) {
      throw new ArchiveSinkError(`local: refusing to read '${uri}': it leads outside the backup directory`, {
        transient: false,
      });
    }
    const sidecarPath = `${file}.sha256`;
    const sidecarText = await readSmallFile(sidecarPath, root);
    const sidecarSha256 = parseSidecar(sidecarText, path.basename(file), `local: ${sidecarPath}`);
    const handle = await fs.open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW).catch(error => {
      throw missingOr(error, file);
    });
    let bytes: number;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ArchiveSinkError(`local: ${file} is not a regular file`, { transient: false });
      bytes = info.size;
    } catch (error) {
      await handle.close();
      throw error;
    }
    const stream = createReadStream('', { fd: handle, highWaterMark: 1024 * 1024, autoClose: true });
    const signal = options?.signal;
    if (signal) {
      const onAbort = () => stream.destroy(new ArchiveSinkError('local: reading cancelled', { transient: false }));
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    return { stream, bytes, sidecarSha256 };
  }

  /**
   * Removes `*.partial` files no writer has touched for `staleMs`: what a killed backend left
   * behind. Never one this sink is writing; a live writer elsewhere touches its file every
   * `touchIntervalMs`, so it stays fresh even while its stream stalls.
   */
  async sweepStalePartials(staleMs: number, now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(p);
        } else if (entry.name.endsWith('.partial') && !this.live.has(p)) {
          const info = await fs.stat(p).catch(() => undefined);
          if (info && now - info.mtimeMs > staleMs) {
            await fs.rm(p, { force: true });
            removed.push(p);
          }
        }
      }
    };
    await walk(path.resolve(this.backupDir));
    return removed;
  }

  async open(target: ArchiveTarget): Promise<ArchiveUpload> {
    const segments = archiveRelativePath(target);
    const finalPath = path.resolve(this.backupDir, ...segments);
    const dir = path.dirname(finalPath);
    const partialPath = `${finalPath}.partial`;
    await fs.mkdir(dir, { recursive: true });
    const stream = createWriteStream(partialPath, { flags: 'wx', highWaterMark: 1024 * 1024 });
    const live = this.live;
    live.add(partialPath);
    const toucher = setInterval(() => {
      const t = new Date();
      fs.utimes(partialPath, t, t).catch(() => {});
    }, this.touchIntervalMs);
    toucher.unref();
    const done = () => {
      clearInterval(toucher);
      live.delete(partialPath);
    };
    const closed = new Promise<void>((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    closed.catch(() => {}); // observed in commit/abort
    const stopSync = startBackgroundSync(stream, partialPath);
    return {
      stream,
      async commit({ sha256 }) {
        try {
          await stopSync();
          if (!stream.writableEnded) stream.end();
          await closed;
          await fsyncPath(partialPath);
          await writeDurably(`${finalPath}.sha256`, `${sha256}  ${path.basename(finalPath)}\n`);
          await fs.rename(partialPath, finalPath);
          await fsyncPath(dir);
          return { uri: pathToFileURL(finalPath).toString() };
        } finally {
          done();
        }
      },
      async abort() {
        try {
          await stopSync();
          if (!stream.destroyed) stream.destroy();
          await closed.catch(() => {});
          await fs.rm(partialPath, { force: true });
        } finally {
          done();
        }
      },
    };
  }
}
