/** @kubernetes/client-node 1.4.0 against kube-sim: paginated lists, errors and Watch. */
import { ApiException, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node';
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

it('pages through pods cluster-wide with limit/continue', async () => {
  const api = kc.makeApiClient(CoreV1Api);
  const seen: string[] = [];
  let cont: string | undefined;
  let pages = 0;
  let rv: string | undefined;
  do {
    const page = await api.listPodForAllNamespaces({ limit: 4, _continue: cont });
    pages++;
    rv ??= page.metadata?.resourceVersion;
    expect(page.metadata?.resourceVersion).toBe(rv);
    for (const p of page.items) seen.push(`${p.metadata?.namespace}/${p.metadata?.name}`);
    cont = page.metadata?._continue;
  } while (cont);
  expect(seen).toHaveLength(13);
  expect(pages).toBe(4);
  expect([...seen].sort()).toEqual(seen); // etcd key order: namespace, then name
  const all = await api.listPodForAllNamespaces();
  expect(all.items.map(p => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual(seen);
});

it('lists PVCs with a label selector and reads their bound PV', async () => {
  const api = kc.makeApiClient(CoreV1Api);
  const pvcs = await api.listNamespacedPersistentVolumeClaim({ namespace: 'search', labelSelector: 'backstage.io/kubernetes-id=search-indexer' });
  expect(pvcs.items.map(c => c.metadata?.name)).toEqual(['index-search-indexer-0', 'index-search-indexer-1']);
  const pv = await api.readPersistentVolume({ name: pvcs.items[0].spec!.volumeName! });
  expect(pv.spec?.claimRef).toMatchObject({ namespace: 'search', name: 'index-search-indexer-0', uid: pvcs.items[0].metadata?.uid });
  expect(pv.status?.phase).toBe('Bound');
});

it('surfaces 410 Expired with a continue token for an expired snapshot', async () => {
  const api = kc.makeApiClient(CoreV1Api);
  const first = await api.listPodForAllNamespaces({ limit: 5 });
  sim.expireContinueTokens();
  const err = await api.listPodForAllNamespaces({ limit: 5, _continue: first.metadata?._continue }).catch(e => e);
  expect(err).toBeInstanceOf(ApiException);
  expect(err.code).toBe(410);
  const body = JSON.parse(err.body);
  expect(body.reason).toBe('Expired');
  // the inconsistent-continue token from the 410 resumes after the last key
  const rest = await api.listPodForAllNamespaces({ limit: 100, _continue: body.metadata.continue });
  expect(rest.items).toHaveLength(8);
});

it('rejects the restricted token outside its namespaces with 403', async () => {
  const restricted = new KubeConfig();
  restricted.loadFromString(sim.kubeconfig);
  restricted.setCurrentContext('kube-sim-restricted');
  const api = restricted.makeApiClient(CoreV1Api);
  await expect(api.listNamespacedPersistentVolumeClaim({ namespace: 'payments' })).resolves.toBeTruthy();
  const err = await api.listNamespacedPersistentVolumeClaim({ namespace: 'platform' }).catch(e => e);
  expect(err.code).toBe(403);
  expect(JSON.parse(err.body)).toEqual({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'persistentvolumeclaims is forbidden: User "system:serviceaccount:kube-system:kube-sim-restricted" cannot list resource "persistentvolumeclaims" in API group "" in the namespace "platform"',
    reason: 'Forbidden',
    details: { kind: 'persistentvolumeclaims' },
    code: 403,
  });
});

it('Watch streams ADDED, MODIFIED (Running) and DELETED for a pod', async () => {
  const api = kc.makeApiClient(CoreV1Api);
  const list = await api.listNamespacedPod({ namespace: 'platform' });
  const events: Array<{ type: string; name?: string; phase?: string }> = [];
  const watch = new Watch(kc);
  let done!: () => void;
  const finished = new Promise<void>(r => (done = r));
  const req = await watch.watch(
    '/api/v1/namespaces/platform/pods',
    { resourceVersion: list.metadata?.resourceVersion, fieldSelector: 'metadata.name=watched' },
    (type, obj) => {
      events.push({ type, name: obj.metadata?.name, phase: obj.status?.phase });
      if (type === 'DELETED') done();
    },
    () => done(),
  );
  await api.createNamespacedPod({
    namespace: 'platform',
    body: { metadata: { name: 'watched' }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } },
  });
  await api.createNamespacedPod({ namespace: 'platform', body: { metadata: { name: 'not-watched' }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } } });
  const deadline = Date.now() + 10_000;
  while (!events.some(e => e.phase === 'Running') && Date.now() < deadline) await new Promise(r => setTimeout(r, 25));
  await api.deleteNamespacedPod({ namespace: 'platform', name: 'watched' });
  await finished;
  req.abort();
  expect(events[0]).toEqual({ type: 'ADDED', name: 'watched', phase: 'Pending' });
  expect(events.some(e => e.type === 'MODIFIED' && e.phase === 'Running')).toBe(true);
  expect(events[events.length - 1].type).toBe('DELETED');
  expect(events.every(e => e.name === 'watched')).toBe(true);
});
