import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** The repository root, where `npm start` runs. */
export const repoRoot = resolve(__dirname, '../../..');
/** Screenshots and logs of the end-to-end tests. */
export const testOutputDir = join(repoRoot, 'test-output', 'e2e');

export const BACKEND_URL = 'http://localhost:7007';
export const APP_URL = 'http://localhost:3000';

export async function portInUse(port: number): Promise<boolean> {
  return new Promise(res => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      res(true);
    });
    socket.once('error', () => res(false));
  });
}

async function waitForUrl(url: string, deadline: number, proc: ChildProcess) {
  for (;;) {
    if (proc.exitCode !== null) {
      throw new Error(`npm start exited with ${proc.exitCode} before ${url} answered`);
    }
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time`);
    await new Promise(r => setTimeout(r, 1000));
  }
}

export interface DemoPortal {
  log(): string;
  stop(): Promise<void>;
  /** Every process `npm start` has started so far (its whole tree), by pid. */
  processTree(): number[];
  /** SIGTERM to `npm start`'s process group, as a service manager sends it; resolves with how long it took to exit. */
  terminate(timeoutMs: number): Promise<number>;
}

/** Pids of every descendant of `root`, from /proc. */
function descendantsOf(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parentOf) {
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Runs the README's demo command, `npm start`, exactly as a person would, and waits until the
 * backend and the frontend answer.
 */
export async function startDemoPortal(timeoutMs: number): Promise<DemoPortal> {
  for (const port of [3000, 7007, 6443]) {
    if (await portInUse(port)) {
      throw new Error(
        `Port ${port} is already in use; stop whatever runs there (another npm start?) before the end-to-end tests`,
      );
    }
  }
  mkdirSync(testOutputDir, { recursive: true });
  let output = '';
  const proc = spawn('npm', ['start'], {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, BROWSER: 'none' },
  });
  proc.stdout!.on('data', d => (output += d));
  proc.stderr!.on('data', d => (output += d));
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const exited = new Promise(r => proc.once('exit', r));
    try {
      process.kill(-proc.pid!, 'SIGINT');
    } catch {
      return;
    }
    await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  };
  try {
    const deadline = Date.now() + timeoutMs;
    await waitForUrl(`${BACKEND_URL}/api/volume-manager/health`, deadline, proc);
    await waitForUrl(APP_URL, deadline, proc);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- npm start output ---\n${output.slice(-6000)}`);
  }
  const terminate = async (withinMs: number) => {
    const started = Date.now();
    const exited = new Promise(r => proc.once('exit', r));
    process.kill(-proc.pid!, 'SIGTERM');
    await Promise.race([
      exited,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`npm start did not exit within ${withinMs} ms of SIGTERM`)), withinMs),
      ),
    ]);
    return Date.now() - started;
  };
  return { log: () => output, stop, processTree: () => descendantsOf(proc.pid!), terminate };
}

/** Debian's Chromium, headless, with the flags this closed network needs. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
  });
}
