/** Scheduling, volume attach, image pulls, deadlines and deletion, as the scheduler and kubelet report them. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { startKubeSim, type KubeSim } from './sim';
import { request, waitFor } from './__testutils__/http';

jest.setTimeout(60_000);

let sim: KubeSim;

beforeAll(async () => {
  sim = await startKubeSim({ fixture: 'demo', runningDelayMs: 50, backoffDelayMs: 100, terminationDelayMs: 100 });
});

afterAll(async () => {
  await sim?.stop();
});

const PREEMPTION = 'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';

async function createPod(ns: string, name: string, spec: Record<string, unknown>, image = 'alpine:3.20') {
  const body = { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image, ...((spec.container as object) ?? {}) }], ...spec, container: undefined } };
  const r = await request(sim, 'POST', `/api/v1/namespaces/${ns}/pods`, { body });
  expect(r.status).toBe(201);
  return r.json;
}

const getPod = async (ns: string, name: string) => (await request(sim, 'GET', `/api/v1/namespaces/${ns}/pods/${name}`)).json;
const events = async (ns: string, name: string) =>
  (await request(sim, 'GET', `/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`)).json.items as Array<{ type: string; reason: string; message: string; source: { component: string } }>;
const waitEvent = (ns: string, name: string, reason: string) => waitFor(async () => (await events(ns, name)).find(e => e.reason === reason));

it('schedules, runs and reports the pod conditions', async () => {
  await createPod('search', 'runner', { nodeSelector: { 'topology.kubernetes.io/zone': 'zone-b' } });
  const p = await waitFor(async () => {
    const x = await getPod('search', 'runner');
    return x.status.phase === 'Running' && x;
  });
  expect(p.spec.nodeName).toBe('node-b');
  expect(p.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`)).toEqual(
    expect.arrayContaining(['PodScheduled=True', 'Initialized=True', 'ContainersReady=True', 'Ready=True']),
  );
  expect(p.status.containerStatuses[0]).toMatchObject({ name: 'c', ready: true, started: true, state: { running: {} }, image: 'docker.io/library/alpine:3.20' });
  expect(p.status.podIP).toMatch(/^10\.244\.1\.\d+$/);
  expect(p.status.hostIP).toBe('10.0.0.11');
  const reasons = (await events('search', 'runner')).map(e => e.reason);
  expect(reasons).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
});

it('honours nodeName and tolerations for the tainted node', async () => {
  await createPod('search', 'pinned', { nodeName: 'node-storage' });
  await createPod('search', 'tolerant', { nodeSelector: { 'nkvm.io/pool': 'storage' }, tolerations: [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }] });
  for (const n of ['pinned', 'tolerant']) {
    const p = await waitFor(async () => {
      const x = await getPod('search', n);
      return x.status.phase === 'Running' && x;
    });
    expect(p.spec.nodeName).toBe('node-storage');
  }
});

it('leaves an unschedulable pod Pending with the scheduler\'s FailedScheduling message', async () => {
  await createPod('search', 'untolerated', { nodeSelector: { 'nkvm.io/pool': 'storage' } });
  const ev = await waitEvent('search', 'untolerated', 'FailedScheduling');
  const msg = `0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: storage}, 2 node(s) didn't match Pod's node affinity/selector. ${PREEMPTION}`;
  expect(ev).toMatchObject({ type: 'Warning', message: msg, source: { component: 'default-scheduler' } });
  const p = await getPod('search', 'untolerated');
  expect(p.status.phase).toBe('Pending');
  expect(p.status.conditions).toEqual([{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: msg, lastProbeTime: null, lastTransitionTime: expect.any(String) }]);
});

it('keeps a pod whose PVC is missing Pending, and schedules it once the claim exists', async () => {
  await createPod('payments', 'needs-claim', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'later' } }] });
  const ev = await waitEvent('payments', 'needs-claim', 'FailedScheduling');
  expect(ev.message).toBe(`0/3 nodes are available: persistentvolumeclaim "later" not found. ${PREEMPTION}`);
  await request(sim, 'POST', '/api/v1/namespaces/payments/persistentvolumeclaims', {
    body: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'later' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
  });
  await waitFor(async () => (await getPod('payments', 'needs-claim')).status.phase === 'Running', 10_000);
});

it('turns an unknown image into ErrImagePull, then ImagePullBackOff', async () => {
  await createPod('payments', 'bad-image', {}, 'nginx:does-not-exist');
  const first = await waitFor(async () => (await getPod('payments', 'bad-image')).status.containerStatuses?.[0]?.state?.waiting);
  expect(['ErrImagePull', 'ImagePullBackOff']).toContain(first.reason);
  const backoff = await waitFor(async () => {
    const w = (await getPod('payments', 'bad-image')).status.containerStatuses?.[0]?.state?.waiting;
    return w?.reason === 'ImagePullBackOff' && w;
  });
  expect(backoff.message).toMatch(/^Back-off pulling image "nginx:does-not-exist"/);
  const evs = await events('payments', 'bad-image');
  expect(evs.map(e => e.message)).toEqual(expect.arrayContaining(['Error: ErrImagePull', 'Error: ImagePullBackOff', 'Back-off pulling image "nginx:does-not-exist"']));
  expect((await getPod('payments', 'bad-image')).status.phase).toBe('Pending');
});

it('blocks a ReadWriteOnce claim used on another node with a Multi-Attach error', async () => {
  // index-search-indexer-0 (RWO, fast-ssd: an attachable CSI disk, not node-local) is mounted by
  // search-indexer-0 on node-storage; node-local volumes are never attached (see volumeBinding.test.ts)
  const pvName = (await request(sim, 'GET', '/api/v1/namespaces/search/persistentvolumeclaims/index-search-indexer-0')).json.spec.volumeName;
  await createPod('search', 'second-attach', { nodeName: 'node-b', volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'index-search-indexer-0' } }] });
  const ev = await waitEvent('search', 'second-attach', 'FailedAttachVolume');
  expect(ev).toMatchObject({ type: 'Warning', message: `Multi-Attach error for volume "${pvName}" Volume is already used by pod(s) search-indexer-0`, source: { component: 'attachdetach-controller' } });
  const p = await getPod('search', 'second-attach');
  expect(p.status.phase).toBe('Pending');
  expect(p.status.containerStatuses[0].state.waiting.reason).toBe('ContainerCreating');
  // the same node is fine
  await createPod('search', 'same-node', { nodeName: 'node-storage', volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'index-search-indexer-0' } }] });
  await waitFor(async () => (await getPod('search', 'same-node')).status.phase === 'Running');
});

it('admits only one pod for a ReadWriteOncePod claim', async () => {
  await createPod('search', 'rwop-second', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'search-api-cache' } }] });
  const ev = await waitEvent('search', 'rwop-second', 'FailedScheduling');
  expect(ev.message).toBe(`0/3 nodes are available: node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode. ${PREEMPTION}`);
  expect((await getPod('search', 'rwop-second')).spec.nodeName).toBeUndefined();
});

function execSleep(ns: string, pod: string): Promise<number> {
  const cache = mkdtempSync('/tmp/kubectl-cache-');
  const child = spawn('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', [`--cache-dir=${cache}`, 'exec', '-n', ns, pod, '--', 'sleep', '300'], { env: { ...process.env, KUBECONFIG: sim.kubeconfigPath }, stdio: 'ignore' });
  return new Promise(resolve => child.on('close', code => resolve(code ?? -1)));
}

it('enforces activeDeadlineSeconds: Failed/DeadlineExceeded and exec processes killed', async () => {
  await createPod('platform', 'deadline', { activeDeadlineSeconds: 3, restartPolicy: 'Never' });
  await waitFor(async () => (await getPod('platform', 'deadline')).status.phase === 'Running');
  const started = Date.now();
  const exited = execSleep('platform', 'deadline');
  const p = await waitFor(async () => {
    const x = await getPod('platform', 'deadline');
    return x.status.phase === 'Failed' && x;
  }, 15_000);
  expect(p.status.reason).toBe('DeadlineExceeded');
  expect(p.status.message).toBe('Pod was active on the node longer than the specified deadline');
  expect(p.status.containerStatuses[0].state.terminated).toMatchObject({ exitCode: 137 });
  expect(await exited).not.toBe(0);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect((await waitEvent('platform', 'deadline', 'DeadlineExceeded')).message).toBe('Pod was active on the node longer than the specified deadline');
});

it('kills exec processes when the pod is deleted', async () => {
  await createPod('platform', 'victim', {});
  await waitFor(async () => (await getPod('platform', 'victim')).status.phase === 'Running');
  const exited = execSleep('platform', 'victim');
  await new Promise(r => setTimeout(r, 1500));
  const t0 = Date.now();
  await request(sim, 'DELETE', '/api/v1/namespaces/platform/pods/victim', { body: { gracePeriodSeconds: 30 } });
  expect(await exited).not.toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  await waitFor(async () => (await request(sim, 'GET', '/api/v1/namespaces/platform/pods/victim')).status === 404);
});

it('refuses exec into a pod that is not running, with a Status', async () => {
  const r = await request(sim, 'GET', '/api/v1/namespaces/payments/pods/bad-image/exec?command=ls&stdout=true');
  expect(r.status).toBe(400);
  expect(r.json.message).toBe('Upgrade request required');
  const cache = mkdtempSync('/tmp/kubectl-cache-');
  const child = spawn('/usr/lib/google-cloud-sdk/bin/kubectl.1.33', [`--cache-dir=${cache}`, 'exec', '-n', 'payments', 'bad-image', '--', 'ls'], { env: { ...process.env, KUBECONFIG: sim.kubeconfigPath } });
  let err = '';
  child.stderr.on('data', c => (err += c));
  const code = await new Promise(resolve => child.on('close', resolve));
  expect(code).toBe(1);
  expect(err).toContain('container not found ("c")');
});

it('binds a WaitForFirstConsumer claim only when a pod using it is scheduled', async () => {
  const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'wffc' }, spec: { storageClassName: 'local-wffc', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
  expect((await request(sim, 'POST', '/api/v1/namespaces/platform/persistentvolumeclaims', { body: claim })).status).toBe(201);
  const ev = await waitEvent('platform', 'wffc', 'WaitForFirstConsumer');
  expect(ev.message).toBe('waiting for first consumer to be created before binding');
  expect((await request(sim, 'GET', '/api/v1/namespaces/platform/persistentvolumeclaims/wffc')).json.status.phase).toBe('Pending');
  await createPod('platform', 'consumer', { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'wffc' } }] });
  await waitFor(async () => (await getPod('platform', 'consumer')).status.phase === 'Running');
  const bound = (await request(sim, 'GET', '/api/v1/namespaces/platform/persistentvolumeclaims/wffc')).json;
  expect(bound.status.phase).toBe('Bound');
  expect(bound.spec.volumeName).toMatch(/^pvc-/);
});
