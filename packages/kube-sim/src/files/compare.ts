/*
 * compareTrees: does an extracted archive equal the original PV tree, byte for byte?
 * Compares every path (including the root directory itself) by type, content,
 * permission bits (including setuid/setgid/sticky), uid/gid, symlink target,
 * hard-link grouping and, optionally, modification times.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, Stats } from 'node:fs';
import * as path from 'node:path';

export interface CompareOptions {
  /** Also compare mtimes (whole seconds) of regular files and symlinks. Default false. */
  mtime?: boolean;
  /** Compare uid/gid. Default true. */
  owners?: boolean;
}

type Kind = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device';

interface Node {
  kind: Kind;
  st: Stats;
  target?: string;
  empty?: boolean;
}

function kindOf(st: Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  return 'block-device';
}

async function scan(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (rel: string) => {
    const abs = rel === '.' ? root : path.join(root, rel);
    const st = await fs.lstat(abs);
    const node: Node = { kind: kindOf(st), st };
    out.set(rel, node);
    if (node.kind === 'symlink') {
      node.target = await fs.readlink(abs);
    } else if (node.kind === 'dir') {
      const names = (await fs.readdir(abs)).sort();
      node.empty = names.length === 0;
      for (const name of names) await walk(rel === '.' ? name : `${rel}/${name}`);
    }
  };
  await walk('.');
  return out;
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const oct = (m: number) => `0${(m & 0o7777).toString(8).padStart(3, '0')}`;

/** Hard-link groups: for each multiply-linked file, the sorted list of its names in this tree. */
function linkGroups(nodes: Map<string, Node>): Map<string, string[]> {
  const byInode = new Map<string, string[]>();
  for (const [p, n] of nodes) {
    if (n.kind !== 'file' || n.st.nlink < 2) continue;
    const key = `${n.st.dev}:${n.st.ino}`;
    const list = byInode.get(key) ?? [];
    list.push(p);
    byInode.set(key, list);
  }
  const groups = new Map<string, string[]>();
  for (const list of byInode.values()) {
    list.sort();
    for (const p of list) groups.set(p, list);
  }
  return groups;
}

/**
 * Lists the differences between two trees; an empty list means identical.
 * Each message starts with the kind of difference: `missing`, `extra`, `type`,
 * `content`, `mode`, `owner`, `symlink`, `hardlink` or `mtime`, then the path
 * relative to the roots ('.' is the root directory).
 */
export async function compareTrees(
  expectedDir: string,
  actualDir: string,
  options: CompareOptions = {},
): Promise<string[]> {
  const owners = options.owners ?? true;
  const [exp, act] = await Promise.all([scan(path.resolve(expectedDir)), scan(path.resolve(actualDir))]);
  const diffs: string[] = [];
  const describe = (n: Node) => (n.kind === 'dir' && n.empty ? 'empty directory' : n.kind);

  for (const [p, e] of exp) {
    const a = act.get(p);
    if (!a) {
      diffs.push(`missing: ${p} (${describe(e)})`);
      continue;
    }
    if (e.kind !== a.kind) {
      diffs.push(`type: ${p}: expected ${e.kind}, got ${a.kind}`);
      continue;
    }
    if (e.kind !== 'symlink' && (e.st.mode & 0o7777) !== (a.st.mode & 0o7777)) {
      diffs.push(`mode: ${p}: expected ${oct(e.st.mode)}, got ${oct(a.st.mode)}`);
    }
    if (owners && (e.st.uid !== a.st.uid || e.st.gid !== a.st.gid)) {
      diffs.push(`owner: ${p}: expected ${e.st.uid}:${e.st.gid}, got ${a.st.uid}:${a.st.gid}`);
    }
    if (e.kind === 'symlink' && e.target !== a.target) {
      diffs.push(`symlink: ${p}: expected -> ${e.target}, got -> ${a.target}`);
    }
    if (e.kind === 'file') {
      if (e.st.size !== a.st.size) {
        diffs.push(`content: ${p}: expected ${e.st.size} bytes, got ${a.st.size} bytes`);
      } else if (e.st.size > 0) {
        const [he, ha] = await Promise.all([
          sha256(path.join(expectedDir, p)),
          sha256(path.join(actualDir, p)),
        ]);
        if (he !== ha) diffs.push(`content: ${p}: sha256 differs (${he.slice(0, 12)} vs ${ha.slice(0, 12)})`);
      }
    }
    if (options.mtime && e.kind !== 'dir' && Math.floor(e.st.mtimeMs / 1000) !== Math.floor(a.st.mtimeMs / 1000)) {
      diffs.push(`mtime: ${p}: expected ${new Date(e.st.mtimeMs).toISOString()}, got ${new Date(a.st.mtimeMs).toISOString()}`);
    }
  }
  for (const [p, a] of act) {
    if (!exp.has(p)) diffs.push(`extra: ${p} (${describe(a)})`);
  }

  // Hard links: for each expected inode group, the actual groups its names fall into.
  const ge = linkGroups(exp);
  const ga = linkGroups(act);
  const common = (list: string[]) => list.filter(x => act.has(x) && exp.has(x));
  const byExpected = new Map<string, Set<string>>();
  for (const p of new Set([...ge.keys(), ...ga.keys()])) {
    if (!exp.has(p) || !act.has(p)) continue; // already reported as missing/extra
    const e = common(ge.get(p) ?? [p]).join(', ');
    const a = common(ga.get(p) ?? [p]).join(', ');
    if (e === a) continue;
    const set = byExpected.get(e) ?? new Set<string>();
    set.add(`[${a}]`);
    byExpected.set(e, set);
  }
  const reported = new Set<string>();
  for (const [e, actualGroups] of byExpected) {
    const got = [...actualGroups].sort().join(' ');
    if (reported.has(got)) continue; // the same new link seen from its other name
    reported.add(got);
    diffs.push(`hardlink: ${e.split(', ')[0]}: expected one inode for [${e}], got ${got}`);
  }
  return diffs;
}
