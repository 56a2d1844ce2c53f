/*
 * An unmounted PVC whose node-local volume (local-path) lives on a tainted node: no pod is
 * there to copy tolerations from, so the helper takes them from the volume's node, or it would
 * stay Pending until the pod timeout.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import request from 'supertest';
import { finishedRun, startPluginBackend } from '../__testUtils__/kubeSimBackend';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(120_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');

describe('a helper for an unmounted PVC on a tainted node', () => {
  let sim: KubeSim;

  beforeAll(async () => {
    sim = await startKubeSim({
      http: true,
      fixture: {
        nodes: [{ name: 'node-a' }, { name: 'node-storage', taints: [{ key: 'dedicated', value: 'storage', effect: 'NoSchedule' }] }],
        namespaces: [{ name: 'data' }],
        storageClasses: [{ name: 'local', provisioner: 'rancher.io/local-path', default: true }],
        persistentVolumeClaims: [
          { name: 'archive', namespace: 'data', storageClass: 'local', accessModes: ['ReadWriteOnce'], size: '1Gi', files: { seed: 5, files: 3, totalBytes: 4096 } },
        ],
        workloads: [
          {
            kind: 'Pod',
            name: 'writer',
            namespace: 'data',
            podSpec: {
              nodeSelector: { 'kubernetes.io/hostname': 'node-storage' },
              tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'storage', effect: 'NoSchedule' }],
              containers: [{ name: 'w', image: 'alpine:3.20', volumeMounts: [{ name: 'd', mountPath: '/d' }] }],
              volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'archive' } }],
            },
          },
        ],
      },
    });
    // The writer is gone; its volume stays on node-storage.
    const res = await fetch(`${sim.url}/api/v1/namespaces/data/pods/writer?gracePeriodSeconds=0`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${sim.adminToken}` },
    });
    if (res.status !== 200) throw new Error(`deleting the writer pod: ${res.status}`);
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it("tolerates the volume node's taints and backs the PVC up", async () => {
    const pvc = sim.getObject('v1', 'PersistentVolumeClaim', 'data', 'archive');
    const pv = sim.getObject('v1', 'PersistentVolume', undefined, pvc!.spec.volumeName);
    expect(JSON.stringify(pv!.spec.nodeAffinity)).toContain('node-storage');

    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-tolerations-')),
          clusters: [{ name: 'sim', kubeconfigPath: sim.kubeconfigPath }],
          helper: { podTimeoutSeconds: 10 },
        },
      },
    });
    const created = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({ cluster: 'sim', volumes: [{ namespace: 'data', name: 'archive' }], destination: 'local' });
    expect(created.status).toBe(202);
    const run = await finishedRun(server, created.body.id, user);
    expect({ status: run.items[0].status, error: run.items[0].error, node: run.items[0].node }).toEqual({
      status: 'succeeded',
      error: null,
      node: 'node-storage',
    });
  });
});
