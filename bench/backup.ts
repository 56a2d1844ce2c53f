/*
 * Backup benchmarks: our whole backup path (helper pod, exec over WebSocket, hashing, local
 * sink) against kube-sim in its own process, compared with plain `tar -czf - DIR > /dev/null` on
 * the same PV directory in the same run.
 *
 * This machine's speed drifts by ±10% over minutes, so the two sides are measured in pairs,
 * alternating which goes first, and the ratio is the median of the pairs' ratios
 * (NKVM_BENCH_PAIRS, default 3). For context, the throughput benchmark also times the reference
 * client, `kubectl exec … tar > /dev/null`, through the same simulator.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createBackupExecutor } from '../plugins/volume-manager-backend/src/services/BackupExecutor/BackupExecutor';
import { LocalArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/LocalArchiveSink';
import type { Benchmark, BenchResult } from './types';
import {
  KUBECTL,
  median,
  peakRssGrowthMb,
  registryFor,
  rssResult,
  startSimProcess,
  timeCommand,
  timeIt,
} from './support';

const MiB = 1024 * 1024;

function fixture(pvcs: Array<{ name: string; bytes: number; compressibility: number }>) {
  return {
    name: 'bench',
    nodes: [{ name: 'node-a' }],
    namespaces: [{ name: 'bench' }],
    persistentVolumeClaims: pvcs.map((p, i) => ({
      name: p.name,
      namespace: 'bench',
      accessModes: ['ReadWriteOnce'],
      size: '100Gi',
      volumeName: `pv-${p.name}`,
      files: { seed: 100 + i, files: 64, totalBytes: p.bytes, compressibility: p.compressibility, depth: 2 },
    })),
  };
}

async function withBackupRig<T>(
  pvcs: Array<{ name: string; bytes: number; compressibility: number }>,
  fn: (rig: {
    backup(pvc: string): Promise<{ bytes: number }>;
    pvDir(pvc: string): string;
    /** Starts a pod mounting the PVC and returns a timer for `kubectl exec … tar > /dev/null` in it. */
    kubectlReader(pvc: string): Promise<() => Promise<number>>;
  }) => Promise<T>,
): Promise<T> {
  const sim = await startSimProcess(fixture(pvcs));
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-bench-backups-'));
  try {
    const { registry, config, logger } = registryFor(sim.kubeconfigPath);
    const executor = createBackupExecutor({ registry, config, logger, installationId: async () => 'bench' });
    const sink = new LocalArchiveSink(backupDir);
    const kc = ['--kubeconfig', sim.kubeconfigPath, '-n', 'bench'];
    return await fn({
      pvDir: pvc => path.join(sim.dataDir, 'pvs', `pv-${pvc}`),
      kubectlReader: async pvc => {
        const name = `reader-${pvc}`;
        const pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'bench' },
          spec: {
            containers: [{ name: 'c', image: 'alpine:3.20', command: ['sleep', '86400'], volumeMounts: [{ name: 'd', mountPath: '/data', readOnly: true }] }],
            volumes: [{ name: 'd', persistentVolumeClaim: { claimName: pvc, readOnly: true } }],
          },
        };
        execFileSync(KUBECTL, [...kc, 'apply', '-f', '-'], { input: JSON.stringify(pod) });
        execFileSync(KUBECTL, [...kc, 'wait', '--for=jsonpath={.status.phase}=Running', `pod/${name}`, '--timeout=60s']);
        return () => timeCommand('sh', ['-c', `'${KUBECTL}' ${kc.join(' ')} exec ${name} -- tar -czf - -C /data . > /dev/null`]);
      },
      backup: async pvc => {
        const id = randomUUID();
        const outcome = await executor.run(
          { runId: id, itemId: id, cluster: 'sim', namespace: 'bench', pvc, requestedBy: 'user:default/bench' },
          sink,
          { signal: new AbortController().signal, onHelperPod() {}, onProgress() {} },
        );
        return { bytes: outcome.bytes };
      },
    });
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
    await sim.stop();
  }
}

/** Runs `a` and `b` in `pairs` pairs, alternating which goes first; returns both series. */
async function alternate(pairs: number, a: () => Promise<number>, b: () => Promise<number>) {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      as.push(await a());
      bs.push(await b());
    } else {
      bs.push(await b());
      as.push(await a());
    }
  }
  return { as, bs };
}

const PAIRS = Math.max(1, Number(process.env.NKVM_BENCH_PAIRS) || 3);
const fixed = (values: number[]) => values.map(v => v.toFixed(2)).join(',');

const tarBaseline = (dir: string) => timeCommand('sh', ['-c', `tar -czf - -C '${dir}' . > /dev/null`]);

export const backupThroughput: Benchmark = {
  name: 'backup-throughput',
  description: 'one 1 GiB PVC of mixed data: our backup vs tar -czf - DIR > /dev/null, in alternating pairs',
  async run(): Promise<BenchResult> {
    const size = 1024 * MiB;
    return withBackupRig([{ name: 'mixed', bytes: size, compressibility: 0.5 }], async rig => {
      const kubectlExec = await rig.kubectlReader('mixed');
      const { as: ours, bs: theirs } = await alternate(
        PAIRS,
        async () => (await timeIt(() => rig.backup('mixed'))).seconds,
        () => tarBaseline(rig.pvDir('mixed')),
      );
      const kubectl: number[] = [];
      for (let i = 0; i < PAIRS; i++) kubectl.push(await kubectlExec());
      const ratios = ours.map((o, i) => theirs[i] / o);
      const ratio = median(ratios);
      return {
        bench: 'backup-throughput',
        value: Number((size / MiB / median(ours)).toFixed(1)),
        unit: 'MiB/s of PV data',
        baseline: Number((size / MiB / median(theirs)).toFixed(1)),
        ratio: Number(ratio.toFixed(3)),
        target: 'ratio >= 0.9 (median of paired ratios)',
        pass: ratio >= 0.9,
        details: {
          pvBytes: size,
          oursSeconds: fixed(ours),
          tarSeconds: fixed(theirs),
          pairRatios: fixed(ratios),
          kubectlExecSeconds: fixed(kubectl),
          kubectlExecRatio: Number((median(theirs) / median(kubectl)).toFixed(3)),
        },
      };
    });
  },
};

export const backupParallel: Benchmark = {
  name: 'backup-parallel',
  description: '4 PVCs at once vs 1 PVC (throughput on 2 cores), in alternating pairs',
  async run(): Promise<BenchResult> {
    const size = 192 * MiB;
    const names = ['p1', 'p2', 'p3', 'p4'];
    return withBackupRig(names.map(name => ({ name, bytes: size, compressibility: 0.5 })), async rig => {
      const { as: four, bs: one } = await alternate(
        PAIRS,
        async () => (await timeIt(() => Promise.all(names.map(n => rig.backup(n))))).seconds,
        async () => (await timeIt(() => rig.backup('p1'))).seconds,
      );
      const ratios = four.map((f, i) => (4 * one[i]) / f);
      const ratio = median(ratios);
      return {
        bench: 'backup-parallel',
        value: Number(((4 * size) / MiB / median(four)).toFixed(1)),
        unit: 'MiB/s of PV data',
        baseline: Number((size / MiB / median(one)).toFixed(1)),
        ratio: Number(ratio.toFixed(3)),
        target: 'ratio >= 1.7 (4 at once vs 1; median of paired ratios)',
        pass: ratio >= 1.7,
        details: { pvBytesEach: size, oneSeconds: fixed(one), fourSeconds: fixed(four), pairRatios: fixed(ratios) },
      };
    });
  },
};

export const backupRss: Benchmark = {
  name: 'backup-rss',
  description: "the backend's RSS growth while backing up a 2 GiB PVC",
  async run(): Promise<BenchResult> {
    const size = 2048 * MiB;
    return withBackupRig([{ name: 'big', bytes: size, compressibility: 0.2 }], async rig => {
      const { growthMb, value } = await peakRssGrowthMb(() => rig.backup('big'));
      return rssResult('backup-rss', growthMb, { pvBytes: size, archiveBytes: value.bytes });
    });
  },
};
