/** Test helpers: run the real kubectl binaries asynchronously against a kube-sim. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const KUBECTL_DIR = '/usr/lib/google-cloud-sdk/bin';
/** the lowest kubectl that works for non-exec commands, and the newest */
export const KUBECTL_VERSIONS = ['1.27', '1.33'] as const;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlOptions {
  kubeconfigPath: string;
  version?: string;
  input?: string | Buffer;
  context?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Spawns kubectl with a fresh discovery cache dir (never execFileSync: the server runs in this process). */
export function kubectl(args: string[], opts: KubectlOptions): Promise<RunResult> {
  const bin = path.join(KUBECTL_DIR, `kubectl.${opts.version ?? '1.33'}`);
  const cache = mkdtempSync(path.join(os.tmpdir(), 'kubectl-cache-'));
  const full = [`--cache-dir=${cache}`, ...(opts.context ? [`--context=${opts.context}`] : []), ...args];
  return runProcess(bin, full, { ...opts.env, KUBECONFIG: opts.kubeconfigPath, HOME: cache }, opts.input, opts.timeoutMs);
}

export function runProcess(bin: string, args: string[], env: Record<string, string>, input?: string | Buffer, timeoutMs = 55_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', e => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', code => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** Runs `bash -c` (for pipelines such as kubectl exec … | tar -tzf -). */
export function shell(script: string, env: Record<string, string>, timeoutMs?: number): Promise<RunResult> {
  return runProcess('/bin/bash', ['--norc', '--noprofile', '-o', 'pipefail', '-c', script], { HOME: '/tmp', ...env }, undefined, timeoutMs);
}

export function writeTemp(name: string, content: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-sim-test-'));
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Parses kubectl's aligned table output by the header's column positions (empty cells survive). */
export function parseTable(text: string): { header: string[]; rows: Array<Record<string, string>> } {
  const lines = text.split('\n').filter(l => l.trim().length > 0);
  const head = lines[0] ?? '';
  const starts: number[] = [];
  const header: string[] = [];
  const re = /\S+(?: \S+)*/g;
  for (const m of head.matchAll(re)) {
    starts.push(m.index!);
    header.push(m[0]);
  }
  const rows = lines.slice(1).map(l => {
    const r: Record<string, string> = {};
    header.forEach((h, i) => {
      r[h] = l.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : undefined).trim();
    });
    return r;
  });
  return { header, rows };
}
