import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import { volumeManagerPlugin } from './plugin';

const entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'payments-api',
    namespace: 'default',
    annotations: { 'backstage.io/kubernetes-id': 'payments-api' },
  },
  spec: { owner: 'team-payments' },
};

async function start(
  options: { result?: AuthorizeResult.ALLOW | AuthorizeResult.DENY; config?: object } = {},
) {
  const { server } = await startTestBackend({
    features: [
      volumeManagerPlugin,
      mockServices.rootConfig.factory({ data: options.config ?? {} }),
      mockServices.permissions.factory({ result: options.result ?? AuthorizeResult.ALLOW }),
      catalogServiceMock.factory({ entities: [entity] }),
    ],
  });
  return server;
}

function expectErrorBody(body: any, name: string, status: number, message?: RegExp) {
  expect(body.error.name).toBe(name);
  if (message) expect(body.error.message).toMatch(message);
  expect(body.response).toEqual({ statusCode: status });
  expect(body.request).toEqual(expect.objectContaining({ method: expect.any(String) }));
}

const user = mockCredentials.user.header('user:default/alice');

describe('router', () => {
  it('lists configured clusters and the auth modes, default first', async () => {
    const server = await start({ config: { volumeManager: { defaultAuthMode: 'paste' } } });
    const res = await request(server).get('/api/volume-manager/clusters').set('Authorization', user);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ clusters: [], authModes: ['paste', 'in-cluster', 'kubeconfig'] });
  });

  it('answers 403 in the standard error body when the policy denies volume.read', async () => {
    const server = await start({ result: AuthorizeResult.DENY });
    const res = await request(server)
      .get('/api/volume-manager/volumes?entityRef=component:default/payments-api')
      .set('Authorization', user);
    expect(res.status).toBe(403);
    expectErrorBody(res.body, 'NotAllowedError', 403, /payments-api/);
  });

  it('answers 404 for an entity the catalog does not know', async () => {
    const server = await start();
    const res = await request(server)
      .get('/api/volume-manager/volumes?entityRef=component:default/nope')
      .set('Authorization', user);
    expect(res.status).toBe(404);
    expectErrorBody(res.body, 'NotFoundError', 404, /component:default\/nope/);
  });

  it.each([
    ['?cluster=nope', /Unknown cluster 'nope'/],
    ['?namespace=Not_DNS', /Namespace 'Not_DNS' is not a valid DNS-1123 label/],
    ['?bogus=1', /Unrecognized key/],
    ['?entityRef=::', /Invalid entityRef/],
  ])('answers 400 for %s', async (query, message) => {
    const server = await start();
    const res = await request(server).get(`/api/volume-manager/volumes${query}`).set('Authorization', user);
    expect(res.status).toBe(400);
    expectErrorBody(res.body, 'InputError', 400, message);
  });

  it('answers 400 for a namespace outside the allowlist', async () => {
    const server = await start({ config: { volumeManager: { allowedNamespaces: ['payments'] } } });
    const res = await request(server)
      .get('/api/volume-manager/volumes?namespace=kube-system')
      .set('Authorization', user);
    expect(res.status).toBe(400);
    expectErrorBody(res.body, 'InputError', 400, /outside volumeManager.allowedNamespaces/);
  });

  describe('POST /clusters/session', () => {
    const kubeconfig = (userBlock: string) => `
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
users: [{ name: u, user: ${userBlock} }]
`;

    it('needs the cluster.session.create permission', async () => {
      const server = await start({ result: AuthorizeResult.DENY });
      const res = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: 'debug', kubeconfig: kubeconfig('{ token: t }') });
      expect(res.status).toBe(403);
      expectErrorBody(res.body, 'NotAllowedError', 403, /administrators/);
    });

    it.each([
      ['an exec plugin', '{ exec: { command: id } }', /would run code/],
      ['an auth provider', '{ auth-provider: { name: oidc } }', /would run code/],
      ['a token file', '{ tokenFile: /etc/passwd }', /read files/],
      ['a key file', '{ client-key: /root/key.pem }', /names a file/],
    ])('refuses a kubeconfig with %s', async (_, block, message) => {
      const server = await start();
      const res = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: 'debug', kubeconfig: kubeconfig(block) });
      expect(res.status).toBe(400);
      expectErrorBody(res.body, 'InputError', 400, message);
    });

    it('refuses oversize bodies and bad names', async () => {
      const server = await start();
      const big = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: 'debug', kubeconfig: `${kubeconfig('{ token: t }')}#${'x'.repeat(70_000)}` });
      expect(big.status).toBe(400);
      expectErrorBody(big.body, 'InputError', 400, /limit is 65536 bytes/);
      const huge = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: 'debug', kubeconfig: 'x'.repeat(300_000) });
      expect(huge.status).toBe(413);
      const bad = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: '../etc', kubeconfig: kubeconfig('{ token: t }') });
      expect(bad.status).toBe(400);
      expectErrorBody(bad.body, 'InputError', 400, /DNS-1123/);
    });

    it('holds an accepted session for the user who pasted it only', async () => {
      const server = await start();
      const created = await request(server)
        .post('/api/volume-manager/clusters/session')
        .set('Authorization', user)
        .send({ name: 'debug', kubeconfig: kubeconfig('{ token: secret-token }') });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ name: 'debug', source: 'session', expiresAt: expect.any(String) });
      expect(JSON.stringify(created.body)).not.toContain('secret-token');

      const mine = await request(server).get('/api/volume-manager/clusters').set('Authorization', user);
      expect(mine.body.clusters.map((c: { name: string }) => c.name)).toEqual(['debug']);
      const theirs = await request(server)
        .get('/api/volume-manager/clusters')
        .set('Authorization', mockCredentials.user.header('user:default/bob'));
      expect(theirs.body.clusters).toEqual([]);

      // The session's cluster is down: the inventory says so as data, not as a failed request.
      const volumes = await request(server)
        .get('/api/volume-manager/volumes?cluster=debug')
        .set('Authorization', user);
      expect(volumes.status).toBe(200);
      expect(volumes.body.items).toEqual([]);
      expect(volumes.body.errors).toEqual([
        expect.objectContaining({ cluster: 'debug', errorType: 'CLUSTER_UNREACHABLE' }),
      ]);
    });
  });
});
