/*
 * The backup API's contract: validation (4xx in Backstage's error body), permissions, history
 * with a cursor, and archive download with HTTP Range.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mockCredentials } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { startKubeSim, type KubeSim } from '@nkvm/kube-sim';
import type { BackupRun } from '@nkvm/backstage-plugin-volume-manager-common';
import request from 'supertest';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { finishedRun, startPluginBackend } from '../__testUtils__/kubeSimBackend';

jest.setTimeout(90_000);
const databases = createTestDatabases();
const user = mockCredentials.user.header('user:default/guest');
type Server = Parameters<typeof request>[0];

const finished = (server: Server, runId: string): Promise<BackupRun> => finishedRun(server, runId, user);

function expectError(res: request.Response, status: number, name: string, message: RegExp) {
  expect({ status: res.status, name: res.body.error?.name }).toEqual({ status, name });
  expect(res.body.error.message).toMatch(message);
  expect(res.body.response).toEqual({ statusCode: status });
}

describe('backup API', () => {
  let sim: KubeSim;
  let server: Server;

  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
    const knex = await databases.init('SQLITE_3');
    ({ server } = await startPluginBackend({
      knex,
      config: {
        volumeManager: {
          backupDir: mkdtempSync(path.join(os.tmpdir(), 'nkvm-api-')),
          maxVolumesPerRun: 3,
          allowedNamespaces: ['payments', 'search', 'platform'],
          destinations: [{ id: 'offsite', type: 'ftp', host: 'ftp.example.com', username: 'u', password: 'hunter2-secret', remoteDir: '/b' }],
          clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }],
        },
      },
    }));
  });
  afterAll(async () => {
    await sim?.stop();
  });

  const post = (body: object) =>
    request(server).post('/api/volume-manager/backups').set('Authorization', user).send(body);
  const good = { cluster: 'demo', volumes: [{ namespace: 'payments', name: 'payments-db-scratch' }], destination: 'local' };

  it.each([
    ['a namespace that is not DNS-1123', { ...good, volumes: [{ namespace: 'Payments_X', name: 'a' }] }, /namespace: must be a DNS-1123 label/],
    ['a PVC name that is not DNS-1123', { ...good, volumes: [{ namespace: 'payments', name: '../etc/passwd' }] }, /name: must be a DNS-1123 subdomain/],
    ['no volumes', { ...good, volumes: [] }, /name at least one PVC/],
    ['an unknown cluster', { ...good, cluster: 'nope' }, /Unknown cluster 'nope'/],
    ['an unknown destination', { ...good, destination: 'nope' }, /Unknown destination 'nope'/],
    ['a namespace outside the allowlist', { ...good, volumes: [{ namespace: 'kube-system', name: 'x' }] }, /outside volumeManager.allowedNamespaces/],
    ['a PVC that does not exist', { ...good, volumes: [{ namespace: 'payments', name: 'nope' }] }, /No PVC 'payments\/nope' on cluster 'demo'/],
    ['the same PVC twice', { ...good, volumes: [good.volumes[0], good.volumes[0]] }, /listed twice/],
    ['too many PVCs', { ...good, volumes: ['a', 'b', 'c', 'd'].map(name => ({ namespace: 'payments', name })) }, /at most 3 PVCs/],
    ['unknown fields', { ...good, extra: 1 }, /Unrecognized key/],
    ['a one-off destination when they are disabled', { ...good, destination: { type: 'ftp', host: 'h', username: 'u', remoteDir: '/x' } }, /One-off destinations are disabled/],
  ])('answers 400 for %s', async (_, body, message) => {
    expectError(await post(body), 400, 'InputError', message);
  });

  it('answers 400 for malformed JSON and 413 for an oversize body', async () => {
    const bad = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .set('Content-Type', 'application/json')
      .send('{"cluster": ');
    expect(bad.status).toBe(400);
    expect(bad.body.response).toEqual({ statusCode: 400 });
    const big = await post({ ...good, pad: 'x'.repeat(300_000) });
    expect(big.status).toBe(413);
    expect(big.body.response).toEqual({ statusCode: 413 });
  });

  it('never shows destination secrets', async () => {
    const res = await request(server).get('/api/volume-manager/destinations').set('Authorization', user);
    expect(res.status).toBe(200);
    expect(res.body.destinations.map((d: { id: string }) => d.id)).toEqual(['local', 'offsite']);
    expect(JSON.stringify(res.body)).not.toContain('hunter2-secret');
  });

  it('backs up, lists history with a cursor, and serves the archive with Range', async () => {
    const created = await post({
      ...good,
      volumes: [
        { namespace: 'payments', name: 'payments-db-scratch' },
        { namespace: 'platform', name: 'platform-reports-output' },
      ],
    });
    expect(created.status).toBe(202);
    expect(created.body.status).toBe('queued');
    const run = await finished(server, created.body.id);
    expect(run.items.map(i => i.status)).toEqual(['succeeded', 'succeeded']);
    expect(run.status).toBe('succeeded');

    const page1 = await request(server)
      .get('/api/volume-manager/backups?limit=1&entityRef=component:default/payments-db')
      .set('Authorization', user);
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((i: { pvc: string }) => i.pvc)).toEqual(['payments-db-scratch']);

    const all = await request(server).get('/api/volume-manager/backups?limit=1').set('Authorization', user);
    expect(all.body.items).toHaveLength(1);
    expect(all.body.nextCursor).toEqual(expect.any(String));
    const next = await request(server)
      .get(`/api/volume-manager/backups?limit=1&cursor=${encodeURIComponent(all.body.nextCursor)}`)
      .set('Authorization', user);
    expect(next.body.items).toHaveLength(1);
    expect(next.body.items[0].id).not.toBe(all.body.items[0].id);

    const item = run.items[0];
    const onDisk = readFileSync(fileURLToPath(item.archiveUri!));
    const url = `/api/volume-manager/backups/${run.id}/items/${item.id}/archive`;
    const whole = await request(server).get(url).set('Authorization', user).buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(whole.status).toBe(200);
    expect(whole.headers['content-disposition']).toContain(path.basename(fileURLToPath(item.archiveUri!)));
    expect(whole.headers['x-checksum-sha256']).toBe(item.sha256);
    expect(createHash('sha256').update(whole.body).digest('hex')).toBe(item.sha256);
    expect(Buffer.compare(whole.body, onDisk)).toBe(0);

    const part = await request(server).get(url).set('Authorization', user).set('Range', 'bytes=10-19').buffer(true).parse((res, cb) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 10-19/${onDisk.length}`);
    expect(Buffer.compare(part.body, onDisk.subarray(10, 20))).toBe(0);
  });

  it('answers 404 for unknown runs and items, 400 for ids that are not ids', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    expectError(await request(server).get(`/api/volume-manager/backups/${id}`).set('Authorization', user), 404, 'NotFoundError', /No backup run/);
    expectError(
      await request(server).get(`/api/volume-manager/backups/${id}/items/${id}/archive`).set('Authorization', user),
      404,
      'NotFoundError',
      /No item/,
    );
    expectError(await request(server).get('/api/volume-manager/backups/..%2f..%2fetc').set('Authorization', user), 400, 'InputError', /runId/);
  });
});

describe('backup API permissions', () => {
  let sim: KubeSim;
  beforeAll(async () => {
    sim = await startKubeSim({ fixture: 'demo', http: true });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('answers 403 when the policy denies backup.create', async () => {
    const knex = await databases.init('SQLITE_3');
    const { server } = await startPluginBackend({
      knex,
      permission: AuthorizeResult.DENY,
      config: { volumeManager: { clusters: [{ name: 'demo', kubeconfigPath: sim.kubeconfigPath }] } },
    });
    const res = await request(server)
      .post('/api/volume-manager/backups')
      .set('Authorization', user)
      .send({ cluster: 'demo', volumes: [{ namespace: 'payments', name: 'payments-db-scratch' }], destination: 'local' });
    expectError(res, 403, 'NotAllowedError', /You may not back up 'payments\/payments-db-scratch' \(component:default\/payments-db\)/);
  });
});
