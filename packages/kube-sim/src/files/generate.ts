/*
 * Deterministic file-tree generator for kube-sim fixtures (the contents of a PV).
 *
 * The same spec (including its seed) always produces the same tree: same paths,
 * bytes, modes, owners, link structure and mtimes. Random bytes come from an
 * AES-128-CTR keystream keyed by the seed and the file's path, which is fast
 * enough for multi-GiB trees; structural choices come from a small seeded PRNG.
 *
 * Idempotence: after a complete build a marker `${dir}.spec.json` is written next
 * to (never inside) the tree. If it matches the spec, generateFileTree does
 * nothing; otherwise the tree is removed and rebuilt.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseSize } from './size';

export interface FileTreeEntry {
  /** Path relative to the tree root, '/'-separated. */
  path: string;
  /** UTF-8 content of a regular file. */
  content?: string;
  /** Size of a regular file filled with deterministic bytes (ignored when content is set). */
  size?: number;
  /** Permission bits, including setuid/setgid/sticky (e.g. 0o2775). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Make a symbolic link with this target (stored verbatim, may dangle). */
  symlink?: string;
  /** Make a hard link to this other tree path (which must already exist). */
  hardlink?: string;
  /** Make a directory. */
  dir?: boolean;
  /** Modification time, seconds since the epoch. */
  mtime?: number;
}

export interface FileTreeSpec {
  /** Seed for every random choice; same spec + seed → same tree. Default 1. */
  seed?: number;
  /** Number of generated regular files. Default 10 when totalBytes is set, else 0. */
  files?: number;
  /** Total bytes over the generated files, e.g. 5242880 or "5Mi". Default 0. */
  totalBytes?: number | string;
  /** 0 = random bytes (incompressible) … 1 = repetitive text. Default 0.5. */
  compressibility?: number;
  /** Maximum directory nesting of generated files. Default 2. */
  depth?: number;
  /** Add the odd cases (see ODDITIES). */
  oddities?: boolean;
  /** Extra explicit entries, applied after generated files and oddities. */
  entries?: FileTreeEntry[];
}

const GENERATOR_VERSION = 1;
/** 2024-01-02T03:04:05Z: base mtime of generated entries. */
const BASE_MTIME = 1704164645;
/** 2001-09-09T01:46:40Z: the "file with an mtime in the past". */
const OLD_MTIME = 1000000000;

const LONG_DIR = `long-paths/${'a'.repeat(40)}/${'b'.repeat(40)}/${'c'.repeat(30)}`;

/**
 * The odd cases every oddities tree contains. Exported so tests (and fixture
 * docs) can name them.
 */
export const ODDITIES: FileTreeEntry[] = [
  { path: 'with spaces/a file with spaces.txt', content: 'spaces in names\n' },
  { path: 'ünïcødé/日本語.txt', content: 'こんにちは、世界\n' },
  { path: 'ünïcødé/emoji-😀.bin', size: 333 },
  { path: 'links/target.txt', content: 'symlink target\n' },
  { path: 'links/relative-link', symlink: '../with spaces/a file with spaces.txt' },
  { path: 'links/sibling-link', symlink: 'target.txt' },
  { path: 'links/dangling-link', symlink: 'does/not/exist' },
  { path: 'links/dir-link', symlink: '../ünïcødé' },
  { path: 'links/hard-a.txt', content: 'two names, one inode\n' },
  { path: 'links/hard-b.txt', hardlink: 'links/hard-a.txt' },
  { path: 'links/sub/hard-c.txt', hardlink: 'links/hard-a.txt' },
  { path: 'empty-dir', dir: true },
  { path: 'nested/empty/deeper', dir: true },
  { path: 'zero-bytes.bin', size: 0 },
  { path: 'nested/empty-file', content: '' },
  // > 100 bytes of path (GNU tar needs a long-name record); each component is short.
  { path: `${LONG_DIR}/file-in-a-long-path.txt`, content: 'long path\n' },
  // A single component longer than 100 bytes (limit is 255).
  { path: `long-paths/${'n'.repeat(150)}.txt`, content: 'long name\n' },
  { path: `long-paths/link-with-long-target`, symlink: `${'t'.repeat(120)}/x` },
  // Restrictive modes owned by other UIDs/GIDs.
  { path: 'secret/owner-only-1001.txt', content: 'only uid 1001 may read this\n', mode: 0o600, uid: 1001, gid: 1001 },
  { path: 'secret/read-only-70.txt', content: 'uid 70 may only read this\n', mode: 0o400, uid: 70, gid: 70 },
  { path: 'secret/private-70', dir: true, mode: 0o700, uid: 70, gid: 70 },
  { path: 'secret/private-70/inside.txt', content: 'inside a 0700 dir of uid 70\n', mode: 0o640, uid: 70, gid: 70 },
  { path: 'shared-setgid', dir: true, mode: 0o2775, uid: 0, gid: 1001 },
  { path: 'shared-setgid/group-file.txt', content: 'group writable\n', mode: 0o664, uid: 1001, gid: 1001 },
  { path: 'bin/run.sh', content: '#!/bin/sh\necho hello\n', mode: 0o755 },
  { path: 'old.txt', content: 'from 2001\n', mtime: OLD_MTIME },
];

/** Seeded 32-bit PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXT =
  'The quick brown fox jumps over the lazy dog while the persistent volume is backed up. ';

/**
 * Deterministic content source: `compressibility` of every 4 KiB block is
 * repetitive text, the rest AES-CTR keystream.
 */
class ContentSource {
  private readonly cipher;
  private readonly zeros = Buffer.alloc(4096);
  private readonly textBlock: Buffer;

  constructor(seed: number, name: string, private readonly compressibility: number) {
    const key = createHash('sha256').update(`kube-sim:${seed}:${name}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
    const t = Buffer.from(`${name}: ${TEXT}`, 'utf8');
    this.textBlock = Buffer.alloc(4096);
    for (let i = 0; i < 4096; i += t.length) t.copy(this.textBlock, i);
  }

  /** Next n bytes (n ≤ a few MiB). */
  next(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    const textLen = Math.round(this.compressibility * 4096);
    for (let off = 0; off < n; off += 4096) {
      const len = Math.min(4096, n - off);
      const t = Math.min(textLen, len);
      this.textBlock.copy(out, off, 0, t);
      if (len > t) {
        this.cipher.update(this.zeros.subarray(0, len - t)).copy(out, off + t);
      }
    }
    return out;
  }
}

async function writeContent(file: string, src: ContentSource, size: number): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    const CHUNK = 1 << 20;
    for (let done = 0; done < size; ) {
      const n = Math.min(CHUNK, size - done);
      const buf = src.next(n);
      let w = 0;
      while (w < n) {
        const { bytesWritten } = await fh.write(buf, w, n - w);
        w += bytesWritten;
      }
      done += n;
    }
  } finally {
    await fh.close();
  }
}

function normalise(spec: FileTreeSpec) {
  const totalBytes = parseSize(spec.totalBytes ?? 0);
  return {
    version: GENERATOR_VERSION,
    seed: spec.seed ?? 1,
    files: spec.files ?? (totalBytes > 0 ? 10 : 0),
    totalBytes,
    compressibility: Math.min(1, Math.max(0, spec.compressibility ?? 0.5)),
    depth: Math.max(0, Math.floor(spec.depth ?? 2)),
    oddities: spec.oddities ?? false,
    entries: spec.entries ?? [],
  };
}

type Normalised = ReturnType<typeof normalise>;

/** Generated regular files, as entries (sizes summing to totalBytes). */
function plannedFiles(n: Normalised): FileTreeEntry[] {
  const rnd = prng(n.seed);
  const weights = Array.from({ length: n.files }, () => 0.25 + rnd());
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map(w => Math.floor((n.totalBytes * w) / sum));
  const assigned = sizes.reduce((a, b) => a + b, 0);
  if (sizes.length > 0) sizes[sizes.length - 1] += n.totalBytes - assigned;
  const width = Math.max(4, String(n.files).length);
  return sizes.map((size, i) => {
    const level = Math.floor(rnd() * (n.depth + 1));
    const segs: string[] = [];
    for (let d = 0; d < level; d++) segs.push(`dir-${d}-${Math.floor(rnd() * 3)}`);
    segs.push(`file-${String(i).padStart(width, '0')}.dat`);
    return { path: segs.join('/'), size, mtime: BASE_MTIME + i };
  });
}

function safeJoin(root: string, rel: string): string {
  const p = path.resolve(root, rel);
  if (p !== root && !p.startsWith(root + path.sep)) {
    throw new Error(`entry path escapes the tree: ${rel}`);
  }
  return p;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}

async function inBatches<T>(items: T[], fn: (item: T) => Promise<void>, width = 16): Promise<void> {
  for (let i = 0; i < items.length; i += width) {
    await Promise.all(items.slice(i, i + width).map(fn));
  }
}

/** Path of the completion marker kept next to the tree. */
export function markerPath(dir: string): string {
  return `${path.resolve(dir)}.spec.json`;
}

/**
 * Builds the tree described by `spec` in `dir` (created if missing). Does nothing
 * when `dir` already holds a complete tree for an identical spec.
 */
export async function generateFileTree(spec: FileTreeSpec, dir: string): Promise<void> {
  const root = path.resolve(dir);
  const n = normalise(spec);
  const fingerprint = JSON.stringify(n);
  const marker = markerPath(root);
  try {
    const prev = await fs.readFile(marker, 'utf8');
    if (prev === fingerprint && (await fs.stat(root)).isDirectory()) return;
  } catch {
    // no marker or no tree: build
  }
  await fs.rm(marker, { force: true });
  await fs.rm(root, { recursive: true, force: true });
  await fs.mkdir(root, { recursive: true });

  const generated = plannedFiles(n);
  const extra = [...(n.oddities ? ODDITIES : []), ...n.entries];
  const all: FileTreeEntry[] = [...generated, ...extra];
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

  // 1. Create everything with neutral permissions (umask-independent).
  const createdDirs = new Set<string>([root]);
  const ensureDir = async (d: string) => {
    if (createdDirs.has(d)) return;
    await ensureDir(path.dirname(d));
    if (!(await exists(d))) await fs.mkdir(d);
    await fs.chmod(d, 0o755);
    createdDirs.add(d);
  };
  const writeFileEntry = async (e: FileTreeEntry, p: string) => {
    if (e.content !== undefined) {
      await fs.writeFile(p, e.content, 'utf8');
    } else {
      await writeContent(p, new ContentSource(n.seed, e.path, n.compressibility), e.size ?? 0);
    }
    await fs.chmod(p, 0o644);
  };
  // Generated files have distinct paths in a fresh tree: write them concurrently.
  for (const e of generated) await ensureDir(path.dirname(safeJoin(root, e.path)));
  await inBatches(generated, e => writeFileEntry(e, safeJoin(root, e.path)));
  // Oddities and explicit entries in order (hard links need their targets; later entries win).
  for (const e of extra) {
    const p = safeJoin(root, e.path);
    if (e.dir) {
      await ensureDir(p);
      continue;
    }
    await ensureDir(path.dirname(p));
    await fs.rm(p, { force: true });
    if (e.symlink !== undefined) {
      await fs.symlink(e.symlink, p);
    } else if (e.hardlink !== undefined) {
      await fs.link(safeJoin(root, e.hardlink), p);
    } else {
      await writeFileEntry(e, p);
    }
  }

  // 2. Owners, then modes (chown may clear setuid/setgid bits).
  for (const e of all) {
    const p = safeJoin(root, e.path);
    if ((e.uid !== undefined || e.gid !== undefined) && asRoot) {
      const st = await fs.lstat(p);
      await fs.lchown(p, e.uid ?? st.uid, e.gid ?? st.gid);
    }
    if (e.mode !== undefined && e.symlink === undefined) {
      await fs.chmod(p, e.mode);
    }
  }

  // 3. Modification times: files and links first, then directories deepest first.
  const mtimeOf = new Map<string, number>();
  for (const e of all) mtimeOf.set(safeJoin(root, e.path), e.mtime ?? BASE_MTIME);
  await inBatches(
    all.filter(e => !e.dir),
    async e => {
      const p = safeJoin(root, e.path);
      const t = mtimeOf.get(p)!;
      if (e.symlink !== undefined) await fs.lutimes(p, t, t);
      else await fs.utimes(p, t, t);
    },
  );
  const dirs = [...createdDirs].sort((a, b) => b.split(path.sep).length - a.split(path.sep).length);
  for (const d of dirs) {
    const t = mtimeOf.get(d) ?? BASE_MTIME;
    await fs.utimes(d, t, t);
  }

  const tmp = `${marker}.${process.pid}.tmp`;
  await fs.writeFile(tmp, fingerprint);
  await fs.rename(tmp, marker);
}
