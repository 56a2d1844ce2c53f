/*
 * Runs an exec'd command as a real local process inside a bubblewrap sandbox,
 * the way a container runtime would:
 *
 *   bwrap --unshare-pid --unshare-ipc --die-with-parent
 *         --ro-bind /usr /usr --symlink usr/bin /bin … --ro-bind /etc /etc
 *         --proc /proc --dev /dev --perms 1777 --tmpfs /tmp
 *         --ro-bind|--bind <hostPath> <mountPath> …  --chdir <workingDir>
 *         -- setpriv <identity and capabilities> -- <command…>
 *
 * The root is a fresh tmpfs, so mount points exist only inside the sandbox and
 * nothing is created on the host. Read-only mounts are read-only bind mounts
 * (writes fail with EROFS). setpriv (util-linux) applies runAsUser/runAsGroup,
 * the supplementary groups [fsGroup, ...supplementalGroups] and the capability
 * sets derived from securityContext.capabilities. The pid namespace makes the
 * process tree killable as a whole.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { accessSync, constants, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ExecMount, ExecSecurityContext, ExecTarget } from './types';

export const BWRAP = process.env.KUBE_SIM_BWRAP ?? 'bwrap';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** containerd's default capability set for a container (no add/drop). */
export const DEFAULT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID',
  'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

/** Every capability setpriv knows by name (Linux 6.x). */
const ALL_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
];

const normCap = (c: string) => c.toUpperCase().replace(/^CAP_/, '');

/** The container's capability bounding set after securityContext.capabilities drop/add. */
export function effectiveCapabilities(sc?: ExecSecurityContext): string[] {
  const drop = (sc?.capabilities?.drop ?? []).map(normCap);
  const add = (sc?.capabilities?.add ?? []).map(normCap);
  let caps = drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter(c => !drop.includes(c));
  caps = add.includes('ALL') ? [...ALL_CAPABILITIES] : [...caps, ...add.filter(c => !caps.includes(c))];
  return caps.filter(c => ALL_CAPABILITIES.includes(c));
}

/** setpriv arguments applying the pod's identity and capabilities. */
export function setprivArgs(sc?: ExecSecurityContext): string[] {
  const uid = sc?.runAsUser ?? 0;
  const gid = sc?.runAsGroup ?? 0;
  const groups = [
    ...(sc?.fsGroup !== undefined ? [sc.fsGroup] : []),
    ...(sc?.supplementalGroups ?? []),
  ].filter((g, i, a) => a.indexOf(g) === i);
  const caps = effectiveCapabilities(sc);
  const capList = ['-all', ...caps.map(c => `+${c.toLowerCase()}`)].join(',');
  return [
    '--reuid', String(uid),
    '--regid', String(gid),
    ...(groups.length ? ['--groups', groups.join(',')] : ['--clear-groups']),
    // Root gets exactly the bounding set as permitted/effective on exec; a
    // non-root user gets none (Kubernetes sets no ambient capabilities).
    '--bounding-set', capList,
    '--inh-caps', '-all',
    '--',
  ];
}

interface Bind {
  dest: string;
  src: string | null; // null: tmpfs / special
}

const BASE_SYMLINKS: Array<[string, string]> = [
  ['/bin', '/usr/bin'],
  ['/sbin', '/usr/sbin'],
  ['/lib', '/usr/lib'],
  ['/lib64', '/usr/lib64'],
];

function sortedMounts(mounts: ExecMount[]): ExecMount[] {
  return [...mounts].sort(
    (a, b) => path.posix.normalize(a.mountPath).split('/').length - path.posix.normalize(b.mountPath).split('/').length,
  );
}

/** Sandbox paths a volume cannot be mounted on (they come from the host, read-only). */
const RESERVED = ['/usr', '/proc', '/dev', ...BASE_SYMLINKS.map(([link]) => link)];

const isUnder = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** Mount problems that would make bwrap fail, as the runtime's error text. */
export function checkMounts(mounts: ExecMount[]): string | null {
  for (const m of mounts) {
    const mp = path.posix.normalize(m.mountPath);
    if (!mp.startsWith('/') || mp === '/' || RESERVED.some(r => isUnder(mp, r))) {
      return `cannot mount a volume at ${JSON.stringify(m.mountPath)} (the sandbox takes / , /usr, /bin, /sbin, /lib, /lib64, /proc and /dev from the host)`;
    }
    try {
      statSync(m.hostPath);
    } catch {
      return `mount source ${m.hostPath} for ${m.mountPath} does not exist`;
    }
  }
  return null;
}

/**
 * /etc comes from the host, read-only. When a volume is mounted inside /etc
 * (e.g. /etc/config), /etc becomes a tmpfs holding read-only binds of every
 * other host entry, so the mount point is created in the tmpfs and never on
 * the host.
 */
function etcArgs(mounts: ExecMount[]): string[] {
  const taken = new Set(
    mounts
      .map(m => path.posix.normalize(m.mountPath))
      .filter(mp => mp.startsWith('/etc/'))
      .map(mp => mp.split('/')[2]),
  );
  if (taken.size === 0) return ['--ro-bind', '/etc', '/etc'];
  const args = ['--tmpfs', '/etc'];
  for (const name of readdirSync('/etc')) {
    if (taken.has(name)) continue;
    const host = `/etc/${name}`;
    try {
      if (lstatSync(host).isSymbolicLink()) args.push('--symlink', readlinkSync(host), host);
      else args.push('--ro-bind', host, host);
    } catch {
      // vanished meanwhile
    }
  }
  return args;
}

export function bwrapArgs(target: ExecTarget): string[] {
  const args = [
    '--unshare-pid', '--unshare-ipc', '--die-with-parent',
    '--ro-bind', '/usr', '/usr',
  ];
  for (const [link, to] of BASE_SYMLINKS) args.push('--symlink', to.slice(1), link);
  args.push(...etcArgs(target.mounts));
  args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  for (const m of sortedMounts(target.mounts)) {
    args.push(m.readOnly ? '--ro-bind' : '--bind', m.hostPath, path.posix.normalize(m.mountPath));
  }
  args.push('--chdir', target.workingDir || '/');
  args.push('--', 'setpriv', ...setprivArgs(target.securityContext), ...target.command);
  return args;
}

function binds(target: ExecTarget): Bind[] {
  const list: Bind[] = [
    { dest: '/usr', src: '/usr' },
    { dest: '/etc', src: '/etc' },
    { dest: '/tmp', src: null },
    { dest: '/proc', src: null },
    { dest: '/dev', src: null },
  ];
  for (const m of target.mounts) list.push({ dest: path.posix.normalize(m.mountPath), src: m.hostPath });
  return list.sort((a, b) => b.dest.length - a.dest.length);
}

/** Where a sandbox path lives on the host, or null if it cannot exist in the sandbox. */
function hostPathOf(p: string, bl: Bind[]): string | null {
  let q = path.posix.normalize(p);
  for (const [link, to] of BASE_SYMLINKS) {
    if (q === link || q.startsWith(`${link}/`)) q = to + q.slice(link.length);
  }
  for (const b of bl) {
    if (q === b.dest || q.startsWith(`${b.dest}/`)) {
      return b.src === null ? null : b.src + q.slice(b.dest.length);
    }
  }
  return null;
}

function isExecutableFile(hostPath: string | null): 'ok' | 'missing' | 'denied' {
  if (hostPath === null) return 'missing';
  try {
    const st = statSync(hostPath);
    if (!st.isFile()) return 'denied';
    accessSync(hostPath, constants.X_OK);
    return (st.mode & 0o111) !== 0 ? 'ok' : 'denied';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR'
      ? 'missing'
      : 'denied';
  }
}

/** Whether a directory exists in the sandbox: on a bound host path, or made by bwrap itself. */
function sandboxDirExists(dir: string, target: ExecTarget, bl: Bind[]): boolean {
  const d = path.posix.normalize(dir);
  if (!d.startsWith('/')) return false;
  const madeByBwrap = ['/', '/tmp', '/proc', '/dev', ...target.mounts.map(m => path.posix.normalize(m.mountPath))];
  if (madeByBwrap.some(m => m === d || m.startsWith(`${d === '/' ? '' : d}/`))) return true;
  const host = hostPathOf(d, bl);
  if (host === null) return false;
  try {
    return statSync(host).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Checks that the command can be started in the sandbox, returning the
 * runtime's error text if not (e.g. `exec: "foo": executable file not found in $PATH`).
 */
export function checkCommand(target: ExecTarget, env: Record<string, string>): string | null {
  const cmd = target.command[0];
  if (!cmd) return 'exec: no command';
  const mountProblem = checkMounts(target.mounts);
  if (mountProblem) return mountProblem;
  const bl = binds(target);
  if (target.workingDir && !sandboxDirExists(target.workingDir, target, bl)) {
    return `chdir to cwd (${JSON.stringify(target.workingDir)}) set in config.json failed: no such file or directory`;
  }
  if (cmd.includes('/')) {
    const abs = path.posix.resolve(target.workingDir || '/', cmd);
    const r = isExecutableFile(hostPathOf(abs, bl));
    if (r === 'missing') return `exec: "${cmd}": stat ${cmd}: no such file or directory`;
    if (r === 'denied') return `exec: "${cmd}": permission denied`;
    return null;
  }
  for (const dir of (env.PATH ?? DEFAULT_PATH).split(':')) {
    if (!dir.startsWith('/')) continue;
    if (isExecutableFile(hostPathOf(path.posix.join(dir, cmd), bl)) === 'ok') return null;
  }
  return `exec: "${cmd}": executable file not found in $PATH`;
}

export function sandboxEnv(target: ExecTarget): Record<string, string> {
  const uid = target.securityContext?.runAsUser ?? 0;
  return {
    PATH: DEFAULT_PATH,
    HOME: uid === 0 ? '/root' : '/',
    HOSTNAME: 'kube-sim',
    ...(target.tty ? { TERM: 'xterm' } : {}),
    ...(target.env ?? {}),
  };
}

export interface SandboxedProcess {
  child: ChildProcess;
  /** SIGKILLs the whole process tree (the sandbox's pid namespace); false if it had already exited. */
  kill(): boolean;
}

/**
 * A connected pair of Unix stream sockets, as libuv gives a child for a `'pipe'`: `reader`
 * reads with `onread` (into the caller's buffers rather than a new buffer per read), and
 * `writer` is handed to the child as its stdout. A socket pair buffers about 200 KiB, three times
 * a FIFO's 64 KiB: with less, gzip blocked 2.5× as often while streaming.
 */
export async function outputSocketPair(onread: net.OnReadOpts): Promise<{ reader: net.Socket; writer: net.Socket }> {
  const server = net.createServer({ pauseOnConnect: true });
  const name = `\0kube-sim-exec-${process.pid}-${randomUUID()}`; // abstract namespace: no file
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(name, () => resolve());
  });
  try {
    const accepted = new Promise<net.Socket>(resolve => server.once('connection', resolve));
    // net.Socket takes `onread` (Node ≥ 12); @types/node lists it only in the constructor's docs.
    const reader = net.connect({ path: name, onread } as net.IpcNetConnectOpts);
    await new Promise<void>((resolve, reject) => {
      reader.once('connect', resolve);
      reader.once('error', reject);
    });
    const writer = await accepted;
    return { reader, writer };
  } finally {
    server.close();
  }
}

/** Starts the command; its stdout is `stdoutWriter` (from outputSocketPair), or discarded. */
export function spawnSandboxed(target: ExecTarget, env: Record<string, string>, stdoutWriter?: net.Socket): SandboxedProcess {
  let child: ChildProcess;
  try {
    child = spawn(BWRAP, bwrapArgs(target), {
      stdio: [target.stdin ? 'pipe' : 'ignore', stdoutWriter ?? 'ignore', target.stderr || target.tty ? 'pipe' : 'ignore'],
      env,
      detached: true, // own process group, so kill() can signal all of it
    });
  } finally {
    stdoutWriter?.destroy(); // the child holds its own copy
  }
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const kill = () => {
    if (exited || child.pid === undefined) return false;
    try {
      process.kill(-child.pid, 'SIGKILL');
      return true;
    } catch {
      return false; // already gone
    }
  };
  return { child, kill };
}

/** Whether bubblewrap can run here (for a clear error instead of a spawn failure). */
export function sandboxAvailable(): boolean {
  for (const dir of (process.env.PATH ?? DEFAULT_PATH).split(':')) {
    try {
      accessSync(path.join(dir, BWRAP), constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return BWRAP.includes('/') && (() => {
    try {
      accessSync(BWRAP, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  })();
}
