/*
 * The `local` destination: `<backupDir>/<cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz` plus a
 * `.sha256` sidecar in `sha256sum` format. The archive is written to `*.partial`, fsynced, its
 * sidecar written and fsynced, and only then renamed to its final name, so an archive under its
 * final name is always complete and has its checksum next to it. While it streams, the archive
 * is flushed to disk every 32 MiB, so the final fsync does not wait for gigabytes of dirty pages.
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

export class LocalArchiveSink implements ArchiveSink {
  readonly id = 'local';
  readonly type = 'local';

  constructor(private readonly backupDir: string) {}

  /** The absolute path an archive URI of this sink points at, or undefined if it is not ours. */
  resolveUri(uri: string): string | undefined {
    if (!uri.startsWith('file://')) return undefined;
    const file = decodeURIComponent(new URL(uri).pathname);
    const root = path.resolve(this.backupDir) + path.sep;
    return file.startsWith(root) ? file : undefined;
  }

  /**
   * Removes `*.partial` files no writer has touched for `staleMs`: what a killed backend left
   * behind. A live writer appends continuously, so its file stays fresh.
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
        } else if (entry.name.endsWith('.partial')) {
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
    const closed = new Promise<void>((resolve, reject) => {
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    closed.catch(() => {}); // observed in commit/abort
    const stopSync = startBackgroundSync(stream, partialPath);
    return {
      stream,
      async commit({ sha256 }) {
        await stopSync();
        if (!stream.writableEnded) stream.end();
        await closed;
        await fsyncPath(partialPath);
        await writeDurably(`${finalPath}.sha256`, `${sha256}  ${path.basename(finalPath)}\n`);
        await fs.rename(partialPath, finalPath);
        await fsyncPath(dir);
        return { uri: pathToFileURL(finalPath).toString() };
      },
      async abort() {
        await stopSync();
        if (!stream.destroyed) stream.destroy();
        await closed.catch(() => {});
        await fs.rm(partialPath, { force: true });
      },
    };
  }
}
