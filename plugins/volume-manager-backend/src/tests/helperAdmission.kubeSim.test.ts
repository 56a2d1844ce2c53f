/*
 * Backups in namespaces that enforce Pod Security Standards, through the real backend against
 * kube-sim's PodSecurity admission: the default helper (the workload's identity, no added
 * capabilities) is admitted where a real cluster would admit it, and a refusal is reported as
 * admission with the namespace's level, never as an RBAC gap.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type Fixture, type KubeSim } from '@nkvm/kube-sim';
import request from 'supertest';
import { finishedRun, startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');

const enforce = (level: string) => ({ 'pod-security.kubernetes.io/enforce': level });
const files = (seed: number, uid: number) => ({
  seed,
  files: 3,
  totalBytes: 8192,
  entries: [{ path: 'owned.txt', content: 'only the owner reads this\n', mode: 0o600, uid, gid: uid }],
});

const fixture: Fixture = {
  nodes: [{ name: 'node-a' }],
  namespaces: [
    { name: 'base', labels: enforce('baseline') },
    { name: 'strict', labels: enforce('restricted') },
  ],
  persistentVolumeClaims: [
    // root-owned data, no pod mounts it: the default helper is root without capabilities
    { name: 'root-data', namespace: 'base', accessModes: ['ReadWriteOnce'], size: '1Gi', files: files(1, 0) },
    // a restricted namespace whose claim no pod mounts: no identity to mirror
    { name: 'orphan', namespace: 'strict', accessModes: ['ReadWriteOnce'], size: '1Gi', files: files(3, 1000) },
    // mounted by a non-root workload with the data's owner as its uid
    { name: 'app-data', namespace: 'strict', accessModes: ['ReadWriteOnce'], size: '1Gi', files: files(2, 1000) },
  ],
  workloads: [
    {
      kind: 'Deployment',
      name: 'app',
      namespace: 'strict',
      podSpec: {
        securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'app',
            image: 'alpine:3.20',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'app-data' } }],
      },
    },
  ],
};

describe('helper pods under Pod Security admission', () => {
  let sim: KubeSim;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture, http: true });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  async function backupOf(volumeManager: object, namespace: string, name: string) {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-admission-')),
          clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
          helper: { podTimeoutSeconds: 20 },
          ...volumeManager,
        },
      },
    });
    const created = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({ cluster: 'sim', volumes: [{ namespace, name }], destination: 'local' });
    expect(created.status).toBe(202);
    return (await finishedRun(server, created.body.id, user)).items[0];
  }

  it('baseline admits the default helper (root without capabilities) and it reads root-owned data', async () => {
    const item = await backupOf({}, 'base', 'root-data');
    expect({ status: item.status, error: item.error }).toEqual({ status: 'succeeded', error: null });
  });

  it("restricted admits the helper that mirrors the workload's non-root identity, and it reads the workload's files", async () => {
    const item = await backupOf({}, 'strict', 'app-data');
    expect({ status: item.status, error: item.error }).toEqual({ status: 'succeeded', error: null });
  });

  it('refuses the opted-in root helper with DAC_READ_SEARCH as admission, naming the level, not as an RBAC gap', async () => {
    const item = await backupOf({ helper: { podTimeoutSeconds: 20, readAllNamespaces: ['base'] } }, 'base', 'root-data');
    expect(item.status).toBe('failed');
    expect(item.error).toMatch(
      /^Pod Security admission on cluster 'sim' refused to create pods in namespace 'base', which enforces "baseline:latest": non-default capabilities \(container "backup" must not include "DAC_READ_SEARCH"/,
    );
    expect(item.error).toMatch(/volumeManager\.helper\.readAllNamespaces/);
    expect(item.error).not.toMatch(/RBAC/);
  });

  it('refuses a root helper in a restricted namespace with the way out, and nonroot mode is admitted there', async () => {
    const refused = await backupOf({}, 'strict', 'orphan');
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/which enforces "restricted:latest": .*runAsNonRoot != true/);
    expect(refused.error).toMatch(/helper\.defaultSecurityMode: nonroot/);
    // admitted as 65534, which cannot read the 0600 file of uid 1000: tar says so, with the identity
    const admitted = await backupOf({ helper: { podTimeoutSeconds: 20, defaultSecurityMode: 'nonroot' } }, 'strict', 'orphan');
    expect(admitted.status).toBe('failed');
    expect(admitted.error).toMatch(/owned\.txt: Cannot open: Permission denied/);
    expect(admitted.error).toMatch(/the helper read as uid 65534, no capabilities/);
  });
});
