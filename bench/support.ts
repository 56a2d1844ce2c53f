/** Shared pieces of the benchmarks: kube-sim in its own process, timing, RSS sampling. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { readVolumeManagerConfig } from '../plugins/volume-manager-backend/src/config/readVolumeManagerConfig';
import { createClusterRegistry } from '../plugins/volume-manager-backend/src/services/ClusterRegistry/ClusterRegistry';
import { builtInAuthStrategies } from '../plugins/volume-manager-backend/src/kubernetes/authStrategies';
import type { BenchResult } from './types';

export const repoRoot = path.resolve(__dirname, '..');

export interface SimProcess {
  url: string;
  kubeconfigPath: string;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

/** kube-sim in a separate process, so the client under test and kubectl share it fairly. */
export async function startSimProcess(fixture: string | object): Promise<SimProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-bench-'));
  let fixtureArg = typeof fixture === 'string' ? fixture : path.join(dir, 'fixture.yaml');
  if (typeof fixture !== 'string') writeFileSync(fixtureArg, stringify(fixture));
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'packages/kube-sim/src/cli.ts'),
      '--fixture', fixtureArg, '--port', '0', '--data-dir', path.join(dir, 'data'), '--kubeconfig-out', kubeconfigPath],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kube-sim did not start:\n${output}`)), 300_000);
    child.stdout!.on('data', d => {
      output += d;
      const m = /kube-sim ready (\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr!.on('data', d => (output += d));
    child.on('exit', code => reject(new Error(`kube-sim exited with ${code}:\n${output}`)));
  });
  return {
    url,
    kubeconfigPath,
    dataDir: path.join(dir, 'data'),
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise(r => child.once('exit', r));
    },
  };
}

/** The plugin's cluster registry with one cluster, `sim`, from a kubeconfig file. */
export function registryFor(kubeconfigPath: string, volumeManager: object = {}) {
  const config = readVolumeManagerConfig(
    new ConfigReader({
      volumeManager: { clusters: [{ name: 'sim', kubeconfigPath, context: 'kube-sim-admin' }], ...volumeManager },
    }),
    {},
  );
  const logger = {
    info() {}, warn() {}, error() {}, debug() {},
    child() { return logger; },
  };
  return {
    config,
    logger,
    registry: createClusterRegistry({ config, authStrategies: builtInAuthStrategies(), logger }),
  };
}

export async function timeIt<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs a command, discarding stdout, and resolves with its wall time. */
export function timeCommand(command: string, args: string[], options: { cwd?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', d => (stderr += d));
    child.on('exit', code =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - start) / 1e9)
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.slice(-500)}`)),
    );
  });
}

/** Samples this process's RSS every 50 ms while fn runs; returns the peak growth in MB. */
export async function peakRssGrowthMb<T>(fn: () => Promise<T>): Promise<{ growthMb: number; value: T }> {
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { growthMb: (peak - base) / 1e6, value };
  } finally {
    clearInterval(timer);
  }
}

/** The design's limit on the backend's RSS growth over a 2 GiB stream, either direction. */
export const RSS_GROWTH_LIMIT_MB = 64;

/** A `*-rss` benchmark's JSON line: the growth measured against RSS_GROWTH_LIMIT_MB. */
export function rssResult(bench: string, growthMb: number, details: BenchResult['details']): BenchResult {
  return {
    bench,
    value: Number(growthMb.toFixed(1)),
    unit: 'MB',
    baseline: RSS_GROWTH_LIMIT_MB,
    ratio: Number((growthMb / RSS_GROWTH_LIMIT_MB).toFixed(3)),
    target: `growth <= ${RSS_GROWTH_LIMIT_MB} MB`,
    pass: growthMb <= RSS_GROWTH_LIMIT_MB,
    details,
  };
}

export const KUBECTL = process.env.KUBECTL ?? '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
