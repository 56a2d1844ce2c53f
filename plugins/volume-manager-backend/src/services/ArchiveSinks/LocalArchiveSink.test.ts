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
});
