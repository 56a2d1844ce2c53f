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
import { createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { archiveRelativePath, type ArchiveSink, type ArchiveTarget, type ArchiveUpload } from './types';
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
    const file = decodeURIComponent(new URL(uri).pathname);
    const root = path.resolve(this.backupDir) + path.sep;
    return file.startsWith(root) ? file : undefined;
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
