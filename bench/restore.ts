/*
 * Restore benchmarks: our whole restore path (verify: read + sha256 + gunzip + tar pre-scan;
 * preflight: a new PVC; write: helper pod, the archive again over exec stdin into
 * `head -c N | tar -xzpf -`) against kube-sim in its own process, compared with the reference
 * client on the same transport, `kubectl exec -i POD -- sh -c 'tar -xzf - -C /data' < archive`,
 * of the same archive into an empty PVC through the same simulator, in alternating pairs
 * (NKVM_BENCH_PAIRS, default 3; the ratio is the median of the pairs' ratios).
 *
 * The restore reads the archive twice by design: nothing may be written before the whole archive
 * checked out (sha256 against the record and the sidecar, every tar header scanned), and a
 * pre-scan running beside the extraction would let a hostile entry (a symlink climbing out of
 * the staging directory, then a file through it) reach the volume before the scan refuses it.
 * So the verify and write phases are also reported on their own: the write phase alone is the
 * figure comparable to kubectl's single pass.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { StoredRestore } from '../plugins/volume-manager-backend/src/database/RestoreStore';
import { LocalArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/LocalArchiveSink';
import { createRestoreExecutor } from '../plugins/volume-manager-backend/src/services/RestoreExecutor/RestoreExecutor';
import type { RestoreHooks } from '../plugins/volume-manager-backend/src/services/RestoreExecutor/types';
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
const PAIRS = Math.max(1, Number(process.env.NKVM_BENCH_PAIRS) || 3);
const fixed = (values: number[]) => values.map(v => v.toFixed(2)).join(',');

/** PV data that gzips to about 2 GiB (NKVM_BENCH_RESTORE_MIB overrides the PV size). */
const PV_BYTES = (Number(process.env.NKVM_BENCH_RESTORE_MIB) || 2600) * MiB;

function fixture() {
  return {
    name: 'bench-restore',
    nodes: [{ name: 'node-a' }],
    namespaces: [{ name: 'bench' }],
    storageClasses: [{ name: 'standard', default: true, provisioner: 'kube-sim.nkvm.io/hostpath', reclaimPolicy: 'Delete', volumeBindingMode: 'Immediate' }],
    persistentVolumeClaims: [
      {
        name: 'source',
        namespace: 'bench',
        accessModes: ['ReadWriteOnce'],
        size: '100Gi',
        volumeName: 'pv-source',
        files: { seed: 300, files: 64, totalBytes: PV_BYTES, compressibility: 0.2, depth: 2 },
      },
      { name: 'kubectl-target', namespace: 'bench', accessModes: ['ReadWriteOnce'], size: '100Gi', volumeName: 'pv-kubectl-target' },
    ],
  };
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

interface Phases {
  verify: number;
  preflight: number;
  write: number;
}

async function withRestoreRig<T>(
  fn: (rig: {
    archiveBytes: number;
    restore(): Promise<{ seconds: number; phases: Phases }>;
    kubectl(): Promise<number>;
  }) => Promise<T>,
): Promise<T> {
  const sim = await startSimProcess(fixture());
  const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-bench-restore-'));
  try {
    const { registry, config, logger } = registryFor(sim.kubeconfigPath, { helper: { podTimeoutSeconds: 60 } });
    const executor = createRestoreExecutor({ registry, config, logger, installationId: async () => 'bench' });
    const sink = new LocalArchiveSink(backupDir);
    const kc = ['--kubeconfig', sim.kubeconfigPath, '-n', 'bench'];

    // The archive, as a backup writes it (tar -czf of the PV), with its sidecar.
    const dir = path.join(backupDir, 'sim', 'bench', 'source');
    mkdirSync(dir, { recursive: true });
    const archive = path.join(dir, 'source-20260101T000000Z.tar.gz');
    execFileSync('sh', ['-c', `tar -czf '${archive}' -C '${path.join(sim.dataDir, 'pvs', 'pv-source')}' .`]);
    const sha256 = await sha256Of(archive);
    writeFileSync(`${archive}.sha256`, `${sha256}  ${path.basename(archive)}\n`);
    const archiveBytes = statSync(archive).size;

    // The reference: a pod mounting an empty PVC, fed by kubectl exec -i.
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'writer', namespace: 'bench' },
      spec: {
        containers: [{ name: 'c', image: 'alpine:3.20', command: ['sleep', '86400'], volumeMounts: [{ name: 'd', mountPath: '/data' }] }],
        volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'kubectl-target' } }],
      },
    };
    execFileSync(KUBECTL, [...kc, 'apply', '-f', '-'], { input: JSON.stringify(pod) });
    execFileSync(KUBECTL, [...kc, 'wait', '--for=jsonpath={.status.phase}=Running', 'pod/writer', '--timeout=60s']);
    const kubectlTarget = path.join(sim.dataDir, 'pvs', 'pv-kubectl-target');

    let n = 0;
    return await fn({
      archiveBytes,
      kubectl: async () => {
        rmSync(kubectlTarget, { recursive: true, force: true });
        mkdirSync(kubectlTarget);
        return timeCommand('sh', ['-c', `'${KUBECTL}' ${kc.join(' ')} exec -i writer -- sh -c 'tar -xzf - -C /data' < '${archive}'`]);
      },
      restore: async () => {
        n++;
        const id = randomUUID();
        const name = `restored-${n}`;
        const now = new Date().toISOString();
        const restore: StoredRestore = {
          id,
          phase: 'verifying',
          itemId: id,
          source: { cluster: 'sim', namespace: 'bench', pvc: 'source', archiveUri: pathToFileURL(archive).href, sha256, destination: 'local' },
          target: { type: 'newPvc', cluster: 'sim', namespace: 'bench', name },
          targetPvc: { cluster: 'sim', namespace: 'bench', name },
          ownership: 'preserve',
          entityRef: null,
          requestedBy: 'user:default/bench',
          createdAt: now,
          startedAt: now,
          finishedAt: null,
          bytesDone: 0,
          bytesTotal: null,
          entries: null,
          uncompressedBytes: null,
          checks: [],
          safetyBackupRunId: null,
          helperPod: null,
          error: null,
          claimedBy: 'bench',
          leaseExpiresAt: null,
          cancelRequested: false,
          createdPvc: false,
        };
        const marks: Record<string, bigint> = {};
        const hooks: RestoreHooks = {
          signal: new AbortController().signal,
          onPhase: phase => {
            marks[phase] = process.hrtime.bigint();
          },
          onProgress() {},
          onScan() {},
          onChecks() {},
          onHelperPod() {},
          onCreatedPvc() {},
          safetyBackup: async () => 'none',
        };
        const { seconds } = await timeIt(() => executor.run(restore, sink, hooks));
        const end = process.hrtime.bigint();
        const s = (a: bigint, b: bigint) => Number(b - a) / 1e9;
        const phases = {
          verify: s(marks.verifying, marks.preflight),
          preflight: s(marks.preflight, marks.restoring),
          write: s(marks.restoring, end),
        };
        // Free the disk: delete the restored PVC (its provisioned PV directory goes with it).
        execFileSync(KUBECTL, [...kc, 'delete', 'pvc', name, '--wait=false']);
        return { seconds, phases };
      },
    });
  } finally {
    rmSync(backupDir, { recursive: true, force: true });
    await sim.stop();
  }
}

export const restoreThroughput: Benchmark = {
  name: 'restore-throughput',
  description: 'a ~2 GiB archive from the local sink into a new PVC vs kubectl exec -i … tar -xzf - of it, in alternating pairs',
  async run(): Promise<BenchResult> {
    return withRestoreRig(async rig => {
      const ours: number[] = [];
      const verify: number[] = [];
      const write: number[] = [];
      const kubectl: number[] = [];
      const oursOnce = async () => {
        const { seconds, phases } = await rig.restore();
        ours.push(seconds);
        verify.push(phases.verify);
        write.push(phases.write + phases.preflight);
      };
      const kubectlOnce = async () => {
        kubectl.push(await rig.kubectl());
      };
      for (let i = 0; i < PAIRS; i++) {
        if (i % 2 === 0) {
          await oursOnce();
          await kubectlOnce();
        } else {
          await kubectlOnce();
          await oursOnce();
        }
      }
      const ratios = ours.map((o, i) => kubectl[i] / o);
      const writeRatios = write.map((w, i) => kubectl[i] / w);
      const ratio = median(ratios);
      const mibs = (seconds: number) => Number((rig.archiveBytes / MiB / seconds).toFixed(1));
      return {
        bench: 'restore-throughput',
        value: mibs(median(ours)),
        unit: 'MiB/s of archive',
        baseline: mibs(median(kubectl)),
        ratio: Number(ratio.toFixed(3)),
        target: 'ratio >= 0.95 (median of paired ratios; the design reads the archive twice, see writePhaseRatio)',
        pass: ratio >= 0.95,
        details: {
          archiveBytes: rig.archiveBytes,
          oursSeconds: fixed(ours),
          kubectlSeconds: fixed(kubectl),
          pairRatios: fixed(ratios),
          verifySeconds: fixed(verify),
          writeSeconds: fixed(write),
          verifyMiBs: mibs(median(verify)),
          writeMiBs: mibs(median(write)),
          writePhaseRatio: Number(median(writeRatios).toFixed(3)),
        },
      };
    });
  },
};

export const restoreRss: Benchmark = {
  name: 'restore-rss',
  description: "the backend's RSS growth while restoring a ~2 GiB archive (both reads)",
  async run(): Promise<BenchResult> {
    return withRestoreRig(async rig => {
      const { growthMb, value } = await peakRssGrowthMb(() => rig.restore());
      return rssResult('restore-rss', growthMb, {
        archiveBytes: rig.archiveBytes,
        seconds: Number(value.seconds.toFixed(2)),
      });
    });
  },
};
