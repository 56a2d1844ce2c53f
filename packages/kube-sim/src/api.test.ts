/** The HTTP API directly: auth, discovery, Table, selectors, verbs, errors, watch, access reviews. */
import https from 'node:https';
import { existsSync } from 'node:fs';
import { startKubeSim, type KubeSim } from './sim';
import { request, waitFor } from './__testutils__/http';

jest.setTimeout(60_000);

let sim: KubeSim;

beforeAll(async () => {
  sim = await startKubeSim({ fixture: 'demo', runningDelayMs: 20, terminationDelayMs: 100 });
});

afterAll(async () => {
  await sim?.stop();
});

const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { test: 'api' } },
  spec: { containers: [{ name: 'c', image: 'alpine:3.20' }], ...extra },
});

describe('authentication', () => {
  it('answers 401 Status for a missing or unknown token, but serves /version', async () => {
    for (const token of [null, 'not-a-token']) {
      const r = await request(sim, 'GET', '/api/v1/pods', { token });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const v = await request(sim, 'GET', '/version', { token: null });
    expect(v.json).toMatchObject({ major: '1', minor: '33', gitVersion: expect.stringMatching(/^v1\.33\./) });
  });

  it('serves TLS with the CA from the kubeconfig', async () => {
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.kubeconfig).toContain(`certificate-authority-data: ${Buffer.from(sim.caCert!).toString('base64')}`);
    await expect(
      new Promise((resolve, reject) => https.get(`${sim.url}/version`, res => resolve(res.statusCode)).on('error', reject)),
    ).rejects.toThrow(/self-signed|unable to verify|self signed/);
  });
});

describe('discovery', () => {
  it('serves /api, /api/v1, /apis and the group versions', async () => {
    expect((await request(sim, 'GET', '/api')).json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const core = (await request(sim, 'GET', '/api/v1')).json;
    const names = core.resources.map((r: { name: string }) => r.name);
    expect(names).toEqual(expect.arrayContaining(['namespaces', 'nodes', 'pods', 'pods/exec', 'pods/log', 'persistentvolumeclaims', 'persistentvolumes', 'events']));
    expect(core.resources.find((r: { name: string }) => r.name === 'persistentvolumeclaims')).toMatchObject({ namespaced: true, kind: 'PersistentVolumeClaim', shortNames: ['pvc'] });
    const groups = (await request(sim, 'GET', '/apis')).json.groups.map((g: { name: string }) => g.name);
    expect(groups).toEqual(['apps', 'batch', 'storage.k8s.io', 'authorization.k8s.io']);
    for (const [gv, res] of [['apps/v1', 'statefulsets'], ['batch/v1', 'cronjobs'], ['storage.k8s.io/v1', 'storageclasses'], ['authorization.k8s.io/v1', 'selfsubjectrulesreviews']]) {
      const r = (await request(sim, 'GET', `/apis/${gv}`)).json;
      expect(r.groupVersion).toBe(gv);
      expect(r.resources.map((x: { name: string }) => x.name)).toContain(res);
    }
  });

  it('falls back from aggregated discovery: 406 when only that is acceptable, plain JSON otherwise', async () => {
    const agg = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
    expect((await request(sim, 'GET', '/apis', { accept: agg })).status).toBe(406);
    const r = await request(sim, 'GET', '/apis', { accept: `${agg},application/json` });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.json.kind).toBe('APIGroupList');
  });

  it('publishes OpenAPI v3 paths with fieldValidation for kubectl', async () => {
    const root = (await request(sim, 'GET', '/openapi/v3')).json;
    expect(Object.keys(root.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1', 'apis/batch/v1']));
    const doc = (await request(sim, 'GET', root.paths['api/v1'].serverRelativeURL)).json;
    const patch = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: '', version: 'v1', kind: 'Pod' });
    expect(patch.parameters.map((p: { name: string }) => p.name)).toContain('fieldValidation');
  });
});

describe('reads', () => {
  it('returns a meta.k8s.io Table with the apiserver columns when asked', async () => {
    const r = await request(sim, 'GET', '/api/v1/namespaces/payments/persistentvolumeclaims', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    expect(r.json.kind).toBe('Table');
    expect(r.json.columnDefinitions.map((c: { name: string; priority: number }) => `${c.name}:${c.priority}`)).toEqual([
      'Name:0', 'Status:0', 'Volume:0', 'Capacity:0', 'Access Modes:0', 'StorageClass:0', 'VolumeAttributesClass:0', 'Age:0', 'VolumeMode:1',
    ]);
    const row = r.json.rows.find((x: { cells: string[] }) => x.cells[0] === 'payments-api-uploads');
    expect(row.cells).toEqual(['payments-api-uploads', 'Bound', expect.stringMatching(/^pvc-/), '5Gi', 'RWX', 'shared-nfs', '<unset>', '2d', 'Filesystem']);
    expect(row.object).toMatchObject({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'payments-api-uploads', namespace: 'payments' } });
    const pods = await request(sim, 'GET', '/api/v1/pods', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(pods.json.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP', 'Node', 'Nominated Node', 'Readiness Gates']);
    const nodes = await request(sim, 'GET', '/api/v1/nodes', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(nodes.json.rows[0].cells.slice(0, 5)).toEqual(['node-a', 'Ready', '<none>', '2d', 'v1.33.1']);
  });

  it('filters pods by field selectors and rejects unknown fields', async () => {
    const names = async (q: string) => (await request(sim, 'GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(q)}`)).json.items.map((p: { metadata: { name: string } }) => p.metadata.name);
    expect(await names('spec.nodeName=node-storage,metadata.namespace=search')).toEqual(['search-indexer-0', 'search-indexer-1']);
    expect(await names('metadata.name=payments-db-0')).toEqual(['payments-db-0']);
    expect((await names('status.phase=Running')).length).toBe(13);
    expect(await names('status.phase!=Running')).toEqual([]);
    const bad = await request(sim, 'GET', '/api/v1/pods?fieldSelector=spec.foo%3Dx');
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ reason: 'BadRequest', message: 'field label not supported: spec.foo' });
  });

  it('answers 404 NotFound with the qualified resource name', async () => {
    const r = await request(sim, 'GET', '/apis/apps/v1/namespaces/payments/deployments/nope');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'deployments.apps "nope" not found', reason: 'NotFound', details: { name: 'nope', group: 'apps', kind: 'deployments' }, code: 404 });
    expect((await request(sim, 'GET', '/api/v1/widgets')).status).toBe(404);
  });

  it('lists events for an object with fieldSelector involvedObject.name', async () => {
    expect((await request(sim, 'POST', '/api/v1/namespaces/search/pods', { body: pod('evented') })).status).toBe(201);
    const evs = await waitFor(async () => {
      const r = await request(sim, 'GET', '/api/v1/namespaces/search/events?fieldSelector=involvedObject.name%3Devented');
      return r.json.items.length >= 5 && r.json.items;
    });
    expect(evs.map((e: { reason: string }) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
    expect(evs[0]).toMatchObject({ kind: 'Event', involvedObject: { kind: 'Pod', name: 'evented', namespace: 'search' }, type: 'Normal', source: { component: 'default-scheduler' } });
  });
});

describe('writes', () => {
  it('creates with generateName, and supports dryRun', async () => {
    const dry = await request(sim, 'POST', '/api/v1/namespaces/payments/pods?dryRun=All', { body: pod('dry') });
    expect(dry.status).toBe(201);
    expect((await request(sim, 'GET', '/api/v1/namespaces/payments/pods/dry')).status).toBe(404);
    const r = await request(sim, 'POST', '/api/v1/namespaces/payments/pods', { body: { ...pod(''), metadata: { generateName: 'gen-' } } });
    expect(r.status).toBe(201);
    expect(r.json.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(r.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json.status.phase).toBe('Pending');
  });

  it('rejects mismatched namespaces and unknown namespaces', async () => {
    const r = await request(sim, 'POST', '/api/v1/namespaces/payments/pods', { body: { ...pod('x'), metadata: { name: 'x', namespace: 'search' } } });
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('the namespace of the provided object does not match the namespace sent on the request');
    const n = await request(sim, 'POST', '/api/v1/namespaces/nowhere/pods', { body: pod('x') });
    expect(n.status).toBe(404);
    expect(n.json.message).toBe('namespaces "nowhere" not found');
  });

  it('validates pod specs and labels like the apiserver (422 with causes)', async () => {
    const bad = await request(sim, 'POST', '/api/v1/namespaces/payments/pods', {
      body: { ...pod('bad-mount'), metadata: { name: 'bad-mount', labels: { run: 'Run 1' } }, spec: { restartPolicy: 'Sometimes', containers: [{ name: 'c', image: 'alpine:3.20', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] } },
    });
    expect(bad.status).toBe(422);
    expect(bad.json.message).toBe(
      'Pod "bad-mount" is invalid: [metadata.labels: Invalid value: "Run 1": a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character (e.g. \'MyValue\',  or \'my_value\',  or \'12345\', regex used for validation is \'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\'), spec.containers[0].volumeMounts[0].name: Not found: "data", spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]',
    );
    expect(bad.json.details.causes.map((c: { reason: string; field: string }) => `${c.reason} ${c.field}`)).toEqual([
      'FieldValueInvalid metadata.labels',
      'FieldValueNotFound spec.containers[0].volumeMounts[0].name',
      'FieldValueNotSupported spec.restartPolicy',
    ]);
    const immutable = await request(sim, 'PATCH', '/api/v1/namespaces/payments/pods/payments-db-0', { body: { spec: { restartPolicy: 'Never' } }, contentType: 'application/strategic-merge-patch+json' });
    expect(immutable.status).toBe(422);
    expect(immutable.json.message).toMatch(/^Pod "payments-db-0" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`/);
    const image = await request(sim, 'PATCH', '/api/v1/namespaces/payments/pods/payments-db-0', { body: { spec: { containers: [{ name: 'postgres', image: 'postgres:16.5' }] } }, contentType: 'application/strategic-merge-patch+json' });
    expect(image.status).toBe(200);
    const patched = await request(sim, 'PATCH', '/api/v1/namespaces/payments/pods/payments-db-0', { body: { metadata: { labels: { 'bad key': 'x' } } }, contentType: 'application/merge-patch+json' });
    expect(patched.status).toBe(422);
    expect(patched.json.details.causes[0].field).toBe('metadata.labels');
  });

  it('merge-patches and strategic-merge-patches labels and annotations', async () => {
    const path = '/api/v1/namespaces/payments/persistentvolumeclaims/payments-db-scratch';
    const m = await request(sim, 'PATCH', path, { body: { metadata: { labels: { a: '1' }, annotations: { note: 'x' } } }, contentType: 'application/merge-patch+json' });
    expect(m.status).toBe(200);
    expect(m.json.metadata.labels).toEqual({ 'backstage.io/kubernetes-id': 'payments-db', a: '1' });
    const s = await request(sim, 'PATCH', path, { body: { metadata: { labels: { a: null, b: '2' } } }, contentType: 'application/strategic-merge-patch+json' });
    expect(s.json.metadata.labels).toEqual({ 'backstage.io/kubernetes-id': 'payments-db', b: '2' });
    expect(s.json.metadata.annotations.note).toBe('x');
    expect(Number(s.json.metadata.resourceVersion)).toBeGreaterThan(Number(m.json.metadata.resourceVersion));
    const j = await request(sim, 'PATCH', path, { body: [{ op: 'remove', path: '/metadata/labels/b' }], contentType: 'application/json-patch+json' });
    expect(j.json.metadata.labels).toEqual({ 'backstage.io/kubernetes-id': 'payments-db' });
    const bad = await request(sim, 'PATCH', path, { body: {}, contentType: 'text/plain' });
    expect(bad.status).toBe(415);
  });

  it('updates with optimistic concurrency (409 Conflict on a stale resourceVersion)', async () => {
    const path = '/apis/apps/v1/namespaces/payments/deployments/payments-api';
    const cur = (await request(sim, 'GET', path)).json;
    const ok = await request(sim, 'PUT', path, { body: { ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, v: '2' } } } });
    expect(ok.status).toBe(200);
    const stale = await request(sim, 'PUT', path, { body: cur });
    expect(stale.status).toBe(409);
    expect(stale.json.message).toBe('Operation cannot be fulfilled on deployments.apps "payments-api": the object has been modified; please apply your changes to the latest version and try again');
  });

  it('deletes pods gracefully (Terminating, then gone) and other objects at once', async () => {
    expect((await request(sim, 'POST', '/api/v1/namespaces/payments/pods', { body: pod('doomed') })).status).toBe(201);
    await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/payments/pods/doomed')).json.status.phase === 'Running');
    const d = await request(sim, 'DELETE', '/api/v1/namespaces/payments/pods/doomed', { body: { gracePeriodSeconds: 5 } });
    expect(d.status).toBe(200);
    expect(d.json.kind).toBe('Pod');
    expect(d.json.metadata.deletionTimestamp).toBeDefined();
    expect(d.json.metadata.deletionGracePeriodSeconds).toBe(5);
    await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/payments/pods/doomed')).status === 404);
    const sc = await request(sim, 'POST', '/apis/storage.k8s.io/v1/storageclasses', { body: { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'tmp-class' }, provisioner: 'x' } });
    expect(sc.status).toBe(201);
    const del = await request(sim, 'DELETE', '/apis/storage.k8s.io/v1/storageclasses/tmp-class');
    expect(del.json).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'tmp-class', group: 'storage.k8s.io', kind: 'storageclasses', uid: sc.json.metadata.uid } });
  });

  it('provisions and binds a new PVC, and keeps it Terminating while a pod uses it', async () => {
    const c = await request(sim, 'POST', '/api/v1/namespaces/search/persistentvolumeclaims', {
      body: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'fresh' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
    expect(c.status).toBe(201);
    expect(c.json.spec.storageClassName).toBe('standard');
    const bound = (await request(sim, 'GET', '/api/v1/namespaces/search/persistentvolumeclaims/fresh')).json;
    expect(bound.status).toEqual({ phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } });
    const pv = (await request(sim, 'GET', `/api/v1/persistentvolumes/${bound.spec.volumeName}`)).json;
    expect(pv.spec.claimRef).toMatchObject({ namespace: 'search', name: 'fresh', uid: bound.metadata.uid });
    expect(existsSync(sim.pvDir(bound.spec.volumeName))).toBe(true);
    const unused = await request(sim, 'POST', '/api/v1/namespaces/search/persistentvolumeclaims', {
      body: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'unused' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
    expect(unused.status).toBe(201);
    const gone = await request(sim, 'DELETE', '/api/v1/namespaces/search/persistentvolumeclaims/unused');
    expect(gone.json).toMatchObject({ kind: 'PersistentVolumeClaim', metadata: { name: 'unused', deletionTimestamp: expect.any(String), finalizers: ['kubernetes.io/pvc-protection'] } });
    await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/search/persistentvolumeclaims/unused')).status === 404);
    await request(sim, 'POST', '/api/v1/namespaces/search/pods', { body: pod('user', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'fresh' } }] }) });
    const del = await request(sim, 'DELETE', '/api/v1/namespaces/search/persistentvolumeclaims/fresh');
    expect(del.json.metadata.deletionTimestamp).toBeDefined();
    expect((await request(sim, 'GET', '/api/v1/namespaces/search/persistentvolumeclaims/fresh')).status).toBe(200);
    await request(sim, 'DELETE', '/api/v1/namespaces/search/pods/user?gracePeriodSeconds=0');
    await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/search/persistentvolumeclaims/fresh')).status === 404);
    await waitFor(async () => (await request(sim, 'GET', `/api/v1/persistentvolumes/${bound.spec.volumeName}`)).status === 404);
  });

  it('garbage-collects a deleted Deployment\'s ReplicaSet and pods', async () => {
    const d = await request(sim, 'DELETE', '/apis/apps/v1/namespaces/kube-system/deployments/coredns');
    expect(d.status).toBe(200);
    await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/kube-system/pods')).json.items.length === 0);
    expect((await request(sim, 'GET', '/apis/apps/v1/namespaces/kube-system/replicasets')).json.items).toEqual([]);
  });
});

describe('watch', () => {
  function openWatch(path: string): { lines: string[]; close: () => void } {
    const lines: string[] = [];
    let buf = '';
    const req = https.get(`${sim.url}${path}`, { ca: sim.caCert, headers: { authorization: `Bearer ${sim.adminToken}` } }, res => {
      res.setEncoding('utf8');
      res.on('data', c => {
        buf += c;
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        lines.push(...parts);
      });
    });
    req.on('error', () => {});
    return { lines, close: () => req.destroy() };
  }

  it('resumes from a resourceVersion and translates label-selector transitions', async () => {
    const list = (await request(sim, 'GET', '/api/v1/namespaces/platform/persistentvolumeclaims')).json;
    const w = openWatch(`/api/v1/namespaces/platform/persistentvolumeclaims?watch=1&labelSelector=watch%3Dme&resourceVersion=${list.metadata.resourceVersion}`);
    try {
      const path = '/api/v1/namespaces/platform/persistentvolumeclaims/platform-scratch';
      await request(sim, 'PATCH', path, { body: { metadata: { labels: { watch: 'me' } } }, contentType: 'application/merge-patch+json' });
      await request(sim, 'PATCH', path, { body: { metadata: { annotations: { a: 'b' } } }, contentType: 'application/merge-patch+json' });
      await request(sim, 'PATCH', path, { body: { metadata: { labels: { watch: null } } }, contentType: 'application/merge-patch+json' });
      const events = await waitFor(async () => w.lines.length >= 3 && w.lines.map(l => JSON.parse(l)));
      expect(events.map((e: { type: string }) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
      expect(events[1].object.metadata.annotations.a).toBe('b');
    } finally {
      w.close();
    }
  });

  it('sends an ERROR 410 event for a resourceVersion older than its history', async () => {
    const w = openWatch('/api/v1/pods?watch=true&resourceVersion=1');
    try {
      const [line] = await waitFor(async () => w.lines.length >= 1 && w.lines);
      expect(JSON.parse(line)).toEqual({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: expect.stringMatching(/^too old resource version: 1 \(\d+\)$/), reason: 'Expired', code: 410 } });
    } finally {
      w.close();
    }
  });

  it('sends initial events and a bookmark for sendInitialEvents=true', async () => {
    const w = openWatch('/api/v1/namespaces/search/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&fieldSelector=metadata.name%3Dsearch-indexer-1');
    try {
      const lines = await waitFor(async () => w.lines.length >= 2 && w.lines.map(l => JSON.parse(l)));
      expect(lines[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'search-indexer-1' } } });
      expect(lines[1]).toMatchObject({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
    } finally {
      w.close();
    }
  });
});

describe('authorization', () => {
  it('authorizes added tokens by their rules, and the access reviews agree', async () => {
    sim.addToken('reader-token', [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['persistentvolumeclaims', 'pods'] }], { user: 'system:serviceaccount:nkvm:reader' });
    sim.addToken('exec-token', [{ verbs: ['create'], apiGroups: [''], resources: ['pods/exec'], namespaces: ['search'] }, { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['search-indexer-0'], namespaces: ['search'] }], {
      user: 'system:serviceaccount:nkvm:exec',
    });
    expect((await request(sim, 'GET', '/api/v1/persistentvolumeclaims', { token: 'reader-token' })).status).toBe(200);
    const denied = await request(sim, 'DELETE', '/api/v1/namespaces/payments/pods/payments-db-0', { token: 'reader-token' });
    expect(denied.status).toBe(403);
    expect(denied.json.message).toBe('pods "payments-db-0" is forbidden: User "system:serviceaccount:nkvm:reader" cannot delete resource "pods" in API group "" in the namespace "payments"');
    expect((await request(sim, 'GET', '/api/v1/namespaces/search/pods/search-indexer-0', { token: 'exec-token' })).status).toBe(200);
    expect((await request(sim, 'GET', '/api/v1/namespaces/search/pods/search-indexer-1', { token: 'exec-token' })).status).toBe(403);

    const review = async (token: string, ra: Record<string, string>) =>
      (
        await request(sim, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
          token,
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: ra } },
        })
      ).json.status.allowed;
    expect(await review('reader-token', { verb: 'list', resource: 'pods' })).toBe(true);
    expect(await review('reader-token', { verb: 'create', resource: 'pods' })).toBe(false);
    expect(await review('exec-token', { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'search' })).toBe(true);
    expect(await review('exec-token', { verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'payments' })).toBe(false);
    expect(await review(sim.restrictedToken, { verb: 'list', resource: 'pods', namespace: 'payments' })).toBe(true);
    expect(await review(sim.restrictedToken, { verb: 'list', resource: 'pods', namespace: 'platform' })).toBe(false);

    const rules = (
      await request(sim, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
        token: 'exec-token',
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'search' } },
      })
    ).json.status;
    expect(rules.incomplete).toBe(false);
    expect(rules.resourceRules).toEqual(expect.arrayContaining([{ verbs: ['create'], apiGroups: [''], resources: ['pods/exec'] }, { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['search-indexer-0'] }]));
    // the exec upgrade needs `create` on pods/exec; the handshake answers a Status
    const upgrade = (token: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(`${sim.url}/api/v1/namespaces/search/pods/search-indexer-0/exec?command=true&stdout=true`, {
          ca: sim.caCert,
          headers: { authorization: `Bearer ${token}`, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-protocol': 'v5.channel.k8s.io' },
        });
        req.on('response', res => {
          let body = '';
          res.on('data', c => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, body: '' });
        });
        req.on('error', reject);
        req.end();
      });
    const forbidden = await upgrade('reader-token');
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body).message).toBe('pods "search-indexer-0" is forbidden: User "system:serviceaccount:nkvm:reader" cannot create resource "pods/exec" in API group "" in the namespace "search"');
    expect((await upgrade('exec-token')).status).toBe(101);
    expect((await upgrade('nope')).status).toBe(401);
    sim.removeToken('reader-token');
    expect((await request(sim, 'GET', '/api/v1/persistentvolumeclaims', { token: 'reader-token' })).status).toBe(401);
  });
});

describe('fault injection', () => {
  it('fails or delays matching requests, a limited number of times', async () => {
    const remove = sim.addFault({ path: '/api/v1/namespaces/platform/', status: 503, times: 1 });
    const failed = await request(sim, 'GET', '/api/v1/namespaces/platform/pods');
    expect(failed.status).toBe(503);
    expect(failed.json).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
    expect((await request(sim, 'GET', '/api/v1/namespaces/platform/pods')).status).toBe(200);
    remove();
    sim.addFault({ path: /persistentvolumeclaims/, method: 'GET', delayMs: 300 });
    const t0 = Date.now();
    expect((await request(sim, 'GET', '/api/v1/namespaces/payments/persistentvolumeclaims')).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    sim.clearFaults();
  });
});
