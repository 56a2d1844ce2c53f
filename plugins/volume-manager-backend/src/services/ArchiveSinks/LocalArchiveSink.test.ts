import { mkdtempSync, readFileSync, readdirSync, utimesSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalArchiveSink } from './LocalArchiveSink';

const target = { cluster: 'c1', namespace: 'ns', pvc: 'data', startedAt: new Date('2026-11-26T05:15:00.123Z') };

describe('LocalArchiveSink', () => {
  it('writes <cluster>/<namespace>/<pvc>/<pvc>-<stamp>.tar.gz with a sha256sum sidecar, via .partial', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const upload = await sink.open(target);
    await new Promise<void>(resolve => upload.stream.write('hello ', () => resolve()));
    const pvcDir = path.join(dir, 'c1', 'ns', 'data');
    expect(readdirSync(pvcDir)).toEqual(['data-20261126T051500Z.tar.gz.partial']);
    upload.stream.end('world');
    const { uri } = await upload.commit({ sha256: 'ab'.repeat(32), bytes: 11 });
    const file = path.join(pvcDir, 'data-20261126T051500Z.tar.gz');
    expect(fileURLToPath(uri)).toBe(file);
    expect(readFileSync(file, 'utf8')).toBe('hello world');
    expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${'ab'.repeat(32)}  data-20261126T051500Z.tar.gz\n`);
    expect(readdirSync(pvcDir).sort()).toEqual(['data-20261126T051500Z.tar.gz', 'data-20261126T051500Z.tar.gz.sha256']);
    expect(sink.resolveUri(uri)).toBe(file);
    expect(sink.resolveUri('file:///etc/passwd')).toBeUndefined();
  });

  it('leaves nothing behind on abort', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const upload = await new LocalArchiveSink(dir).open(target);
    upload.stream.write('partial data');
    await upload.abort();
    expect(readdirSync(path.join(dir, 'c1', 'ns', 'data'))).toEqual([]);
  });

  it('refuses path-like names', async () => {
    const sink = new LocalArchiveSink(mkdtempSync(path.join(os.tmpdir(), 'sink-')));
    await expect(sink.open({ ...target, pvc: '../../etc' })).rejects.toThrow("Refusing pvc '../../etc'");
    await expect(sink.open({ ...target, cluster: '..' })).rejects.toThrow("Refusing cluster '..'");
  });

  it('sweeps only stale partial files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    mkdirSync(path.join(dir, 'c1', 'ns', 'data'), { recursive: true });
    const stale = path.join(dir, 'c1', 'ns', 'data', 'old.tar.gz.partial');
    const fresh = path.join(dir, 'c1', 'ns', 'data', 'new.tar.gz.partial');
    const done = path.join(dir, 'c1', 'ns', 'data', 'done.tar.gz');
    for (const f of [stale, fresh, done]) writeFileSync(f, 'x');
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(stale, old, old);
    utimesSync(done, old, old);
    expect(await new LocalArchiveSink(dir).sweepStalePartials(60_000)).toEqual([stale]);
    expect([stale, fresh, done].map(f => existsSync(f))).toEqual([false, true, true]);
  });

  it('never sweeps a partial that is being written, however long its stream stalls', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const upload = await sink.open(target);
    await new Promise<void>(resolve => upload.stream.write('first bytes', () => resolve()));
    const partial = path.join(dir, 'c1', 'ns', 'data', 'data-20261126T051500Z.tar.gz.partial');
    // The helper has sent nothing for ten minutes (a stalled exec, a slow volume).
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(partial, old, old);
    expect(await sink.sweepStalePartials(60_000)).toEqual([]);
    expect(existsSync(partial)).toBe(true);
    upload.stream.end(' and the rest');
    await upload.commit({ sha256: 'ab'.repeat(32), bytes: 24 });
    expect(readFileSync(partial.replace(/\.partial$/, ''), 'utf8')).toBe('first bytes and the rest');
  });

  it("keeps a live partial fresh for another replica's sweep, and stops once it is done", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const writer = new LocalArchiveSink(dir, { touchIntervalMs: 50 });
    const upload = await writer.open(target);
    await new Promise<void>(resolve => upload.stream.write('first bytes', () => resolve()));
    const partial = path.join(dir, 'c1', 'ns', 'data', 'data-20261126T051500Z.tar.gz.partial');
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(partial, old, old);
    await new Promise(r => setTimeout(r, 300));
    expect(await new LocalArchiveSink(dir).sweepStalePartials(60_000)).toEqual([]);
    await upload.abort();
    expect(existsSync(partial)).toBe(false);
  });
});
