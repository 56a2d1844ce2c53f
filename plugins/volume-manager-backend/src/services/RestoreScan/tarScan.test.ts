import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { generateFileTree } from '@nkvm/kube-sim/src/files';
import { createTarScanner, scanTarGz, UnsafeArchiveError } from './tarScan';

/** A ustar header block, checksummed, as tar writes it. */
function header(name: string, opts: { type?: string; size?: number; linkname?: string; prefix?: string } = {}): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${(opts.size ?? 0).toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write(opts.type ?? '0', 156);
  if (opts.linkname) h.write(opts.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263);
  if (opts.prefix) h.write(opts.prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function file(name: string, content: string): Buffer[] {
  const data = Buffer.from(content);
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return [header(name, { size: data.length }), padded];
}

const END = Buffer.alloc(1024);
const archive = (...parts: Array<Buffer | Buffer[]>) => gzipSync(Buffer.concat([...parts.flat(), END]));
const scan = (gz: Buffer) => scanTarGz(Readable.from([gz]));

describe('scanTarGz', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-tarscan-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("accepts what our backups hold: GNU tar of the odd tree (long names, unicode, links, empty dirs)", async () => {
    const tree = path.join(dir, 'odd');
    await generateFileTree({ seed: 3, files: 12, totalBytes: 200_000, depth: 3, oddities: true }, tree);
    // exactly the helper's command, in both of GNU tar's long-name formats
    for (const format of ['gnu', 'posix']) {
      const gz = execFileSync('tar', [`--format=${format}`, '-czf', '-', '-C', tree, '.'], { maxBuffer: 64 << 20 });
      const listed = execFileSync('tar', ['-tzf', '-'], { input: gz, maxBuffer: 64 << 20 }).toString().split('\n').filter(Boolean);
      const result = await scan(gz);
      expect(result.entries).toBe(listed.length);
      expect(result.fileBytes).toBeGreaterThanOrEqual(200_000);
      expect(result.tarBytes % 512).toBe(0);
      expect(result.tarBytes).toBeGreaterThan(result.fileBytes);
    }
  });

  it('accepts any chunking of the stream, one byte at a time included', async () => {
    const tar = Buffer.concat([...file('./a.txt', 'x'.repeat(700)), ...file('./b/c.txt', 'hello'), END]);
    const scanner = createTarScanner();
    for (const b of tar) scanner.write(Buffer.from([b]));
    expect(scanner.end()).toEqual({ entries: 2, fileBytes: 705, tarBytes: tar.length });
  });

  it.each([
    ['a name with a .. component', [file('./../x', 'pwned')], /'\.\.\/x'|'\.\/\.\.\/x' has a '\.\.' component/],
    ['a nested .. component', [file('a/b/../../../x', 'pwned')], /has a '\.\.' component/],
    ['an absolute name', [file('/etc/cron.d/evil', 'pwned')], /'\/etc\/cron\.d\/evil' has an absolute name/],
    ['an absolute name in the ustar prefix', [header('evil', { prefix: '/etc', size: 0 })], /'\/etc\/evil' has an absolute name/],
    ['a symlink to /etc', [header('./etc', { type: '2', linkname: '/etc' })], /symlink '\.\/etc' points to the absolute path '\/etc'/],
    ['a symlink that climbs out', [header('./up', { type: '2', linkname: '../../etc' })], /symlink '\.\/up' points to '\.\.\/\.\.\/etc', outside the volume/],
    [
      'a file under a symlink the archive made',
      [header('./cfg', { type: '2', linkname: 'sub' }), ...file('./cfg/passwd', 'root::0:0')],
      /'\.\/cfg\/passwd' lies under 'cfg', which the archive made a symlink/,
    ],
    [
      'a symlink replaced by a directory',
      [header('./d', { type: '2', linkname: 'x' }), header('./d/', { type: '5' })],
      /replaces a symlink the archive made/,
    ],
    ['a hard link out of the volume', [header('./shadow', { type: '1', linkname: '../../etc/shadow' })], /has a '\.\.' component/],
    ['a hard link to a file it never held', [header('./h', { type: '1', linkname: './missing' })], /hard link '\.\/h' points to '\.\/missing'/],
    ['a character device', [header('./null', { type: '3' })], /'\.\/null' is a device node/],
    ['a block device', [header('./sda', { type: '4' })], /'\.\/sda' is a device node/],
    ['a FIFO', [header('./fifo', { type: '6' })], /'\.\/fifo' is a FIFO/],
  ])('refuses %s', async (_what, parts, message) => {
    await expect(scan(archive(...parts))).rejects.toThrow(message);
    await expect(scan(archive(...parts))).rejects.toBeInstanceOf(UnsafeArchiveError);
  });

  it('refuses a GNU long name that hides a .. component', async () => {
    const long = `./${'a'.repeat(120)}/../../../etc/passwd`;
    const meta = Buffer.from(`${long}\0`);
    const padded = Buffer.alloc(Math.ceil(meta.length / 512) * 512);
    meta.copy(padded);
    const gz = archive(header('././@LongLink', { type: 'L', size: meta.length }), padded, ...file('short', 'x'));
    await expect(scan(gz)).rejects.toThrow(/has a '\.\.' component/);
  });

  it('refuses a FIFO made by the real tar', async () => {
    const tree = path.join(dir, 'fifo');
    mkdirSync(tree);
    writeFileSync(path.join(tree, 'ok.txt'), 'fine');
    execFileSync('mkfifo', [path.join(tree, 'pipe')]);
    await expect(scan(execFileSync('tar', ['-czf', '-', '-C', tree, '.']))).rejects.toThrow(/'\.\/pipe' is a FIFO/);
  });

  it('refuses an absolute symlink made by the real tar', async () => {
    const tree = path.join(dir, 'abs');
    mkdirSync(tree);
    symlinkSync('/etc', path.join(tree, 'etc'));
    await expect(scan(execFileSync('tar', ['-czf', '-', '-C', tree, '.']))).rejects.toThrow(/points to the absolute path '\/etc'/);
  });

  it('refuses a truncated archive, a corrupt header and data that is not gzip', async () => {
    const whole = Buffer.concat([...file('./a.txt', 'x'.repeat(5000)), END]);
    await expect(scan(gzipSync(whole.subarray(0, 1536)))).rejects.toThrow(/ends early/);
    const corrupt = Buffer.from(whole);
    corrupt[10] ^= 0xff;
    await expect(scan(gzipSync(corrupt))).rejects.toThrow(/checksum mismatch/);
    await expect(scan(Buffer.from('definitely not gzip'))).rejects.toThrow(/not valid gzip/);
    const gz = gzipSync(whole);
    await expect(scan(gz.subarray(0, gz.length - 10))).rejects.toThrow(UnsafeArchiveError);
  });
});
