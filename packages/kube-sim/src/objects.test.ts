/**
 * Namespaces, Secrets, ConfigMaps and ServiceAccounts through the real kubectl 1.27 (JSON
 * bodies) and 1.33 (protobuf bodies), the token controller, RBAC, garbage collection, and
 * @kubernetes/client-node's CoreV1Api for Secrets.
 */
import { ApiException, CoreV1Api, KubeConfig, Watch, type V1Secret } from '@kubernetes/client-node';
import { waitFor } from './__testutils__/http';
import { kubectl, KUBECTL_VERSIONS, parseTable, writeTemp } from './__testutils__/kubectl';
import { startKubeSim, type KubeSim } from './sim';

jest.setTimeout(60_000);

let sim: KubeSim;
let kc: KubeConfig;

beforeAll(async () => {
  sim = await startKubeSim({ fixture: 'demo' });
  kc = new KubeConfig();
  kc.loadFromString(sim.kubeconfig);
});

afterAll(async () => {
  await sim?.stop();
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe.each(KUBECTL_VERSIONS)('kubectl %s', version => {
  const ns = `objects-${version.replace('.', '-')}`;
  const k = (args: string[], opts: { context?: string; input?: string; kubeconfigPath?: string } = {}) => kubectl(args, { kubeconfigPath: sim.kubeconfigPath, version, ...opts });
  const ok = async (args: string[], opts: { input?: string; kubeconfigPath?: string } = {}) => {
    const r = await k(args, opts);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };

  it('discovers secrets, configmaps and serviceaccounts', async () => {
    const t = parseTable(await ok(['api-resources', '--api-group=']));
    expect(t.header).toEqual(['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND']);
    const row = (name: string) => t.rows.find(r => r.NAME === name);
    expect(row('secrets')).toEqual({ NAME: 'secrets', SHORTNAMES: '', APIVERSION: 'v1', NAMESPACED: 'true', KIND: 'Secret' });
    expect(row('configmaps')).toEqual({ NAME: 'configmaps', SHORTNAMES: 'cm', APIVERSION: 'v1', NAMESPACED: 'true', KIND: 'ConfigMap' });
    expect(row('serviceaccounts')).toEqual({ NAME: 'serviceaccounts', SHORTNAMES: 'sa', APIVERSION: 'v1', NAMESPACED: 'true', KIND: 'ServiceAccount' });
  });

  it('creates a namespace (protobuf body on 1.33) and reports AlreadyExists', async () => {
    expect(await ok(['create', 'namespace', ns])).toBe(`namespace/${ns} created\n`);
    const again = await k(['create', 'namespace', ns]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`Error from server (AlreadyExists): namespaces "${ns}" already exists\n`);
    const got = JSON.parse(await ok(['get', 'namespace', ns, '-o', 'json']));
    expect(got.status.phase).toBe('Active');
    expect(got.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': ns });
  });

  it('creates a generic secret from literals, shows it as a table and as base64 JSON', async () => {
    expect(await ok(['create', 'secret', 'generic', 'creds', '-n', ns, '--from-literal=user=admin', '--from-literal=password=s3cr3t!'])).toBe('secret/creds created\n');
    const t = parseTable(await ok(['get', 'secrets', '-n', ns]));
    expect(t.header).toEqual(['NAME', 'TYPE', 'DATA', 'AGE']);
    expect(t.rows).toEqual([{ NAME: 'creds', TYPE: 'Opaque', DATA: '2', AGE: expect.stringMatching(/^\d+s$/) }]);
    const s = JSON.parse(await ok(['get', 'secret', 'creds', '-n', ns, '-o', 'json']));
    expect(s).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', data: { user: b64('admin'), password: b64('s3cr3t!') } });
    expect(s.stringData).toBeUndefined();
    const dup = await k(['create', 'secret', 'generic', 'creds', '-n', ns, '--from-literal=a=b']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/secrets "creds" already exists/);
  });

  it('creates a configmap and a serviceaccount', async () => {
    expect(await ok(['create', 'configmap', 'settings', '-n', ns, '--from-literal=mode=fast', '--from-literal=level=3'])).toBe('configmap/settings created\n');
    expect(await ok(['create', 'serviceaccount', 'robot', '-n', ns])).toBe('serviceaccount/robot created\n');
    const cm = parseTable(await ok(['get', 'configmaps', '-n', ns]));
    expect(cm.header).toEqual(['NAME', 'DATA', 'AGE']);
    expect(cm.rows).toEqual([
      { NAME: 'kube-root-ca.crt', DATA: '1', AGE: expect.stringMatching(/^\d+s$/) },
      { NAME: 'settings', DATA: '2', AGE: expect.stringMatching(/^\d+s$/) },
    ]);
    expect(JSON.parse(await ok(['get', 'cm', 'settings', '-n', ns, '-o', 'json'])).data).toEqual({ mode: 'fast', level: '3' });
    const sa = parseTable(await ok(['get', 'sa', '-n', ns]));
    expect(sa.header).toEqual(['NAME', 'SECRETS', 'AGE']);
    expect(sa.rows.map(r => [r.NAME, r.SECRETS])).toEqual([
      ['default', '0'],
      ['robot', '0'],
    ]);
  });

  it('creates the deployment, job and cronjob its typed commands send', async () => {
    expect(await ok(['create', 'deployment', 'web', '-n', ns, '--image=nginx:1.27'])).toBe('deployment.apps/web created\n');
    expect(await ok(['create', 'job', 'once', '-n', ns, '--image=alpine:3.20', '--', 'sleep', '1'])).toBe('job.batch/once created\n');
    expect(await ok(['create', 'cronjob', 'nightly', '-n', ns, '--image=alpine:3.20', '--schedule=0 3 * * *'])).toBe('cronjob.batch/nightly created\n');
    const d = JSON.parse(await ok(['get', 'deployment', 'web', '-n', ns, '-o', 'json']));
    expect(d.spec).toMatchObject({ replicas: 1, selector: { matchLabels: { app: 'web' } } });
    expect(d.spec.template.spec.containers).toEqual([{ name: 'nginx', image: 'nginx:1.27', resources: {} }]);
    const j = JSON.parse(await ok(['get', 'job', 'once', '-n', ns, '-o', 'json']));
    expect(j.spec.template.spec).toMatchObject({ restartPolicy: 'Never', containers: [{ name: 'once', image: 'alpine:3.20', command: ['sleep', '1'] }] });
    const cj = JSON.parse(await ok(['get', 'cronjob', 'nightly', '-n', ns, '-o', 'json']));
    expect(cj.spec.schedule).toBe('0 3 * * *');
    expect(cj.spec.jobTemplate.spec.template.spec.containers[0]).toMatchObject({ name: 'nightly', image: 'alpine:3.20' });
  });

  it('reports NotFound and deletes', async () => {
    const missing = await k(['get', 'secret', 'nope', '-n', ns]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error from server (NotFound): secrets "nope" not found\n');
    await ok(['create', 'secret', 'generic', 'doomed', '-n', ns, '--from-literal=a=b']);
    expect(await ok(['delete', 'secret', 'doomed', '-n', ns])).toMatch(/^secret "doomed" deleted/);
    expect(await ok(['delete', 'configmap', 'settings', '-n', ns])).toMatch(/^configmap "settings" deleted/);
    expect((await k(['get', 'secret', 'doomed', '-n', ns])).stderr).toBe('Error from server (NotFound): secrets "doomed" not found\n');
  });

  it('refuses to change an immutable secret and a secret type', async () => {
    const manifest = (data: string, extra = '') => `apiVersion: v1
kind: Secret
metadata: {name: frozen, namespace: ${ns}}
${extra}stringData: {key: ${data}}
`;
    await ok(['create', '-f', '-'], { input: manifest('one', 'immutable: true\n') });
    expect(unb64(JSON.parse(await ok(['get', 'secret', 'frozen', '-n', ns, '-o', 'json'])).data.key)).toBe('one');
    const changed = await k(['replace', '-f', '-'], { input: manifest('two', 'immutable: true\n') });
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/The Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set/);
    const unfreeze = await k(['patch', 'secret', 'frozen', '-n', ns, '--type=merge', '-p', '{"immutable":false}']);
    expect(unfreeze.stderr).toMatch(/The Secret "frozen" is invalid: immutable: Forbidden: field is immutable when `immutable` is set/);
    // metadata may still change
    await ok(['label', 'secret', 'frozen', '-n', ns, 'tier=gold']);
    await ok(['create', 'secret', 'generic', 'typed', '-n', ns, '--type=example.com/custom', '--from-literal=a=b']);
    const retype = await k(['patch', 'secret', 'typed', '-n', ns, '--type=merge', '-p', '{"type":"example.com/other"}']);
    expect(retype.stderr).toMatch(/The Secret "typed" is invalid: type: Invalid value: "example.com\/other": field is immutable/);
  });

  it('answers auth can-i get secrets for the admin and a restricted token, and forbids what was not granted', async () => {
    expect((await k(['auth', 'can-i', 'get', 'secrets', '-n', ns])).stdout.trim()).toBe('yes');
    const restricted = await k(['auth', 'can-i', 'get', 'secrets', '-n', 'platform'], { context: 'kube-sim-restricted' });
    expect(restricted.stdout.trim()).toBe('no');
    expect((await k(['auth', 'can-i', 'get', 'secrets', '-n', 'payments'], { context: 'kube-sim-restricted' })).stdout.trim()).toBe('yes');
    const token = `pod-reader-${version}`;
    const user = `system:serviceaccount:${ns}:pod-reader`;
    sim.addToken(token, [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'], namespaces: [ns] }], { user });
    const cfg = writeTemp('kubeconfig', sim.kubeconfigFor(token, ns));
    expect((await k(['auth', 'can-i', 'get', 'secrets'], { kubeconfigPath: cfg })).stdout.trim()).toBe('no');
    expect((await k(['auth', 'can-i', 'list', 'pods'], { kubeconfigPath: cfg })).stdout.trim()).toBe('yes');
    const list = await k(['get', 'secrets'], { kubeconfigPath: cfg });
    expect(list.code).toBe(1);
    expect(list.stderr).toBe(`Error from server (Forbidden): secrets is forbidden: User "${user}" cannot list resource "secrets" in API group "" in the namespace "${ns}"\n`);
    const one = await k(['get', 'secret', 'creds', '-o', 'json'], { kubeconfigPath: cfg });
    expect(one.stderr).toBe(`Error from server (Forbidden): secrets "creds" is forbidden: User "${user}" cannot get resource "secrets" in API group "" in the namespace "${ns}"\n`);
    expect(one.stdout).not.toContain(b64('s3cr3t!'));
    sim.removeToken(token);
  });

  it('fills a service-account token Secret that authenticates as the ServiceAccount with its bound rules', async () => {
    await ok(['create', '-f', '-'], {
      input: `apiVersion: v1
kind: Secret
metadata:
  name: robot-token
  namespace: ${ns}
  annotations: {kubernetes.io/service-account.name: robot}
type: kubernetes.io/service-account-token
`,
    });
    const filled = await waitFor(async () => {
      const s = sim.getObject('v1', 'Secret', ns, 'robot-token');
      return (s?.data as Record<string, string> | undefined)?.token ? s : undefined;
    });
    const s = JSON.parse(await ok(['get', 'secret', 'robot-token', '-n', ns, '-o', 'json']));
    expect(s.data.token).toBe((filled.data as Record<string, string>).token);
    expect(unb64(s.data.namespace)).toBe(ns);
    expect(unb64(s.data['ca.crt'])).toBe(sim.caCert);
    const sa = sim.getObject('v1', 'ServiceAccount', ns, 'robot')!;
    expect(s.metadata.annotations['kubernetes.io/service-account.uid']).toBe(sa.metadata.uid);
    expect(parseTable(await ok(['get', 'secret', 'robot-token', '-n', ns])).rows[0]).toMatchObject({ TYPE: 'kubernetes.io/service-account-token', DATA: '3' });

    const user = `system:serviceaccount:${ns}:robot`;
    sim.bindRules(user, [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['secrets', 'configmaps'], namespaces: [ns] }]);
    const cfg = writeTemp('kubeconfig', sim.kubeconfigFor(unb64(s.data.token), ns));
    expect(parseTable(await ok(['get', 'secrets'], { kubeconfigPath: cfg })).rows.map(r => r.NAME)).toContain('creds');
    const pods = await k(['get', 'pods'], { kubeconfigPath: cfg });
    expect(pods.stderr).toBe(`Error from server (Forbidden): pods is forbidden: User "${user}" cannot list resource "pods" in API group "" in the namespace "${ns}"\n`);

    // a TokenRequest token for the same ServiceAccount has the same rights
    const requested = (await ok(['create', 'token', 'robot', '-n', ns])).trim();
    expect(requested.split('.')).toHaveLength(3);
    const cfg2 = writeTemp('kubeconfig', sim.kubeconfigFor(requested, ns));
    expect((await k(['auth', 'can-i', 'list', 'secrets'], { kubeconfigPath: cfg2 })).stdout.trim()).toBe('yes');
    expect((await k(['auth', 'can-i', 'list', 'pods'], { kubeconfigPath: cfg2 })).stdout.trim()).toBe('no');

    // deleting the ServiceAccount deletes its token Secret, and its tokens stop working
    await ok(['delete', 'serviceaccount', 'robot', '-n', ns]);
    await waitFor(async () => (sim.getObject('v1', 'Secret', ns, 'robot-token') ? undefined : true));
    const after = await k(['get', 'secrets'], { kubeconfigPath: cfg });
    const loggedOut = /error: You must be logged in to the server \(the server has asked for the client to provide credentials\)/;
    expect(after.stderr).toMatch(loggedOut);
    expect((await k(['get', 'secrets'], { kubeconfigPath: cfg2 })).stderr).toMatch(loggedOut);
    sim.bindRules(user, []);
  });
});

describe('token controller', () => {
  it('gives every namespace a default ServiceAccount and the kube-root-ca.crt ConfigMap, and recreates them', async () => {
    for (const ns of ['default', 'payments', 'kube-system']) {
      expect(sim.getObject('v1', 'ServiceAccount', ns, 'default')).toBeDefined();
      expect(sim.getObject('v1', 'ConfigMap', ns, 'kube-root-ca.crt')?.data).toEqual({ 'ca.crt': sim.caCert });
    }
    const api = kc.makeApiClient(CoreV1Api);
    const old = await api.readNamespacedServiceAccount({ namespace: 'platform', name: 'default' });
    await api.deleteNamespacedServiceAccount({ namespace: 'platform', name: 'default' });
    await api.deleteNamespacedConfigMap({ namespace: 'platform', name: 'kube-root-ca.crt' });
    const again = await waitFor(async () => sim.getObject('v1', 'ServiceAccount', 'platform', 'default'));
    expect(again.metadata.uid).not.toBe(old.metadata?.uid);
    await waitFor(async () => sim.getObject('v1', 'ConfigMap', 'platform', 'kube-root-ca.crt'));
  });

  it('issues a token for the default ServiceAccount (kubectl create token)', async () => {
    sim.bindRules('system:serviceaccount:platform:default', [{ verbs: ['list'], apiGroups: [''], resources: ['pods'], namespaces: ['platform'] }]);
    const token = await kubectl(['create', 'token', 'default', '-n', 'platform', '--duration=15m'], { kubeconfigPath: sim.kubeconfigPath });
    expect(token.stderr).toBe('');
    const api = (() => {
      const c = new KubeConfig();
      c.loadFromString(sim.kubeconfigFor(token.stdout.trim()));
      return c.makeApiClient(CoreV1Api);
    })();
    expect((await api.listNamespacedPod({ namespace: 'platform' })).items.length).toBeGreaterThan(0);
    const denied = await api.listNamespacedSecret({ namespace: 'platform' }).catch(e => e);
    expect(denied.code).toBe(403);
    expect(JSON.parse(denied.body).message).toBe('secrets is forbidden: User "system:serviceaccount:platform:default" cannot list resource "secrets" in API group "" in the namespace "platform"');
    const short = await kubectl(['create', 'token', 'default', '-n', 'platform', '--duration=5m'], { kubeconfigPath: sim.kubeconfigPath });
    expect(short.stderr).toMatch(/TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes/);
    sim.bindRules('system:serviceaccount:platform:default', []);
  });

  it('deletes a token Secret whose ServiceAccount does not exist, and ignores a token it did not sign', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const body: V1Secret = { metadata: { name: 'orphan-token', annotations: { 'kubernetes.io/service-account.name': 'ghost' } }, type: 'kubernetes.io/service-account-token' };
    await api.createNamespacedSecret({ namespace: 'search', body });
    await waitFor(async () => (sim.getObject('v1', 'Secret', 'search', 'orphan-token') ? undefined : true));

    await api.createNamespacedServiceAccount({ namespace: 'search', body: { metadata: { name: 'forger' } } });
    sim.bindRules('system:serviceaccount:search:forger', [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }]);
    await api.createNamespacedSecret({
      namespace: 'search',
      body: { metadata: { name: 'forged', annotations: { 'kubernetes.io/service-account.name': 'forger' } }, type: 'kubernetes.io/service-account-token', stringData: { token: 'let-me-in' } },
    });
    await waitFor(async () => (sim.getObject('v1', 'Secret', 'search', 'forged')?.data as Record<string, string> | undefined)?.namespace);
    const forged = new KubeConfig();
    forged.loadFromString(sim.kubeconfigFor('let-me-in'));
    await expect(forged.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'search' })).rejects.toMatchObject({ code: 401 });
    sim.bindRules('system:serviceaccount:search:forger', []);
  });

  it('rejects a service-account token Secret without the service-account annotation', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const err = await api.createNamespacedSecret({ namespace: 'search', body: { metadata: { name: 'anon-token' }, type: 'kubernetes.io/service-account-token' } }).catch(e => e);
    expect(err).toBeInstanceOf(ApiException);
    expect(err.code).toBe(422);
    expect(JSON.parse(err.body).message).toBe('Secret "anon-token" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value');
  });
});

describe('client-node CoreV1Api', () => {
  it('creates a Secret with stringData, reads base64 data back, replaces and deletes it', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const created = await api.createNamespacedSecret({ namespace: 'payments', body: { metadata: { name: 'db-creds' }, stringData: { username: 'app', password: 'päss wörd' }, data: { username: b64('overridden') } } });
    expect(created.stringData).toBeUndefined();
    expect(created.type).toBe('Opaque');
    expect(created.data).toEqual({ username: b64('app'), password: b64('päss wörd') });
    const read = await api.readNamespacedSecret({ namespace: 'payments', name: 'db-creds' });
    expect(read.data).toEqual(created.data);
    expect(read.stringData).toBeUndefined();

    read.data = { password: b64('rotated') };
    read.stringData = { extra: 'x' };
    const replaced = await api.replaceNamespacedSecret({ namespace: 'payments', name: 'db-creds', body: read });
    expect(replaced.data).toEqual({ password: b64('rotated'), extra: b64('x') });
    expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(created.metadata!.resourceVersion));

    const stale = await api.replaceNamespacedSecret({ namespace: 'payments', name: 'db-creds', body: read }).catch(e => e);
    expect(stale.code).toBe(409);

    await api.deleteNamespacedSecret({ namespace: 'payments', name: 'db-creds' });
    const gone = await api.readNamespacedSecret({ namespace: 'payments', name: 'db-creds' }).catch(e => e);
    expect(gone).toBeInstanceOf(ApiException);
    expect(gone.code).toBe(404);
    expect(JSON.parse(gone.body).message).toBe('secrets "db-creds" not found');
  });

  it('answers bad base64 with 400 and bad keys with 422', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const bad = await api.createNamespacedSecret({ namespace: 'payments', body: { metadata: { name: 'bad' }, data: { k: 'not*base64' } } }).catch(e => e);
    expect(bad.code).toBe(400);
    expect(JSON.parse(bad.body).message).toBe('Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3');
    const key = await api.createNamespacedConfigMap({ namespace: 'payments', body: { metadata: { name: 'bad' }, data: { 'no/slash': 'x' } } }).catch(e => e);
    expect(key.code).toBe(422);
    expect(JSON.parse(key.body).message).toBe(
      `ConfigMap "bad" is invalid: data[no/slash]: Invalid value: "no/slash": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
    );
  });

  it('freezes an immutable ConfigMap but lets its labels change', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    await api.createNamespacedConfigMap({ namespace: 'payments', body: { metadata: { name: 'frozen-cm' }, data: { a: '1' }, binaryData: { blob: b64('\u0000\u0001') }, immutable: true } });
    const cur = await api.readNamespacedConfigMap({ namespace: 'payments', name: 'frozen-cm' });
    const err = await api.replaceNamespacedConfigMap({ namespace: 'payments', name: 'frozen-cm', body: { ...cur, data: { a: '2' }, binaryData: {} } }).catch(e => e);
    expect(err.code).toBe(422);
    expect(JSON.parse(err.body).message).toBe(
      'ConfigMap "frozen-cm" is invalid: [data: Forbidden: field is immutable when `immutable` is set, binaryData: Forbidden: field is immutable when `immutable` is set]',
    );
    const labelled = await api.replaceNamespacedConfigMap({ namespace: 'payments', name: 'frozen-cm', body: { ...cur, metadata: { ...cur.metadata, labels: { a: 'b' } } } });
    expect(labelled.metadata?.labels).toEqual({ a: 'b' });
  });

  it('watches Secrets and garbage-collects Secrets and ConfigMaps owned by a deleted pod', async () => {
    const api = kc.makeApiClient(CoreV1Api);
    const events: string[] = [];
    const req = await new Watch(kc).watch('/api/v1/namespaces/search/secrets', {}, (type, obj: V1Secret) => events.push(`${type} ${obj.metadata?.name}`), () => {});
    try {
      const pod = await api.createNamespacedPod({
        namespace: 'search',
        body: { metadata: { name: 'owner' }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } },
      });
      const ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', name: 'owner', uid: pod.metadata!.uid! }];
      await api.createNamespacedSecret({ namespace: 'search', body: { metadata: { name: 'owned', ownerReferences }, stringData: { k: 'v' } } });
      await api.createNamespacedConfigMap({ namespace: 'search', body: { metadata: { name: 'owned', ownerReferences }, data: { k: 'v' } } });
      await api.createNamespacedSecret({ namespace: 'search', body: { metadata: { name: 'unowned' }, stringData: { k: 'v' } } });
      await api.deleteNamespacedPod({ namespace: 'search', name: 'owner', gracePeriodSeconds: 0 });
      await waitFor(async () => (sim.getObject('v1', 'Secret', 'search', 'owned') || sim.getObject('v1', 'ConfigMap', 'search', 'owned') ? undefined : true));
      expect(sim.getObject('v1', 'Secret', 'search', 'unowned')).toBeDefined();
      await waitFor(async () => (events.includes('DELETED owned') ? true : undefined));
      expect(events).toEqual(expect.arrayContaining(['ADDED owned', 'ADDED unowned', 'DELETED owned']));
    } finally {
      req.abort();
    }
  });
});

describe('fixture objects', () => {
  it('stores a fixture Secret like a write (stringData merged) and fills fixture token Secrets', async () => {
    const own = await startKubeSim({
      fixture: {
        namespaces: [{ name: 'team-a' }],
        objects: [
          { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'builder', namespace: 'team-a' } },
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'builder-token', namespace: 'team-a', annotations: { 'kubernetes.io/service-account.name': 'builder' } }, type: 'kubernetes.io/service-account-token' },
          { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'plain', namespace: 'team-a' }, stringData: { password: 'from-fixture' } },
        ],
      },
    });
    try {
      const plain = own.getObject('v1', 'Secret', 'team-a', 'plain')!;
      expect(plain.data).toEqual({ password: b64('from-fixture') });
      expect(plain.stringData).toBeUndefined();
      expect(plain.type).toBe('Opaque');
      const token = unb64((own.getObject('v1', 'Secret', 'team-a', 'builder-token')!.data as Record<string, string>).token);
      own.bindRules('system:serviceaccount:team-a:builder', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'], namespaces: ['team-a'] }]);
      const c = new KubeConfig();
      c.loadFromString(own.kubeconfigFor(token));
      const read = await c.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'team-a', name: 'plain' });
      expect(unb64(read.data!.password)).toBe('from-fixture');
    } finally {
      await own.stop();
    }
  });
});
