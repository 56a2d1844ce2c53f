import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareTrees, generateFileTree, markerPath, parseSize, FileTreeSpec } from './index';

jest.setTimeout(60_000);

const isRoot = process.getuid?.() === 0;
let tmp: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-sim-files-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const SPEC: FileTreeSpec = { seed: 42, files: 25, totalBytes: '2Mi', compressibility: 0.3, depth: 3, oddities: true };

/** `cp -a` keeps modes, owners, links and hard links: a faithful copy to mutate. */
async function copyTree(from: string, name: string): Promise<string> {
  const to = path.join(tmp, name);
  execFileSync('cp', ['-a', from, to]);
  return to;
}

async function listing(dir: string): Promise<string> {
  // path, type, mode, uid, gid, size, inode-link count, mtime, symlink target, content hash
  return execFileSync(
    'sh',
    ['-c', `cd "$1" && find . -printf '%p %y %m %U %G %s %n %T@ %l\\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum`, 'x', dir],
    { encoding: 'utf8' },
  );
}

describe('parseSize', () => {
  it('parses numbers and quantities', () => {
    expect(parseSize(5242880)).toBe(5242880);
    expect(parseSize('5Mi')).toBe(5 * 1024 * 1024);
    expect(parseSize('1Gi')).toBe(1073741824);
    expect(parseSize('10M')).toBe(10_000_000);
    expect(parseSize('1.5Ki')).toBe(1536);
    expect(parseSize('123')).toBe(123);
    expect(parseSize('2k')).toBe(2000);
  });
  it('rejects garbage', () => {
    expect(() => parseSize('five')).toThrow(/invalid size/);
    expect(() => parseSize('5Xi')).toThrow(/invalid size unit/);
    expect(() => parseSize(-1)).toThrow(/invalid size/);
  });
});

describe('generateFileTree', () => {
  it('is deterministic for the same spec and differs for another seed', async () => {
    const a = path.join(tmp, 'det-a');
    const b = path.join(tmp, 'det-b');
    const c = path.join(tmp, 'det-c');
    await generateFileTree(SPEC, a);
    await generateFileTree(SPEC, b);
    await generateFileTree({ ...SPEC, seed: 43 }, c);
    const la = await listing(a);
    expect(la).toEqual(await listing(b));
    expect(la).not.toEqual(await listing(c));
    expect(await compareTrees(a, b, { mtime: true })).toEqual([]);
    expect((await compareTrees(a, c)).length).toBeGreaterThan(0);
  });

  it('produces the requested size, file count and compressibility', async () => {
    const dir = path.join(tmp, 'sizes');
    await generateFileTree({ seed: 1, files: 7, totalBytes: '1Mi', compressibility: 0 }, dir);
    const out = execFileSync('sh', ['-c', `find "$1" -type f -printf '%s\\n'`, 'x', dir], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
    expect(out).toHaveLength(7);
    expect(out.reduce((x, y) => x + y, 0)).toBe(1048576);
    const gz = (d: string) => Number(execFileSync('sh', ['-c', `tar -cf - -C "$1" . | gzip -c | wc -c`, 'x', d], { encoding: 'utf8' }));
    const random = gz(dir);
    const textDir = path.join(tmp, 'sizes-text');
    await generateFileTree({ seed: 1, files: 7, totalBytes: '1Mi', compressibility: 1 }, textDir);
    const text = gz(textDir);
    expect(random).toBeGreaterThan(1_000_000); // random data does not compress
    expect(text).toBeLessThan(100_000);
    const mixedDir = path.join(tmp, 'sizes-mixed');
    await generateFileTree({ seed: 1, files: 7, totalBytes: '1Mi', compressibility: 0.5 }, mixedDir);
    const mixed = gz(mixedDir);
    expect(mixed).toBeGreaterThan(text);
    expect(mixed).toBeLessThan(random * 0.7);
  });

  it('is idempotent: a complete tree for the same spec is left alone, another spec rebuilds', async () => {
    const dir = path.join(tmp, 'idem');
    await generateFileTree(SPEC, dir);
    const marker = markerPath(dir);
    expect(marker).toBe(`${dir}.spec.json`);
    expect((await fs.readdir(dir)).includes(path.basename(marker))).toBe(false);
    await fs.writeFile(path.join(dir, 'sentinel'), 'x');
    await generateFileTree(SPEC, dir);
    await expect(fs.readFile(path.join(dir, 'sentinel'), 'utf8')).resolves.toBe('x');
    await generateFileTree({ ...SPEC, files: 3 }, dir);
    await expect(fs.stat(path.join(dir, 'sentinel'))).rejects.toThrow(/ENOENT/);
    // an interrupted build (no marker) is rebuilt
    await fs.writeFile(path.join(dir, 'sentinel'), 'x');
    await fs.rm(marker);
    await generateFileTree({ ...SPEC, files: 3 }, dir);
    await expect(fs.stat(path.join(dir, 'sentinel'))).rejects.toThrow(/ENOENT/);
  });

  it('contains the odd cases', async () => {
    const dir = path.join(tmp, 'odd');
    await generateFileTree({ seed: 3, oddities: true }, dir);
    const p = (r: string) => path.join(dir, r);
    expect(await fs.readFile(p('ünïcødé/日本語.txt'), 'utf8')).toContain('世界');
    expect(await fs.readFile(p('with spaces/a file with spaces.txt'), 'utf8')).toBe('spaces in names\n');
    expect(await fs.readlink(p('links/relative-link'))).toBe('../with spaces/a file with spaces.txt');
    expect(await fs.readFile(p('links/relative-link'), 'utf8')).toBe('spaces in names\n');
    expect(await fs.readlink(p('links/dangling-link'))).toBe('does/not/exist');
    await expect(fs.stat(p('links/dangling-link'))).rejects.toThrow(/ENOENT/);
    const ha = await fs.stat(p('links/hard-a.txt'));
    const hb = await fs.stat(p('links/hard-b.txt'));
    expect(ha.ino).toBe(hb.ino);
    expect(ha.nlink).toBe(3);
    expect(await fs.readdir(p('empty-dir'))).toEqual([]);
    expect(await fs.readdir(p('nested/empty/deeper'))).toEqual([]);
    expect((await fs.stat(p('zero-bytes.bin'))).size).toBe(0);
    const longFile = execFileSync('sh', ['-c', 'cd "$1" && find . -name file-in-a-long-path.txt', 'x', dir], { encoding: 'utf8' }).trim();
    expect(Buffer.byteLength(longFile)).toBeGreaterThan(100);
    const longName = (await fs.readdir(p('long-paths'))).find(n => n.startsWith('nnnn'))!;
    expect(Buffer.byteLength(longName)).toBeGreaterThan(100);
    const secret = await fs.stat(p('secret/read-only-70.txt'));
    expect(secret.mode & 0o7777).toBe(0o400);
    expect((await fs.stat(p('secret/owner-only-1001.txt'))).mode & 0o7777).toBe(0o600);
    expect((await fs.stat(p('secret/private-70'))).mode & 0o7777).toBe(0o700);
    expect((await fs.stat(p('shared-setgid'))).mode & 0o7777).toBe(0o2775);
    // owners can only be set by root; otherwise they are silently left as the caller's
    const me = [process.getuid!(), process.getgid!()];
    expect([secret.uid, secret.gid]).toEqual(isRoot ? [70, 70] : me);
    const o = await fs.stat(p('secret/owner-only-1001.txt'));
    expect([o.uid, o.gid]).toEqual(isRoot ? [1001, 1001] : me);
    expect((await fs.stat(p('old.txt'))).mtime.getUTCFullYear()).toBe(2001);
  });

  it('applies explicit entries', async () => {
    const dir = path.join(tmp, 'entries');
    await generateFileTree(
      {
        entries: [
          { path: 'a/b.txt', content: 'hello', mode: 0o640, uid: 5, gid: 6 },
          { path: 'a/sized', size: 1000 },
          { path: 'a/link', symlink: 'b.txt' },
          { path: 'a/hl', hardlink: 'a/b.txt' },
          { path: 'a/empty', dir: true, mode: 0o750 },
        ],
      },
      dir,
    );
    expect(await fs.readFile(path.join(dir, 'a/b.txt'), 'utf8')).toBe('hello');
    expect((await fs.stat(path.join(dir, 'a/sized'))).size).toBe(1000);
    expect(await fs.readlink(path.join(dir, 'a/link'))).toBe('b.txt');
    expect((await fs.stat(path.join(dir, 'a/hl'))).ino).toBe((await fs.stat(path.join(dir, 'a/b.txt'))).ino);
    expect((await fs.stat(path.join(dir, 'a/empty'))).mode & 0o7777).toBe(0o750);
    expect((await fs.stat(path.join(dir, 'a/b.txt'))).uid).toBe(isRoot ? 5 : process.getuid!());
    await expect(generateFileTree({ entries: [{ path: '../escape', content: 'x' }] }, path.join(tmp, 'esc'))).rejects.toThrow(/escapes/);
  });
});

describe('compareTrees', () => {
  let base: string;
  beforeAll(async () => {
    base = path.join(tmp, 'cmp-base');
    await generateFileTree({ ...SPEC, files: 5 }, base);
  });

  it('finds no difference between a tree and a faithful copy (including through tar)', async () => {
    const copy = await copyTree(base, 'cmp-copy');
    expect(await compareTrees(base, copy, { mtime: true })).toEqual([]);
    const viaTar = path.join(tmp, 'cmp-tar');
    await fs.mkdir(viaTar);
    execFileSync('sh', ['-c', 'tar -czf - -C "$1" . | tar -xzpf - --numeric-owner --same-owner -C "$2"', 'x', base, viaTar]);
    expect(await compareTrees(base, viaTar, { mtime: true })).toEqual([]);
  });

  const cases: Array<[string, (d: string) => Promise<void>, RegExp]> = [
    ['content', d => fs.writeFile(path.join(d, 'links/target.txt'), 'symlink targeT\n'), /^content: links\/target\.txt: sha256 differs/],
    ['size', d => fs.appendFile(path.join(d, 'old.txt'), 'x'), /^content: old\.txt: expected 10 bytes, got 11 bytes/],
    ['mode', d => fs.chmod(path.join(d, 'secret/owner-only-1001.txt'), 0o644), /^mode: secret\/owner-only-1001\.txt: expected 0600, got 0644/],
    ['setgid bit', d => fs.chmod(path.join(d, 'shared-setgid'), 0o775), /^mode: shared-setgid: expected 02775, got 0775/],
    ['type', async d => { await fs.rm(path.join(d, 'links/target.txt')); await fs.mkdir(path.join(d, 'links/target.txt')); }, /^type: links\/target\.txt: expected file, got dir/],
    ['symlink target', async d => { await fs.rm(path.join(d, 'links/dangling-link')); await fs.symlink('elsewhere', path.join(d, 'links/dangling-link')); }, /^symlink: links\/dangling-link: expected -> does\/not\/exist, got -> elsewhere/],
    ['hard link broken', async d => {
      const f = path.join(d, 'links/hard-b.txt');
      const data = await fs.readFile(f);
      await fs.rm(f);
      await fs.writeFile(f, data);
      await fs.chmod(f, 0o644);
      await fs.utimes(f, 1704164645, 1704164645);
    }, /^hardlink: links\/hard-a\.txt: expected one inode for \[links\/hard-a\.txt, links\/hard-b\.txt, links\/sub\/hard-c\.txt\], got \[links\/hard-a\.txt, links\/sub\/hard-c\.txt\] \[links\/hard-b\.txt\]$/],
    ['new hard link', async d => {
      // two empty 0644 files with the same mtime: linking them changes nothing but the inode grouping
      await fs.rm(path.join(d, 'nested/empty-file'));
      await fs.link(path.join(d, 'zero-bytes.bin'), path.join(d, 'nested/empty-file'));
      await fs.utimes(path.join(d, 'nested'), 1704164645, 1704164645);
    }, /^hardlink: nested\/empty-file: expected one inode for \[nested\/empty-file\], got \[nested\/empty-file, zero-bytes\.bin\]$/],
    ['missing empty dir', d => fs.rmdir(path.join(d, 'nested/empty/deeper')), /^missing: nested\/empty\/deeper \(empty directory\)/],
    ['extra file', d => fs.writeFile(path.join(d, 'new file'), ''), /^extra: new file \(file\)/],
    ['missing file', d => fs.rm(path.join(d, 'ünïcødé/日本語.txt')), /^missing: ünïcødé\/日本語\.txt \(file\)/],
    ['root dir mode', d => fs.chmod(d, 0o700), /^mode: \.: expected 0755, got 0700/],
  ];
  if (isRoot) {
    cases.push(['owner', d => fs.chown(path.join(d, 'secret/read-only-70.txt'), 0, 70), /^owner: secret\/read-only-70\.txt: expected 70:70, got 0:70/]);
    cases.push(['symlink owner', d => fs.lchown(path.join(d, 'links/sibling-link'), 1, 1), /^owner: links\/sibling-link: expected 0:0, got 1:1/]);
  }

  it.each(cases)('detects a changed %s', async (name, mutate, re) => {
    const copy = await copyTree(base, `cmp-${name.replace(/\W+/g, '-')}`);
    await mutate(copy);
    const diffs = await compareTrees(base, copy);
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatch(re);
  });

  it('detects a changed mtime only when asked', async () => {
    const copy = await copyTree(base, 'cmp-mtime');
    await fs.utimes(path.join(copy, 'old.txt'), 1000, 1000);
    expect(await compareTrees(base, copy)).toEqual([]);
    expect(await compareTrees(base, copy, { mtime: true })).toEqual([
      'mtime: old.txt: expected 2001-09-09T01:46:40.000Z, got 1970-01-01T00:16:40.000Z',
    ]);
  });
});
