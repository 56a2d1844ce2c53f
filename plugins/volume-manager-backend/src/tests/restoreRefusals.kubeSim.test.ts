/*
 * Issue #14, acceptance: refusals and faults through the real backend's HTTP API against
 * kube-sim. Each refusal is a clear 4xx or a failed restore naming the reason, with the target
 * unchanged on disk (an existing PVC byte for byte, a new PVC absent). Hostile archives are put
 * in place of a real succeeded backup's archive with a matching sidecar and recorded sha256, so
 * that only the tar pre-scan can refuse them. Faults (cancel mid-stream, the helper pod killed
 * mid-stream, tar exiting non-zero) leave no helper pod, no new PVC, an existing PVC unchanged.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreServices, createServiceFactory, type PermissionsService } from '@backstage/backend-plugin-api';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import { restoreCreatePermission, type BackupItem, type Restore } from '@nkvm/backstage-plugin-volume-manager-common';
import type { Knex } from 'knex';
import request from 'supertest';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { restoreApi, until } from '../__testUtils__/restoreAcceptance';
import { craftTarGz, restoreFixture, simAdmin, snapshot } from '../__testUtils__/restoreHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(240_000);
const databases = createTestDatabases();
const admin = mockCredentials.user.header('user:default/carol');
const mallory = mockCredentials.user.header('user:default/mallory');
const MiB = 1024 * 1024;

/** Everything allowed, except restore.create for mallory (who may still read the backups). */
const malloryMayNotRestore = createServiceFactory({
  service: coreServices.permissions,
  deps: {},
  factory: (): PermissionsService => {
    const decide = (requests: Array<{ permission: { name: string } }>, credentials: { principal: unknown }) =>
      requests.map(({ permission }) => ({
        result:
          permission.name === restoreCreatePermission.name &&
          (credentials.principal as { userEntityRef?: string }).userEntityRef === 'user:default/mallory'
            ? AuthorizeResult.DENY
            : AuthorizeResult.ALLOW,
      }));
    return {
      authorize: async (requests, { credentials }) => decide(requests, credentials) as never,
      authorizeConditional: async (requests, { credentials }) => decide(requests, credentials) as never,
    };
  },
});

describe('restore acceptance: refusals and faults through the API', () => {
  let sim: KubeSim;
  let knex: Knex;
  let server: Parameters<typeof request>[0];
  let api: ReturnType<typeof restoreApi>;
  let sim2: ReturnType<typeof simAdmin>;
  let dataItem: BackupItem;
  let bigItem: BackupItem;

  const pvDirOf = async (namespace: string, name: string) => sim.pvDir((await sim2.claim(namespace, name)).spec.volumeName);
  const newPvc = (name: string, extra: object = {}) => ({ type: 'newPvc', cluster: 'sim', namespace: 'other', name, ...extra });
  const existing = (name: string, mode = 'replace') => ({ type: 'existingPvc', cluster: 'sim', namespace: 'apps', name, mode, confirm: name, safetyBackup: false });

  /** A refusal: a 4xx at once, or a restore that fails with the reason. Returns the reason. */
  async function refused(body: object, user = admin): Promise<{ status: number; phase?: string; message: string }> {
    const res = await restoreApi(server, user).post(body);
    if (res.status >= 400 && res.status < 500) return { status: res.status, message: `${res.body.error?.name}: ${res.body.error?.message}` };
    expect(res.status).toBe(202);
    const done = await api.finished(res.body.id);
    return { status: res.status, phase: done.phase, message: done.error ?? '' };
  }

  async function noHelperPods() {
    await until('no helper pod', async () => (await sim2.helperPods()).length === 0, 15_000).catch(async () => {
      throw new Error(`helper pods left: ${(await sim2.helperPods()).join(', ')}`);
    });
  }
  const gone = (namespace: string, name: string) => until(`${namespace}/${name} to be deleted`, async () => !(await sim2.claim(namespace, name)), 15_000);

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: restoreFixture(96 * MiB), http: true });
    sim2 = simAdmin(sim);
    knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      permissions: malloryMayNotRestore,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-restore-refusals-')),
          helper: { podTimeoutSeconds: 20, readAllNamespaces: ['apps'] },
          clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
        },
      },
    }));
    api = restoreApi(server, admin);
    [dataItem] = await api.backup('sim', [{ namespace: 'apps', name: 'data' }]);
    [bigItem] = await api.backup('sim', [{ namespace: 'apps', name: 'big' }]);
  });

  afterAll(async () => {
    await sim?.stop();
  });

  afterEach(noHelperPods);

  describe('refusals', () => {
    it('an existing PVC a running pod mounts: the reason names the pod and its Deployment, the PV unchanged', async () => {
      const [pod] = await sim2.podsOf('apps', 'app=app');
      expect(pod).toBeDefined();
      const dir = await pvDirOf('apps', 'data');
      const before = await snapshot(dir);
      const result = await refused({ itemId: dataItem.id, target: existing('data') });
      expect(result.message).toContain(pod);
      expect(result.message).toMatch(/Deployment[ /']+app\b/);
      expect(result.status === 409 || result.phase === 'failed').toBe(true);
      expect(await compareTrees(before, dir)).toEqual([]);
    });

    it('an unknown item id: 404', async () => {
      const res = await api.post({ itemId: '00000000-0000-4000-8000-000000000000', target: newPvc('never') });
      expect({ status: res.status, name: res.body.error?.name }).toEqual({ status: 404, name: 'NotFoundError' });
      expect(await sim2.claim('other', 'never')).toBeUndefined();
    });

    it('a user who may not restore into the target: 403, and nothing created', async () => {
      const res = await restoreApi(server, mallory).post({ itemId: dataItem.id, target: newPvc('mallorys-copy') });
      expect({ status: res.status, name: res.body.error?.name }).toEqual({ status: 403, name: 'NotAllowedError' });
      expect(await sim2.claim('other', 'mallorys-copy')).toBeUndefined();
      // The same request by an allowed user goes through: the 403 was the permission, not the body.
      const ok = await api.post({ itemId: dataItem.id, target: newPvc('allowed-copy') });
      expect(ok.status).toBe(202);
      expect((await api.finished(ok.body.id)).phase).toBe('succeeded');
    });

    it('a target too small for the archive: a requested size, and an existing PVC', async () => {
      const small = await refused({ itemId: dataItem.id, target: newPvc('too-small', { size: '64Ki' }) });
      expect(small.message).toMatch(/small|size|capacity/i);
      expect(small.status === 400 || small.phase === 'failed').toBe(true);
      await gone('other', 'too-small');

      const dir = await pvDirOf('apps', 'tiny');
      const before = await snapshot(dir);
      const tiny = await refused({ itemId: dataItem.id, target: existing('tiny') });
      expect(tiny.message).toMatch(/small|size|capacity/i);
      expect(tiny.status === 400 || tiny.status === 409 || tiny.phase === 'failed').toBe(true);
      expect(await compareTrees(before, dir)).toEqual([]);
    });

    describe('tampered and hostile archives (workload scaled down, so only the archive can refuse)', () => {
      let archiveFile: string;
      let original: Buffer;
      let dir: string;
      let before: string;

      beforeAll(async () => {
        await sim2.scaleDeploymentToZero('apps', 'app', 'app=app');
        archiveFile = fileURLToPath(dataItem.archiveUri!);
        original = readFileSync(archiveFile);
        dir = await pvDirOf('apps', 'data');
        before = await snapshot(dir);
      });
      afterEach(async () => {
        writeFileSync(archiveFile, original);
        writeFileSync(`${archiveFile}.sha256`, `${dataItem.sha256}  ${path.basename(archiveFile)}\n`);
        await knex('backup_item').where({ id: dataItem.id }).update({ sha256: dataItem.sha256, bytes: dataItem.bytes });
        // The existing PVC is exactly as it was (a throw in afterEach fails the test it follows).
        const changed = await compareTrees(before, dir);
        if (changed.length > 0) throw new Error(`The existing PVC changed: ${JSON.stringify(changed)}`);
      });

      /** Puts `bytes` in place of the item's archive, with a matching sidecar and record. */
      async function substitute(bytes: Buffer) {
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        writeFileSync(archiveFile, bytes);
        writeFileSync(`${archiveFile}.sha256`, `${sha256}  ${path.basename(archiveFile)}\n`);
        await knex('backup_item').where({ id: dataItem.id }).update({ sha256, bytes: bytes.length });
      }

      it('one byte flipped on disk: failed naming the checksum, into an existing PVC and a new one', async () => {
        const tampered = Buffer.from(original);
        tampered[Math.floor(tampered.length / 2)] ^= 0x01;
        writeFileSync(archiveFile, tampered);
        for (const target of [existing('data'), newPvc('from-tampered')]) {
          const result = await refused({ itemId: dataItem.id, target });
          expect({ phase: result.phase, message: result.message }).toEqual({ phase: 'failed', message: expect.stringMatching(/sha256|checksum/i) });
        }
        await gone('other', 'from-tampered');
      });

      it.each([
        ['a `../x` entry', [{ name: 'ok.txt', content: 'fine' }, { name: '../x', content: 'escaped' }], /\.\.|outside|parent/i],
        ['an absolute name', [{ name: '/tmp/nkvm-absolute-x', content: 'absolute' }], /absolute/i],
        [
          'a symlink to /etc followed by a file under it',
          [
            { name: 'etc', type: '2', linkname: '/etc' },
            { name: 'etc/nkvm-pwned', content: 'pwned' },
          ],
          /symlink|link|outside|absolute/i,
        ],
      ])('%s: failed naming the entry, existing and new PVC untouched', async (_, entries, reason) => {
        await substitute(craftTarGz(entries));
        for (const target of [existing('data'), newPvc('from-hostile')]) {
          const result = await refused({ itemId: dataItem.id, target });
          expect({ phase: result.phase, message: result.message }).toEqual({ phase: 'failed', message: expect.stringMatching(reason) });
          expect(result.message).not.toMatch(/checksum|sha256 mismatch/i);
        }
        await gone('other', 'from-hostile');
        expect(existsSync('/etc/nkvm-pwned')).toBe(false);
        expect(existsSync('/tmp/nkvm-absolute-x')).toBe(false);
        expect(existsSync(path.join(path.dirname(dir), 'x'))).toBe(false);
      });
    });
  });

  describe('faults', () => {
    /** Waits until the restore writes through its helper pod. */
    const writing = (id: string) =>
      until(
        `restore ${id} to stream into its helper`,
        async () => {
          const r: Restore = (await api.get(id)).body;
          if (['succeeded', 'failed', 'canceled', 'interrupted'].includes(r.phase)) throw new Error(`ended too soon: ${JSON.stringify(r)}`);
          return r.phase === 'restoring' && r.helperPod && r.bytesDone > 0 ? r : undefined;
        },
        60_000,
      );

    it('cancel mid-stream into a new PVC: canceled, the PVC deleted', async () => {
      const res = await api.post({ itemId: bigItem.id, target: newPvc('big-canceled') });
      expect(res.status).toBe(202);
      const mid = await writing(res.body.id);
      expect(mid.bytesDone).toBeLessThan(mid.bytesTotal!);
      expect((await api.cancel(res.body.id)).status).toBe(200);
      expect((await api.finished(res.body.id)).phase).toBe('canceled');
      await gone('other', 'big-canceled');
    });

    it('cancel mid-stream into an existing PVC (replace): canceled, the PV exactly as it was', async () => {
      const dir = await pvDirOf('apps', 'big');
      const before = await snapshot(dir);
      const res = await api.post({ itemId: bigItem.id, target: existing('big') });
      expect(res.status).toBe(202);
      await writing(res.body.id);
      expect((await api.cancel(res.body.id)).status).toBe(200);
      expect((await api.finished(res.body.id)).phase).toBe('canceled');
      await noHelperPods();
      expect(await compareTrees(before, dir)).toEqual([]);
    });

    it('the helper pod killed mid-stream (exec connection lost): failed, the existing PV unchanged', async () => {
      const dir = await pvDirOf('apps', 'big');
      const before = await snapshot(dir);
      const res = await api.post({ itemId: bigItem.id, target: existing('big', 'merge') });
      expect(res.status).toBe(202);
      const mid = await writing(res.body.id);
      const del = await sim2.call('DELETE', `/api/v1/namespaces/apps/pods/${mid.helperPod}?gracePeriodSeconds=0`);
      expect(del.status).toBe(200);
      const done = await api.finished(res.body.id);
      expect({ phase: done.phase, error: done.error }).toEqual({ phase: 'failed', error: expect.stringMatching(/./) });
      await noHelperPods();
      expect(await compareTrees(before, dir)).toEqual([]);
    });

    it("tar exiting non-zero into a new PVC: failed with tar's reason, the PVC deleted", async () => {
      // ownership workload: the Deployment's uid 999 may not write into the new volume's
      // root-owned directory, so tar exits 2.
      const result = await refused({ itemId: dataItem.id, target: newPvc('not-writable'), ownership: 'workload' });
      expect({ phase: result.phase, message: result.message }).toEqual({ phase: 'failed', message: expect.stringMatching(/exit(ed)? (with )?(code|status) 2/i) });
      await gone('other', 'not-writable');
    });
  });
});
