/*
 * Flushes a file being streamed to disk in the background, so that the fsync before its rename
 * has little left to write: without it a multi-GB archive sits dirty in the page cache until
 * commit, which then waits for all of it. The sync uses its own descriptor, so it never races
 * the stream closing its own.
 */
import { promises as fs } from 'node:fs';
import type { WriteStream } from 'node:fs';

export interface BackgroundSyncOptions {
  /** Sync once this many bytes were written since the last sync. */
  everyBytes?: number;
  /** How often to check. */
  intervalMs?: number;
  /** The sync itself (tests replace it). */
  datasync?: (handle: fs.FileHandle) => Promise<void>;
}

/** Starts syncing `file` while `stream` writes it; the returned function stops and waits. */
export function startBackgroundSync(
  stream: WriteStream,
  file: string,
  options: BackgroundSyncOptions = {},
): () => Promise<void> {
  const everyBytes = options.everyBytes ?? 32 * 1024 * 1024;
  const datasync = options.datasync ?? (handle => handle.datasync());
  let handle: fs.FileHandle | undefined;
  let synced = 0;
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    const written = stream.bytesWritten;
    if (inFlight || written - synced < everyBytes) return;
    inFlight = (async () => {
      handle ??= await fs.open(file, 'r');
      await datasync(handle);
      synced = written;
    })()
      .catch(() => {
        // best effort: commit's fsync is what guarantees durability
      })
      .finally(() => {
        inFlight = undefined;
      });
  }, options.intervalMs ?? 250);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await inFlight;
    await handle?.close().catch(() => {});
    handle = undefined;
  };
}
