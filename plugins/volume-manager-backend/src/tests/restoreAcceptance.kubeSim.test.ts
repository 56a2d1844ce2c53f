/*
 * Issue #14, acceptance: round trips through the real backend's HTTP API against kube-sim's demo
 * cluster. Every Bound, non-RWOP demo PVC is backed up, changed on disk, then restored `replace`
 * into itself (its workload scaled down) and into a new PVC in another namespace; both PV
 * directories must equal the tree as it was backed up, compared on disk (bytes, modes, numeric
 * owners, symlink targets, hard links, empty directories, odd names), not by the API's word.
 * The same from an FTP and an SCP destination (real vsftpd and sshd).
 */
import { lstatSync, mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import { compareTrees } from '@nkvm/kube-sim/src/files';
import type { Restore, Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import { startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { startRemoteServers, type RemoteServers } from '../__testUtils__/remoteServers';
import { mutateTree, plantFeatureTree, restoreApi, scaleDown, until } from '../__testUtils__/restoreAcceptance';
import { simAdmin, snapshot } from '../__testUtils__/restoreHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(240_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
const COPIES = 'restored-copies';

describe('restore acceptance: round trips through the API, checked on disk', () => {
  let sim: KubeSim;
  let servers: RemoteServers;
  let api: ReturnType<typeof restoreApi>;
  let admin: ReturnType<typeof simAdmin>;

  const pvDirOf = async (namespace: string, name: string) => {
    const claim = await admin.claim(namespace, name);
    if (!claim?.spec?.volumeName) throw new Error(`${namespace}/${name} is not bound: ${JSON.stringify(claim?.status)}`);
    return sim.pvDir(claim.spec.volumeName);
  };
  const replaceTarget = (v: { namespace: string; name: string }) => ({
    type: 'existingPvc',
    cluster: 'demo',
    namespace: v.namespace,
    name: v.name,
    mode: 'replace',
    confirm: v.name,
    safetyBackup: false,
  });
  const copyTarget = (name: string) => ({ type: 'newPvc', cluster: 'demo', namespace: COPIES, name });

  async function restoreAll(bodies: object[]): Promise<Restore[]> {
    const ids: string[] = [];
    for (const body of bodies) {
      const res = await api.post(body);
      expect({ status: res.status, body: res.status === 202 ? 'ok' : res.body }).toEqual({ status: 202, body: 'ok' });
      expect(res.body.phase).toBe('queued');
      ids.push(res.body.id);
    }
    const done: Restore[] = [];
    for (const id of ids) done.push(await api.finished(id));
    return done;
  }

  const expectSucceeded = (restores: Restore[]) =>
    expect(restores.map(r => ({ pvc: r.targetPvc?.name, phase: r.phase, error: r.error }))).toEqual(
      restores.map(r => ({ pvc: r.targetPvc?.name, phase: 'succeeded', error: null })),
    );

  beforeAll(async () => {
    servers = await startRemoteServers();
    sim = await startKubeSim({ fixture: 'demo', http: true });
    admin = simAdmin(sim);
    const ns = await admin.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: COPIES } });
    if (ns.status !== 201) throw new Error(`Could not create namespace ${COPIES}: ${ns.status}`);
    const knex = await databases.init('SQLITE_3');
    const base = { host: '127.0.0.1', username: servers.user };
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-restore-acceptance-')),
          // platform-scratch's odd tree holds 0600 files of other uids (as backupRoundTrip).
          helper: { podTimeoutSeconds: 20, readAllNamespaces: ['platform', 'payments'] },
          restore: { concurrency: 3 },
          remoteTransfer: { attempts: 2, initialDelayMs: 200, timeoutSeconds: 20 },
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath, context: 'kube-sim-admin' }],
          destinations: [
            { id: 't-ftp', type: 'ftp', ...base, port: servers.ftpPort, password: servers.password, remoteDir: 'backups/ftp' },
            {
              id: 't-scp', type: 'scp', ...base, port: servers.sshPort, privateKey: servers.clientPrivateKey,
              hostKeySha256: servers.hostKeySha256, remoteDir: 'backups/scp',
            },
          ],
        },
      },
    });
    api = restoreApi(server, user);
  });

  afterAll(async () => {
    await sim?.stop();
    await servers?.stop();
  });

  afterEach(async () => {
    // No helper pod outlives its restore.
    await until('no helper pod', async () => (await admin.helperPods()).length === 0, 10_000).catch(async () => {
      throw new Error(`helper pods left: ${(await admin.helperPods()).join(', ')}`);
    });
  });

  it('every Bound, non-RWOP demo PVC: replace in place and a new PVC in another namespace both equal the backup on disk', async () => {
    const candidates = (await api.volumes('demo')).filter(v => v.phase === 'Bound' && !v.accessModes.includes('ReadWriteOncePod'));
    expect(candidates.length).toBeGreaterThanOrEqual(8);
    // One PVC gets every feature a restore must give back, written into its PV directory.
    const planted = candidates.find(v => v.name === 'payments-db-scratch')!;
    expect(planted).toBeDefined();
    plantFeatureTree(await pvDirOf(planted.namespace, planted.name));

    const original = new Map<string, string>();
    for (const v of candidates) original.set(`${v.namespace}/${v.name}`, await snapshot(await pvDirOf(v.namespace, v.name)));
    const items = await api.backup('demo', candidates.map(v => ({ namespace: v.namespace, name: v.name })));
    expect(items).toHaveLength(candidates.length);
    const itemOf = (v: Volume) => items.find(i => i.namespace === v.namespace && i.pvc === v.name)!;

    // The workloads go away (an in-place restore is refused while a pod mounts the PVC), then
    // the data changes on disk behind the backup's back.
    for (const v of candidates) await scaleDown(admin, v);
    for (const v of candidates) {
      const dir = await pvDirOf(v.namespace, v.name);
      mutateTree(dir);
      expect(await compareTrees(original.get(`${v.namespace}/${v.name}`)!, dir)).not.toEqual([]);
    }

    const inPlace = await restoreAll(candidates.map(v => ({ itemId: itemOf(v).id, target: replaceTarget(v) })));
    expectSucceeded(inPlace);
    const copies = await restoreAll(candidates.map(v => ({ itemId: itemOf(v).id, target: copyTarget(`${v.name}-copy`) })));
    expectSucceeded(copies);

    for (const v of candidates) {
      const expected = original.get(`${v.namespace}/${v.name}`)!;
      expect({ pvc: `${v.namespace}/${v.name}`, diffs: await compareTrees(expected, await pvDirOf(v.namespace, v.name)) }).toEqual({
        pvc: `${v.namespace}/${v.name}`,
        diffs: [],
      });
      expect({ pvc: `${COPIES}/${v.name}-copy`, diffs: await compareTrees(expected, await pvDirOf(COPIES, `${v.name}-copy`)) }).toEqual({
        pvc: `${COPIES}/${v.name}-copy`,
        diffs: [],
      });
      // The copy defaults to the source's class and access modes.
      const copy = await admin.claim(COPIES, `${v.name}-copy`);
      expect({ sc: copy.spec.storageClassName, modes: copy.spec.accessModes }).toEqual({ sc: v.storageClass, modes: v.accessModes });
    }
    // The planted tree really has what the comparison is meant to catch.
    const planted2 = path.join(await pvDirOf(COPIES, 'payments-db-scratch-copy'), 'acceptance');
    expect(lstatSync(path.join(planted2, 'hardlink-to-key')).ino).toBe(lstatSync(path.join(planted2, 'private/key.pem')).ino);
    expect(lstatSync(path.join(planted2, 'private/key.pem'))).toMatchObject({ uid: 70001, gid: 70002, nlink: 3 });
    expect(readlinkSync(path.join(planted2, 'dotdot-inside-link'))).toBe('../acceptance/private/../script.sh');
    expect(readdirSync(path.join(planted2, 'empty', 'nested-empty'))).toEqual([]);
    expect(lstatSync(path.join(planted2, 'empty', 'nested-empty')).mode & 0o7777).toBe(0o1777);
  });

  it.each([['FTP', 't-ftp'], ['SCP', 't-scp']])('the same round trip from an %s destination', async (_, destination) => {
    const volume = (await api.volumes('demo')).find(v => v.namespace === 'payments' && v.name === 'payments-db-scratch')!;
    const dir = await pvDirOf(volume.namespace, volume.name);
    const before = await snapshot(dir);
    const [item] = await api.backup('demo', [{ namespace: volume.namespace, name: volume.name }], destination);
    expect(item.archiveUri).toMatch(destination === 't-ftp' ? /^ftp:/ : /^(scp|sftp|ssh):/);
    mutateTree(dir);
    expect(await compareTrees(before, dir)).not.toEqual([]);

    const copyName = `scratch-from-${destination.slice(2)}`;
    const done = await restoreAll([
      { itemId: item.id, target: replaceTarget(volume) },
      { itemId: item.id, target: copyTarget(copyName) },
    ]);
    expectSucceeded(done);
    expect(done.every(r => r.source.destination === destination)).toBe(true);
    expect(await compareTrees(before, dir)).toEqual([]);
    expect(await compareTrees(before, await pvDirOf(COPIES, copyName))).toEqual([]);
  });
});
