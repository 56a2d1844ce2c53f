/*
 * The restore executor against kube-sim: real helper pods, real exec over WebSockets with the
 * archive on stdin, real tar, real files. Every restore is checked on disk, in the PV
 * directories, never by the executor's word; every refusal leaves the target as it was.
 */
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import {
  craftTarGz,
  recordingHooks,
  restoreFixture,
  restoreHarness,
  run,
  simAdmin,
  snapshot,
  type ArchiveRef,
} from '../../__testUtils__/restoreHarness';
import { RestoreRefusedError } from './types';

jest.setTimeout(120_000);

describe('restore executor against kube-sim', () => {
  let sim: KubeSim;
  let admin: ReturnType<typeof simAdmin>;
  let harness: ReturnType<typeof restoreHarness>;
  let archive: ArchiveRef;
  /** The data PV as it was backed up. */
  let original: string;
  let dataPv: string;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: restoreFixture(), http: true });
    admin = simAdmin(sim);
    harness = restoreHarness(sim);
    dataPv = sim.pvDir((await admin.claim('apps', 'data')).spec.volumeName);
    original = await snapshot(dataPv);
    archive = await harness.backup('apps', 'data');
  });

  afterAll(async () => {
    await sim?.stop();
  });

  afterEach(async () => {
    const left = await admin.helperPods();
    if (left.length > 0) throw new Error(`helper pods left: ${left.join(', ')}`);
  });

  async function refusal(promise: Promise<unknown>): Promise<Error> {
    const error = await promise.then(
      () => undefined,
      e => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    return error!;
  }

  it('restores into a new PVC of a WaitForFirstConsumer class in another namespace, byte for byte', async () => {
    const restore = harness.restoreOf(archive, {
      type: 'newPvc',
      cluster: 'sim',
      namespace: 'other',
      name: 'data-copy',
      storageClassName: 'local-wffc',
    });
    const { hooks, record } = recordingHooks();
    const outcome = await harness.executor.run(restore, harness.sink, hooks);

    expect(record.phases).toEqual(['verifying', 'preflight', 'restoring']);
    expect(record.createdPvc).toBe(true);
    expect(record.checks.map(c => [c.name, c.ok])).toEqual([
      ['sha256', true],
      ['sidecar', true],
      ['tar-scan', true],
      ['target', true],
      ['capacity', true],
      ['helper', true],
      ['extract', true],
    ]);
    expect(outcome.entries).toBe(record.scan!.entries);
    expect(outcome.entries).toBeGreaterThan(40);
    expect(record.progress.at(-1)).toEqual([archive.bytes, archive.bytes]);

    const claim = await admin.claim('other', 'data-copy');
    expect(claim.status.phase).toBe('Bound');
    expect(claim.spec.storageClassName).toBe('local-wffc');
    // The source PVC's size is the default.
    expect(claim.spec.resources.requests.storage).toBe('1Gi');
    expect(claim.metadata.labels['volume-manager.nkvm.io/restore-id']).toBe(restore.id);
    expect(await compareTrees(original, sim.pvDir(claim.spec.volumeName))).toEqual([]);
  });

  it('gives a new PVC the source PVC\'s storage class and size by default', async () => {
    const tiny = await harness.backup('apps', 'tiny');
    const restore = harness.restoreOf(tiny, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'tiny-copy' });
    const { hooks } = recordingHooks();
    await harness.executor.run(restore, harness.sink, hooks);
    const claim = await admin.claim('other', 'tiny-copy');
    expect(claim.spec.resources.requests.storage).toBe('64Ki');
    expect(claim.spec.storageClassName).toBe('standard');
  });

  it('refuses a tampered archive (one byte flipped on disk) before creating anything', async () => {
    const copy = await harness.backup('apps', 'tiny');
    const file = fileURLToPath(copy.archiveUri);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(file, bytes);
    const restore = harness.restoreOf(copy, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'tampered' });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(/sha256 is [0-9a-f]{64} but the backup recorded/);
    expect(record.checks.find(c => c.name === 'sha256')?.ok).toBe(false);
    expect(record.phases).toEqual(['verifying']);
    expect(record.createdPvc).toBe(false);
    expect(await admin.claim('other', 'tampered')).toBeUndefined();
  });

  it('refuses an archive whose sidecar disagrees with the record', async () => {
    const copy = await harness.backup('apps', 'tiny');
    const file = fileURLToPath(copy.archiveUri);
    writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  ${path.basename(file)}\n`);
    const restore = harness.restoreOf(copy, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'sidecar-off' });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error.message).toMatch(/sidecar says 0{64}/);
    expect(record.checks.map(c => [c.name, c.ok])).toEqual([
      ['sha256', true],
      ['sidecar', false],
      ['tar-scan', true],
    ]);
    expect(await admin.claim('other', 'sidecar-off')).toBeUndefined();
  });

  it.each([
    ['a ../ component', [{ name: '../x', content: 'escaped\n' }], /'\.\.\/x' has a '\.\.' component/],
    ['an absolute name', [{ name: '/etc/cron.d/evil', content: '* * * * * root sh\n' }], /absolute name/],
    [
      'a symlink to /etc and a file under it',
      [
        { name: 'etc', type: '2', linkname: '/etc' },
        { name: 'etc/passwd', content: 'root::0:0::/:/bin/sh\n' },
      ],
      /points to the absolute path '\/etc'/,
    ],
    [
      'a relative symlink out of the volume and a file under it',
      [
        { name: 'up', type: '2', linkname: '../../..' },
        { name: 'up/tmp/x', content: 'x\n' },
      ],
      /outside the volume/,
    ],
  ])('refuses an archive holding %s, leaving the existing PVC untouched', async (_what, entries, reason) => {
    const hostile = harness.storeArchive('apps', 'data', craftTarGz([{ name: './', type: '5', mode: 0o755 }, ...entries]));
    const before = await snapshot(dataPv);
    const restore = harness.restoreOf(hostile, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'data',
      mode: 'replace',
      confirm: 'data',
    });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(reason);
    expect(record.checks.find(c => c.name === 'tar-scan')).toMatchObject({ ok: false });
    expect(record.checks.find(c => c.name === 'sha256')).toMatchObject({ ok: true });
    expect(record.safetyBackups).toBe(0);
    expect(await compareTrees(before, dataPv, { mtime: true })).toEqual([]);
  });

  it('refuses an existing PVC a running pod mounts, naming the pod and its Deployment', async () => {
    const before = await snapshot(dataPv);
    const restore = harness.restoreOf(archive, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'data',
      mode: 'replace',
      confirm: 'data',
    });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(/PVC 'apps\/data' is mounted by pod 'app-[a-z0-9-]+' \(Deployment 'app'\)/);
    expect(record.checks.find(c => c.name === 'not-mounted')).toMatchObject({ ok: false });
    expect(record.safetyBackups).toBe(0);
    expect(await compareTrees(before, dataPv, { mtime: true })).toEqual([]);
  });

  it('refuses a target too small for the archive: a requested size, and an existing PVC', async () => {
    const small = harness.restoreOf(archive, { type: 'newPvc', cluster: 'sim', namespace: 'other', name: 'too-small', size: '64Ki' });
    const first = await refusal(harness.executor.run(small, harness.sink, recordingHooks().hooks));
    expect(first.message).toMatch(/target is too small: the requested size 64Ki is less than the archive's uncompressed size/);
    expect(await admin.claim('other', 'too-small')).toBeUndefined();

    const tinyPv = sim.pvDir((await admin.claim('apps', 'tiny')).spec.volumeName);
    const before = await snapshot(tinyPv);
    const existing = harness.restoreOf(archive, {
      type: 'existingPvc',
      cluster: 'sim',
      namespace: 'apps',
      name: 'tiny',
      mode: 'merge',
      confirm: 'tiny',
    });
    const second = await refusal(harness.executor.run(existing, harness.sink, recordingHooks().hooks));
    expect(second.message).toMatch(/target is too small: PVC 'apps\/tiny' holds 64\.0 KiB/);
    expect(await compareTrees(before, tinyPv, { mtime: true })).toEqual([]);
  });

  it('refuses a new PVC whose name is taken, and never deletes that PVC', async () => {
    const restore = harness.restoreOf(archive, { type: 'newPvc', cluster: 'sim', namespace: 'apps', name: 'tiny' });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error.message).toMatch(/A PVC named 'apps\/tiny' already exists/);
    expect(record.createdPvc).toBe(false);
    expect(await admin.claim('apps', 'tiny')).toBeDefined();
    // An interrupted restore that (wrongly) claims it: cleanup checks the restore-id label.
    await harness.executor.cleanup({ ...restore, createdPvc: true });
    expect(await admin.claim('apps', 'tiny')).toBeDefined();
  });

  it('explains a helper that Pod Security admission refused, and deletes the PVC it made', async () => {
    const restore = harness.restoreOf(archive, { type: 'newPvc', cluster: 'sim', namespace: 'locked', name: 'copy' });
    const { hooks, record } = recordingHooks();
    const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
    expect(error).toBeInstanceOf(RestoreRefusedError);
    expect(error.message).toMatch(/Pod Security admission .* refused .* enforces "restricted:latest"/);
    expect(error.message).toMatch(/The helper asked for uid 0 with CHOWN, FOWNER, DAC_OVERRIDE, FSETID\. Ownership 'preserve' .* restore with ownership 'workload'/);
    expect(record.createdPvc).toBe(true);
    for (let i = 0; i < 50 && (await admin.claim('locked', 'copy')); i++) await new Promise(r => setTimeout(r, 100));
    expect(await admin.claim('locked', 'copy')).toBeUndefined();
  });

  describe('in place, with the workload scaled down', () => {
    beforeAll(async () => {
      await admin.scaleDeploymentToZero('apps', 'app', 'app=app');
    });

    function changeTree() {
      writeFileSync(path.join(dataPv, 'added-after-backup.txt'), 'new\n');
      appendFileSync(path.join(dataPv, 'bin/run.sh'), 'echo changed\n');
      chmodSync(path.join(dataPv, 'old.txt'), 0o777);
      rmSync(path.join(dataPv, 'links'), { recursive: true });
      unlinkSync(path.join(dataPv, 'odd\nnewline name.txt'));
    }

    it('replace: takes the safety backup, then the PV equals the backup exactly', async () => {
      changeTree();
      const restore = harness.restoreOf(archive, {
        type: 'existingPvc',
        cluster: 'sim',
        namespace: 'apps',
        name: 'data',
        mode: 'replace',
        confirm: 'data',
      });
      const { hooks, record } = recordingHooks();
      await harness.executor.run(restore, harness.sink, hooks);
      expect(record.safetyBackups).toBe(1);
      expect(record.checks.map(c => c.name)).toEqual([
        'sha256',
        'sidecar',
        'tar-scan',
        'target',
        'not-mounted',
        'capacity',
        'safety-backup',
        'helper',
        'staging-space',
        'extract',
      ]);
      expect(record.checks.find(c => c.name === 'helper')?.message).toMatch(/uid 0 with CHOWN, FOWNER, DAC_OVERRIDE, FSETID/);
      expect(await compareTrees(original, dataPv)).toEqual([]);
    });

    it('merge: restores changed and deleted files, keeps files the backup did not have, never follows a planted symlink', async () => {
      changeTree();
      // The workload left a symlink where the archive has a directory.
      rmSync(path.join(dataPv, 'ünïcødé'), { recursive: true });
      mkdirSync(path.join(dataPv, 'decoy'));
      writeFileSync(path.join(dataPv, 'decoy/keep.txt'), 'decoy\n');
      symlinkSync('decoy', path.join(dataPv, 'ünïcødé'));
      const restore = harness.restoreOf(archive, {
        type: 'existingPvc',
        cluster: 'sim',
        namespace: 'apps',
        name: 'data',
        mode: 'merge',
        confirm: 'data',
      });
      const { hooks, record } = recordingHooks();
      await harness.executor.run(restore, harness.sink, hooks);
      expect(record.safetyBackups).toBe(0);
      expect(await compareTrees(original, dataPv)).toEqual([
        'extra: added-after-backup.txt (file)',
        'extra: decoy (dir)',
        'extra: decoy/keep.txt (file)',
      ]);
      rmSync(path.join(dataPv, 'added-after-backup.txt'));
      rmSync(path.join(dataPv, 'decoy'), { recursive: true });
    });

    it('refuses to stage when the volume lacks the room, unless direct extraction is allowed', async () => {
      const smallDir = sim.pvDir((await admin.claim('apps', 'tiny')).spec.volumeName);
      // A small filesystem under the tiny PVC, filled until staging its archive cannot fit.
      const before = await snapshot(smallDir);
      await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0755', 'tmpfs', smallDir]);
      try {
        await run('cp', ['-a', `${before}/.`, smallDir]);
        const tiny = await harness.backup('apps', 'tiny');
        const { stdout } = await run('df', ['-kP', smallDir]);
        const freeKiB = Number(stdout.trim().split('\n').at(-1)!.split(/\s+/)[3]);
        writeFileSync(path.join(smallDir, 'filler.bin'), Buffer.alloc((freeKiB - 8) * 1024, 1));
        const restore = harness.restoreOf(tiny, {
          type: 'existingPvc',
          cluster: 'sim',
          namespace: 'apps',
          name: 'tiny',
          mode: 'replace',
          confirm: 'tiny',
          safetyBackup: false,
        });
        const { hooks, record } = recordingHooks();
        const error = await refusal(harness.executor.run(restore, harness.sink, hooks));
        expect(error.message).toMatch(/free but staging the archive needs .* allow direct extraction/);
        expect(record.checks.find(c => c.name === 'staging-space')).toMatchObject({ ok: false });
        const direct = harness.restoreOf(tiny, {
          type: 'existingPvc',
          cluster: 'sim',
          namespace: 'apps',
          name: 'tiny',
          mode: 'replace',
          confirm: 'tiny',
          safetyBackup: false,
          allowDirectExtraction: true,
        });
        await harness.executor.run(direct, harness.sink, recordingHooks().hooks);
        expect(await compareTrees(before, smallDir)).toEqual([]);
      } finally {
        await run('umount', [smallDir]);
      }
    });

    it('ownership workload: files belong to the workload\'s uid and gid', async () => {
      // A volume whose root the workload owns (what fsGroup gives on a real cluster).
      const created = await admin.call('POST', '/api/v1/namespaces/apps/persistentvolumeclaims', {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'owned' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      });
      expect(created.status).toBe(201);
      let claim = await admin.claim('apps', 'owned');
      for (let i = 0; i < 50 && claim.status?.phase !== 'Bound'; i++) {
        await new Promise(r => setTimeout(r, 100));
        claim = await admin.claim('apps', 'owned');
      }
      const pv = sim.pvDir(claim.spec.volumeName);
      await run('chown', ['999:999', pv]);
      // The Deployment's template says whose files these are (its pods are scaled away).
      await admin.call('PATCH', '/apis/apps/v1/namespaces/apps/deployments/app', {
        spec: { template: { spec: { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'owned' } }] } } },
      }, 'application/strategic-merge-patch+json');
      const restore = harness.restoreOf(
        archive,
        { type: 'existingPvc', cluster: 'sim', namespace: 'apps', name: 'owned', mode: 'merge', confirm: 'owned' },
        { ownership: 'workload' },
      );
      const { hooks, record } = recordingHooks();
      await harness.executor.run(restore, harness.sink, hooks);
      expect(record.checks.find(c => c.name === 'helper')?.message).toMatch(/uid 999, no capabilities/);
      const diffs = await compareTrees(original, pv);
      // Content, modes, links and names as backed up; only owners differ, and all are 999.
      expect(diffs.filter(d => !d.startsWith('owner: '))).toEqual([]);
      expect(diffs.length).toBeGreaterThan(0);
      expect(diffs.every(d => / got 999:999$/.test(d) || !d.startsWith('owner: '))).toBe(true);
    });
  });
});
