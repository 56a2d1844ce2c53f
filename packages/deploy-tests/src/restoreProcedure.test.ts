/*
 * docs/runbooks/restore-procedure.md, executed. The blocks marked `<!-- restore-test: run -->`
 * run in order with bash against kube-sim (the real kubectl, real exec streaming, real tar), after
 * the `<!-- restore-test: env -->` block with this test's values. The archive is one the backend
 * made; the restored PV must equal the backed-up PV byte for byte.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDatabases } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import { KUBECTL, REPO_ROOT, run } from './__testUtils__/repo';
import { kubectl, startBackend, tempDir } from './__testUtils__/kubeSimBackend';

jest.setTimeout(180_000);

const DOC = path.join(REPO_ROOT, 'docs/runbooks/restore-procedure.md');

/** The fenced bash blocks that follow a `<!-- restore-test: <kind> -->` marker. */
function markedBlocks(markdown: string, kind: 'env' | 'run'): string[] {
  const re = new RegExp(`<!-- restore-test: ${kind} -->\\s*\\n\`\`\`bash\\n([\\s\\S]*?)\\n\`\`\``, 'g');
  return [...markdown.matchAll(re)].map(m => m[1]);
}

describe('docs/runbooks/restore-procedure.md', () => {
  let sim: KubeSim;
  const databases = TestDatabases.create({ ids: ['SQLITE_3'], disableDocker: true });

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo' });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('has the marked steps the test runs', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(markedBlocks(doc, 'env')).toHaveLength(1);
    expect(markedBlocks(doc, 'run').length).toBeGreaterThanOrEqual(5);
    // Every variable the steps use is set in the env block.
    const env = markedBlocks(doc, 'env')[0];
    const defined = new Set([...env.matchAll(/export (\w+)=/g)].map(m => m[1]));
    const used = new Set([...markedBlocks(doc, 'run').join('\n').matchAll(/\$\{?(\w+)\}?/g)].map(m => m[1]));
    expect([...used].filter(v => !defined.has(v))).toEqual([]);
  });

  it('restores a backend-made archive into a new PVC, byte for byte', async () => {
    // 1. A backup made by the backend, as an operator would find it in the backup directory.
    const backupDir = tempDir('restore-backups');
    const backend = await startBackend({ kubeconfig: sim.kubeconfigPath, backupDir, databases });
    const source = { namespace: 'payments', name: 'payments-db-scratch' };
    const done = await backend.backup([source]);
    expect([done.items[0].status, done.items[0].error]).toEqual(['succeeded', null]);
    const archive = fileURLToPath(done.items[0].archiveUri!);
    const sourceVolume = (await backend.volumes()).items.find(v => v.name === source.name)!.volumeName!;

    // 2. The documented steps, with `kubectl` on PATH pointing at kube-sim.
    const bin = tempDir('restore-bin');
    const cache = tempDir('restore-kubectl-cache');
    writeFileSync(path.join(bin, 'kubectl'), `#!/bin/sh\nexec ${KUBECTL} --cache-dir ${cache} "$@"\n`);
    chmodSync(path.join(bin, 'kubectl'), 0o755);
    const doc = readFileSync(DOC, 'utf8');
    const script = [
      markedBlocks(doc, 'env')[0],
      `export NS=${source.namespace} TARGET_PVC=payments-db-restored ARCHIVE=${JSON.stringify(archive)}`,
      ...markedBlocks(doc, 'run'),
    ].join('\n\n');
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', script], {
      env: { PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: sim.kubeconfigPath, HOME: tempDir('restore-home') },
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stdout).toMatch(/tar\.gz: OK/);
    const counts = [...stdout.matchAll(/(archive|volume):\s+(\d+) files and links/g)].map(m => Number(m[2]));
    expect(counts).toHaveLength(2);
    expect(counts[0]).toBe(counts[1]);

    // 3. The new PVC's volume holds exactly what the backed-up one held.
    const restoredVolume = (
      await kubectl(sim, ['-n', source.namespace, 'get', 'pvc', 'payments-db-restored', '-o', 'jsonpath={.spec.volumeName}'])
    ).trim();
    expect(restoredVolume).not.toBe('');
    expect(await compareTrees(sim.pvDir(sourceVolume), sim.pvDir(restoredVolume))).toEqual([]);
    // The restore pod is gone.
    expect(await kubectl(sim, ['-n', source.namespace, 'get', 'pods', '-l', 'app.kubernetes.io/name=nkvm-restore', '-o', 'name'])).toBe('');
  });

  it('a damaged archive stops the procedure at the checksum step', async () => {
    const dir = tempDir('restore-damaged');
    const archive = path.join(dir, 'x-20260101T000000Z.tar.gz');
    writeFileSync(archive, 'not the archive');
    writeFileSync(`${archive}.sha256`, `${'0'.repeat(64)}  x-20260101T000000Z.tar.gz\n`);
    const doc = readFileSync(DOC, 'utf8');
    const script = [markedBlocks(doc, 'env')[0], `export ARCHIVE=${JSON.stringify(archive)}`, markedBlocks(doc, 'run')[0]].join('\n');
    await expect(run('bash', ['-euo', 'pipefail', '-c', script])).rejects.toThrow(/did NOT match/);
  });
});
