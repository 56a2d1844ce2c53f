import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBackgroundSync } from './backgroundSync';

describe('startBackgroundSync', () => {
  it('syncs the file each time enough new bytes were written, and stops when asked', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'nkvm-sync-')), 'archive.partial');
    const stream = createWriteStream(file);
    const syncedSizes: number[] = [];
    const stop = startBackgroundSync(stream, file, {
      everyBytes: 1024 * 1024,
      intervalMs: 5,
      datasync: async handle => {
        syncedSizes.push((await handle.stat()).size);
      },
    });
    for (let i = 0; i < 5; i++) {
      await new Promise<void>(resolve => stream.write(Buffer.alloc(1024 * 1024, i), () => resolve()));
      await new Promise(resolve => setTimeout(resolve, 30));
    }
    await stop();
    const countAtStop = syncedSizes.length;
    await new Promise<void>(resolve => stream.end(resolve));
    await new Promise(resolve => setTimeout(resolve, 30));

    expect(countAtStop).toBeGreaterThanOrEqual(4);
    expect(syncedSizes).toHaveLength(countAtStop); // nothing after stop()
    expect(syncedSizes).toEqual([...syncedSizes].sort((a, b) => a - b));
    expect(readFileSync(file).length).toBe(5 * 1024 * 1024);
  });

  it('does nothing while less than the threshold was written', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'nkvm-sync-')), 'small.partial');
    const stream = createWriteStream(file);
    let syncs = 0;
    const stop = startBackgroundSync(stream, file, { everyBytes: 1024 * 1024, intervalMs: 5, datasync: async () => void syncs++ });
    await new Promise<void>(resolve => stream.write(Buffer.alloc(1000), () => resolve()));
    await new Promise(resolve => setTimeout(resolve, 50));
    await stop();
    stream.end();
    expect(syncs).toBe(0);
  });
});
