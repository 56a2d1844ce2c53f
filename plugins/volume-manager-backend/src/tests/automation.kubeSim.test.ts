/*
 * Automation and fair sharing over HTTP: a Backstage service token allowed by
 * volumeManager.automation may list volumes, start a backup and follow it; any other service
 * principal is refused; a requester past its queue limit gets a 409 in Backstage's error body.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockCredentials } from '@backstage/backend-test-utils';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import request from 'supertest';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { finishedRun, startPluginBackend } from '../__testUtils__/kubeSimBackend';

jest.setTimeout(90_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
const serviceToken = (subject: string) =>
  mockCredentials.service.header({
    onBehalfOf: mockCredentials.service(subject),
    targetPluginId: 'volume-manager',
  });
const ci = serviceToken('external:ci-backups');
const other = serviceToken('plugin:catalog');
type Server = Parameters<typeof request>[0];

describe('automation routes and queue limits', () => {
  let sim: KubeSim;
  let server: Server;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-automation-')),
          queue: { maxActivePerUser: 2 },
          automation: { allowedServiceSubjects: ['external:ci-backups'] },
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }],
        },
      },
    }));
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('lets an allowed service token list volumes, POST /backups and follow its run', async () => {
    const volumes = await request(server).get('/api/volume-manager/volumes?cluster=demo').set('Authorization', ci);
    expect(volumes.status).toBe(200);
    expect(volumes.body.items.map((v: { name: string }) => v.name)).toContain('payments-db-scratch');

    const created = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', ci)
      .send({ cluster: 'demo', volumes: [{ namespace: 'payments', name: 'payments-db-scratch' }], destination: 'local' });
    expect(created.status).toBe(202);
    expect(created.body.requestedBy).toBe('service:external:ci-backups');
    const run = await finishedRun(server, created.body.id, ci);
    expect(run.items[0]).toMatchObject({ status: 'succeeded', requestedBy: 'service:external:ci-backups' });
  });

  it('refuses service principals that are not listed, and keeps the other routes to users', async () => {
    const refused = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', other)
      .send({ cluster: 'demo', volumes: [{ namespace: 'payments', name: 'payments-db-scratch' }], destination: 'local' });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      name: 'NotAllowedError',
      message: expect.stringMatching(/Service principal 'plugin:catalog' .* volumeManager\.automation\.allowedServiceSubjects/),
    });
    const history = await request(server).get('/api/volume-manager/backups').set('Authorization', ci);
    expect(history.status).toBe(403);
  });

  it('answers 409 when a requester would go past its queue limit', async () => {
    const res = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({
        cluster: 'demo',
        volumes: ['payments-db-scratch', 'payments-api-uploads', 'data-payments-db-0'].map(name => ({ namespace: 'payments', name })),
        destination: 'local',
      });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(/user:default\/guest has 0 queued or running and asked for 3 more; the limit is 2 per requester/),
    });
    expect(res.body.response).toEqual({ statusCode: 409 });
  });
});
