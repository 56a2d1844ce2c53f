import { createHash, randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  mkdirSync,
  existsSync,
} from 'node:fs';
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

describe('LocalArchiveSink.read', () => {
  async function writeArchive(sink: LocalArchiveSink, content: Buffer) {
    const upload = await sink.open(target);
    upload.stream.end(content);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const { uri } = await upload.commit({ sha256, bytes: content.length });
    return { uri, sha256 };
  }

  async function drain(stream: NodeJS.ReadableStream) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    return { bytes, sha256: hash.digest('hex') };
  }

  it('reads back what commit() wrote: same bytes, same sha256, the sidecar value', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const content = randomBytes(3 * 1024 * 1024 + 17);
    const { uri, sha256 } = await writeArchive(sink, content);
    const download = await sink.read(uri);
    expect(download.sidecarSha256).toBe(sha256);
    expect(download.bytes).toBe(content.length);
    expect(await drain(download.stream)).toEqual({ bytes: content.length, sha256 });
  });

  it('names the missing archive, and the missing sidecar, as final errors', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const { uri } = await writeArchive(sink, Buffer.from('x'));
    const file = fileURLToPath(uri);
    rmSync(`${file}.sha256`);
    await expect(sink.read(uri)).rejects.toMatchObject({
      name: 'ArchiveSinkError',
      transient: false,
      message: expect.stringContaining(`${file}.sha256 does not exist`),
    });
    rmSync(file);
    const missing = sink.read(uri);
    await expect(missing).rejects.toMatchObject({ transient: false });
    await expect(missing).rejects.toThrow(`${file} does not exist`);
  });

  it('refuses a sidecar that is not one, or is for another archive', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const { uri } = await writeArchive(sink, Buffer.from('x'));
    const file = fileURLToPath(uri);
    writeFileSync(`${file}.sha256`, 'not a checksum\n');
    await expect(sink.read(uri)).rejects.toThrow('not a sha256sum sidecar');
    writeFileSync(`${file}.sha256`, `${'a'.repeat(64)}  other.tar.gz\n`);
    await expect(sink.read(uri)).rejects.toThrow("the sidecar is for 'other.tar.gz'");
    writeFileSync(`${file}.sha256`, 'a'.repeat(1024 * 1024));
    await expect(sink.read(uri)).rejects.toThrow('not a sha256sum sidecar');
  });

  it('refuses URIs outside the backup directory: absolute, .., encoded /, other hosts, symlinks', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    await writeArchive(sink, Buffer.from('x'));
    // A readable target outside backupDir, with a valid sidecar, so only the URI check stops it.
    const outside = mkdtempSync(path.join(os.tmpdir(), 'outside-'));
    writeFileSync(path.join(outside, 'secret.tar.gz'), 'secret');
    writeFileSync(path.join(outside, 'secret.tar.gz.sha256'), `${'a'.repeat(64)}  secret.tar.gz\n`);
    const up = path.relative(dir, outside);
    symlinkSync(path.join(outside, 'secret.tar.gz'), path.join(dir, 'link.tar.gz'));
    writeFileSync(path.join(dir, 'link.tar.gz.sha256'), `${'a'.repeat(64)}  link.tar.gz\n`);
    symlinkSync(outside, path.join(dir, 'c1', 'escape'));
    const attacks = [
      'file:///etc/passwd',
      `file://${dir}/../${path.basename(outside)}/secret.tar.gz`,
      `file://${dir}/c1/%2E%2E/%2E%2E/${path.basename(outside)}/secret.tar.gz`,
      `file://${dir}/c1%2F..%2F..%2F${up.replace(/\//g, '%2F')}%2Fsecret.tar.gz`,
      `file://evil.example${dir}/c1/ns/data/data-20261126T051500Z.tar.gz`,
      `file://${dir}/link.tar.gz`,
      `file://${dir}/c1/escape/secret.tar.gz`,
      `ftp://localhost${dir}/c1/ns/data/data-20261126T051500Z.tar.gz`,
      `file://${dir}/c1/ns/data/data-20261126T051500Z.tar.gz.sha256`,
      `file://${dir}`,
    ];
    for (const uri of attacks) {
      const result = sink.read(uri);
      await expect(result).rejects.toMatchObject({ name: 'ArchiveSinkError', transient: false });
      await expect(result).rejects.toThrow(/refusing/);
    }
  });

  it('destroys the stream and closes the file when the signal aborts mid-read', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sink-'));
    const sink = new LocalArchiveSink(dir);
    const { uri } = await writeArchive(sink, randomBytes(8 * 1024 * 1024));
    const controller = new AbortController();
    const download = await sink.read(uri, { signal: controller.signal });
    const fdsBefore = readdirSync('/proc/self/fd').length;
    await new Promise(resolve => download.stream.once('data', resolve));
    download.stream.pause();
    const failed = new Promise(resolve => download.stream.once('error', resolve));
    const closed = new Promise(resolve => download.stream.once('close', resolve));
    controller.abort();
    expect(await failed).toMatchObject({ name: 'ArchiveSinkError', message: 'local: reading cancelled' });
    await closed;
    expect(download.stream.destroyed).toBe(true);
    expect(readdirSync('/proc/self/fd').length).toBeLessThan(fdsBefore);
    await expect(sink.read(uri, { signal: controller.signal })).rejects.toThrow('cancelled');
  });
});
