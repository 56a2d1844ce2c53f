/*
 * Backup benchmarks: our whole backup path (helper pod, exec over WebSocket, hashing, local
 * sink) against kube-sim in its own process, compared with plain `tar -czf - DIR > /dev/null` on
 * the same PV directory in the same run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createBackupExecutor } from '../plugins/volume-manager-backend/src/services/BackupExecutor/BackupExecutor';
import { LocalArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/LocalArchiveSink';
import type { Benchmark, BenchResult } from './types';
import { median, peakRssGrowthMb, registryFor, startSimProcess, timeCommand, timeIt } from './support';

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
  }) => Promise<T>,
): Promise<T> {
  const sim = await startSimProcess(fixture(pvcs));
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-bench-backups-'));
  try {
    const { registry, config, logger } = registryFor(sim.kubeconfigPath);
    const executor = createBackupExecutor({ registry, config, logger });
    const sink = new LocalArchiveSink(backupDir);
    return await fn({
      pvDir: pvc => path.join(sim.dataDir, 'pvs', `pv-${pvc}`),
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

/** A throughput result: ours vs the baseline, both in MiB/s of PV data, higher is better. */
function throughputResult(
  bench: string,
  value: number,
  baseline: number,
  minRatio: number,
  target: string,
  details: BenchResult['details'],
): BenchResult {
  const ratio = value / baseline;
  return {
    bench,
    value: Number(value.toFixed(1)),
    unit: 'MiB/s of PV data',
    baseline: Number(baseline.toFixed(1)),
    ratio: Number(ratio.toFixed(3)),
    target,
    pass: ratio >= minRatio,
    details,
  };
}

const tarBaseline = (dir: string) => timeCommand('sh', ['-c', `tar -czf - -C '${dir}' . > /dev/null`]);

export const backupThroughput: Benchmark = {
  name: 'backup-throughput',
  description: 'one 1 GiB PVC of mixed data: our backup vs tar -czf - DIR > /dev/null',
  async run(): Promise<BenchResult> {
    const size = 1024 * MiB;
    return withBackupRig([{ name: 'mixed', bytes: size, compressibility: 0.5 }], async rig => {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let i = 0; i < 2; i++) {
        theirs.push(await tarBaseline(rig.pvDir('mixed')));
        ours.push((await timeIt(() => rig.backup('mixed'))).seconds);
      }
      return throughputResult(
        'backup-throughput',
        size / MiB / median(ours),
        size / MiB / median(theirs),
        0.9,
        'ratio >= 0.9',
        { pvBytes: size, oursSeconds: ours.map(s => s.toFixed(2)).join(','), tarSeconds: theirs.map(s => s.toFixed(2)).join(',') },
      );
    });
  },
};

export const backupParallel: Benchmark = {
  name: 'backup-parallel',
  description: '4 PVCs at once vs 1 PVC (throughput on 2 cores)',
  async run(): Promise<BenchResult> {
    const size = 192 * MiB;
    const names = ['p1', 'p2', 'p3', 'p4'];
    return withBackupRig(names.map(name => ({ name, bytes: size, compressibility: 0.5 })), async rig => {
      const one = await timeIt(() => rig.backup('p1'));
      const four = await timeIt(() => Promise.all(names.map(n => rig.backup(n))));
      return throughputResult(
        'backup-parallel',
        (4 * size) / MiB / four.seconds,
        size / MiB / one.seconds,
        1.7,
        'ratio >= 1.7 (4 at once vs 1)',
        { pvBytesEach: size, oneSeconds: one.seconds.toFixed(2), fourSeconds: four.seconds.toFixed(2) },
      );
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
      return {
        bench: 'backup-rss',
        value: Number(growthMb.toFixed(1)),
        unit: 'MB',
        baseline: 64,
        ratio: Number((growthMb / 64).toFixed(3)),
        target: 'growth <= 64 MB',
        pass: growthMb <= 64,
        details: { pvBytes: size, archiveBytes: value.bytes },
      };
    });
  },
};
