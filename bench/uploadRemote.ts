/*
 * Upload benchmarks: our whole backup path (helper pod, exec over WebSocket, hashing) into an
 * FTP sink (vsftpd) or an SCP sink (OpenSSH sshd, SFTP) on loopback, against the local sink on
 * the same PVC in the same run, alternating rounds. Needs root and the Debian packages vsftpd,
 * openssh-server and rsync (the same servers the tests start).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createBackupExecutor } from '../plugins/volume-manager-backend/src/services/BackupExecutor/BackupExecutor';
import { LocalArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/LocalArchiveSink';
import { FtpArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/FtpArchiveSink';
import { ScpArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/ScpArchiveSink';
import type { ArchiveSink } from '../plugins/volume-manager-backend/src/services/ArchiveSinks/types';
import { startRemoteServers, type RemoteServers } from '../plugins/volume-manager-backend/src/__testUtils__/remoteServers';
import type { Benchmark, BenchResult } from './types';
import { median, registryFor, startSimProcess, timeIt } from './support';

const MiB = 1024 * 1024;
const SIZE = 512 * MiB;
const ROUNDS = 3;
const TARGET = 0.75;

function fixture() {
  return {
    name: 'bench-upload',
    nodes: [{ name: 'node-a' }],
    namespaces: [{ name: 'bench' }],
    persistentVolumeClaims: [
      {
        name: 'upload',
        namespace: 'bench',
        accessModes: ['ReadWriteOnce'],
        size: '100Gi',
        volumeName: 'pv-upload',
        files: { seed: 200, files: 64, totalBytes: SIZE, compressibility: 0.5, depth: 2 },
      },
    ],
  };
}

function uploadBenchmark(name: string, protocol: string, remoteSink: (servers: RemoteServers, logger: never) => ArchiveSink): Benchmark {
  return {
    name,
    description: `one ${SIZE / MiB} MiB PVC of mixed data: backup to ${protocol} on loopback vs the local sink`,
    async run(): Promise<BenchResult> {
      const servers = await startRemoteServers();
      const sim = await startSimProcess(fixture());
      const backupDir = mkdtempSync(path.join(os.tmpdir(), 'nkvm-bench-upload-'));
      try {
        const { registry, config, logger } = registryFor(sim.kubeconfigPath);
        const executor = createBackupExecutor({ registry, config, logger, installationId: async () => 'bench' });
        const local = new LocalArchiveSink(backupDir);
        const remote = remoteSink(servers, logger as never);
        const backup = async (sink: ArchiveSink) => {
          const id = randomUUID();
          return executor.run(
            { runId: id, itemId: id, cluster: 'sim', namespace: 'bench', pvc: 'upload', requestedBy: 'user:default/bench' },
            sink,
            { signal: new AbortController().signal, onHelperPod() {}, onProgress() {} },
          );
        };
        await backup(local); // warm-up: page cache, JIT, TLS/SSH code paths
        await backup(remote);
        const ours: number[] = [];
        const theirs: number[] = [];
        let archiveBytes = 0;
        for (let i = 0; i < ROUNDS; i++) {
          theirs.push((await timeIt(() => backup(local))).seconds);
          const r = await timeIt(() => backup(remote));
          ours.push(r.seconds);
          archiveBytes = r.value.bytes;
        }
        const value = SIZE / MiB / median(ours);
        const baseline = SIZE / MiB / median(theirs);
        return {
          bench: name,
          value: Number(value.toFixed(1)),
          unit: 'MiB/s of PV data',
          baseline: Number(baseline.toFixed(1)),
          ratio: Number((value / baseline).toFixed(3)),
          target: `ratio >= ${TARGET} (${protocol} on loopback vs local sink)`,
          pass: value / baseline >= TARGET,
          details: {
            pvBytes: SIZE,
            archiveBytes,
            archiveMiBps: Number((archiveBytes / MiB / median(ours)).toFixed(1)),
            remoteSeconds: ours.map(s => s.toFixed(2)).join(','),
            localSeconds: theirs.map(s => s.toFixed(2)).join(','),
          },
        };
      } finally {
        rmSync(backupDir, { recursive: true, force: true });
        await sim.stop();
        await servers.stop();
      }
    },
  };
}

const retry = { attempts: 1, initialDelayMs: 1000, maxDelayMs: 1000, timeoutMs: 30_000 };

export const uploadFtp = uploadBenchmark('upload-ftp', 'FTP (vsftpd)', (servers, logger) =>
  new FtpArchiveSink(
    {
      id: 'bench-ftp', type: 'ftp', host: '127.0.0.1', port: servers.ftpPort, username: servers.user,
      password: servers.password, remoteDir: 'bench', keepLocalCopy: false,
    },
    { retry, logger },
  ),
);

export const uploadScp = uploadBenchmark('upload-scp', 'SCP over SFTP (OpenSSH)', (servers, logger) =>
  new ScpArchiveSink(
    {
      id: 'bench-scp', type: 'scp', host: '127.0.0.1', port: servers.sshPort, username: servers.user,
      privateKey: servers.clientPrivateKey, hostKeySha256: servers.hostKeySha256, remoteDir: 'bench',
      keepLocalCopy: false,
    },
    { retry, logger },
  ),
);
