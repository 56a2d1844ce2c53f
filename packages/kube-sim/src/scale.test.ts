/** The generated `scale` fixture: 500 namespaces, 5,000 PVCs, 20,000 pods; chunked listing. */
import { startKubeSim, type KubeSim } from './sim';
import { kubectl, KUBECTL_VERSIONS } from './__testutils__/kubectl';
import { request } from './__testutils__/http';

// kubectl decoding 20,000 pods takes 10–40 s on 2 busy cores
jest.setTimeout(300_000);

let sim: KubeSim;
let startMs: number;

beforeAll(async () => {
  const t0 = Date.now();
  sim = await startKubeSim({ fixture: 'scale' });
  startMs = Date.now() - t0;
});

afterAll(async () => {
  await sim?.stop();
});

it('generates the scale fixture in a few seconds', () => {
  expect(startMs).toBeLessThan(15_000);
});

it.each(KUBECTL_VERSIONS)('kubectl %s --chunk-size=500 pages through 20,000 pods and 5,000 PVCs', async version => {
  const before = sim.listRequestCount('pods');
  const cols = ['-o', 'custom-columns=NS:.metadata.namespace,NAME:.metadata.name', '--no-headers'];
  const r = await kubectl(['get', 'pods', '-A', '--chunk-size=500', ...cols], { kubeconfigPath: sim.kubeconfigPath, version, timeoutMs: 240_000 });
  expect(r.code).toBe(0);
  const names = r.stdout.trim().split('\n');
  expect(names).toHaveLength(20_000);
  expect(new Set(names).size).toBe(20_000);
  expect(sim.listRequestCount('pods') - before).toBe(40);
  const pages = sim.requestLog.filter(e => e.url.startsWith('/api/v1/pods?') && e.url.includes('limit=500'));
  expect(pages.filter(e => e.url.includes('continue=')).length).toBeGreaterThanOrEqual(39);
  const pvc = await kubectl(['get', 'pvc', '-A', '--chunk-size=500', ...cols], { kubeconfigPath: sim.kubeconfigPath, version, timeoutMs: 120_000 });
  expect(new Set(pvc.stdout.trim().split('\n')).size).toBe(5_000);
});

it('serves every page from one snapshot with a stable resourceVersion, and is fast', async () => {
  const t0 = Date.now();
  const first = await request(sim, 'GET', '/api/v1/pods?limit=500');
  const rv = first.json.metadata.resourceVersion;
  expect(first.json.metadata.remainingItemCount).toBe(19_500);
  // a change between pages must not show up in the paged list
  const created = await request(sim, 'POST', '/api/v1/namespaces/scale-000/pods', {
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'aaa-late' }, spec: { containers: [{ name: 'c', image: 'alpine:3.20' }] } },
  });
  expect(created.status).toBe(201);
  let cont: string = first.json.metadata.continue;
  let count = first.json.items.length;
  const rvs = new Set<string>();
  while (cont) {
    const r = await request(sim, 'GET', `/api/v1/pods?limit=500&continue=${encodeURIComponent(cont)}`);
    rvs.add(`${r.status} ${r.json.metadata.resourceVersion}`);
    count += r.json.items.length;
    cont = r.json.metadata.continue ?? '';
  }
  expect([...rvs]).toEqual([`200 ${rv}`]);
  expect(count).toBe(20_000);
  expect(Date.now() - t0).toBeLessThan(20_000);
  await request(sim, 'DELETE', '/api/v1/namespaces/scale-000/pods/aaa-late?gracePeriodSeconds=0');
});

it('answers 410 Expired for a continue token whose snapshot is gone', async () => {
  const first = await request(sim, 'GET', '/api/v1/persistentvolumeclaims?limit=100');
  const token = first.json.metadata.continue;
  expect(token).toBeTruthy();
  sim.expireContinueTokens();
  const r = await request(sim, 'GET', `/api/v1/persistentvolumeclaims?limit=100&continue=${encodeURIComponent(token)}`);
  expect(r.status).toBe(410);
  expect(r.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
  expect(r.json.message).toMatch(/^The provided continue parameter is too old to display a consistent list result/);
});
