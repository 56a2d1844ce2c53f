/**
 * Volume binding modes and node-local volumes: WaitForFirstConsumer claims bind when their first
 * pod is scheduled, node-local PVs carry the node affinity local-path-provisioner writes, and the
 * scheduler keeps pods on their volume's node (or reports the VolumeBinding reasons). Checked
 * with the real kubectl 1.27 and 1.33, @kubernetes/client-node and plain HTTPS.
 */
import { CoreV1Api, KubeConfig, StorageV1Api, type V1PersistentVolume, type V1Pod } from '@kubernetes/client-node';
import { startKubeSim, type KubeSim } from './sim';
import { request, waitFor } from './__testutils__/http';
import { kubectl, KUBECTL_VERSIONS } from './__testutils__/kubectl';

jest.setTimeout(90_000);

let sim: KubeSim;
/** the demo's own pods, before any test adds one */
let fixturePods: Array<{ metadata: { namespace: string; name: string }; spec: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  sim = await startKubeSim({ fixture: 'demo', runningDelayMs: 50, backoffDelayMs: 100, terminationDelayMs: 100 });
  fixturePods = (await request(sim, 'GET', '/api/v1/pods')).json.items;
});

afterAll(async () => {
  await sim?.stop();
});

const PREEMPTION = 'preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.';
const WAITING = 'waiting for first consumer to be created before binding';

const get = async (path: string) => (await request(sim, 'GET', path)).json;
const getPvc = (ns: string, name: string) => get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/${name}`);
const getPod = (ns: string, name: string) => get(`/api/v1/namespaces/${ns}/pods/${name}`);
const getPv = (name: string) => get(`/api/v1/persistentvolumes/${name}`);
const eventsOf = async (ns: string, name: string) =>
  (await get(`/api/v1/namespaces/${ns}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`)).items as Array<{ type: string; reason: string; message: string; source: { component: string } }>;
const running = (ns: string, name: string) => waitFor(async () => ((await getPod(ns, name)).status.phase === 'Running' ? getPod(ns, name) : undefined));
const failedScheduling = (ns: string, name: string) => waitFor(async () => (await eventsOf(ns, name)).find(e => e.reason === 'FailedScheduling'));

function hostnameAffinity(node: string) {
  return { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }] } };
}

async function create(path: string, body: Record<string, unknown>) {
  const r = await request(sim, 'POST', path, { body });
  expect(r.status).toBe(201);
  return r.json;
}

function podBody(name: string, claim: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: { containers: [{ name: 'c', image: 'alpine:3.20', volumeMounts: [{ name: 'd', mountPath: '/data' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: claim } }], ...spec },
  };
}

function claimBody(name: string, storageClassName: string) {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec: { storageClassName, accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
}

describe.each(KUBECTL_VERSIONS)('kubectl %s', version => {
  const k = (args: string[], input?: string) => kubectl(args, { kubeconfigPath: sim.kubeconfigPath, version, input });
  const v = version.replace('.', '-');
  const manifest = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-late-${v}
provisioner: rancher.io/local-path
reclaimPolicy: Delete
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: late-${v}
  namespace: platform
spec:
  storageClassName: local-late-${v}
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
`;
  /** a pod in platform that mounts late-<v> and is steered by a nodeSelector */
  const podManifest = (name: string, nodeSelector: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}-${v}
  namespace: platform
spec:
  nodeSelector: {${nodeSelector}}
  containers:
  - name: app
    image: alpine:3.20
    command: [sleep, "3600"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: late-${v}}
`;
  const consumer = podManifest('late-consumer', 'topology.kubernetes.io/zone: zone-b');
  const elsewhere = podManifest('late-elsewhere', 'kubernetes.io/hostname: node-a');

  it('keeps a WaitForFirstConsumer claim Pending until its pod is scheduled, then provisions on that node', async () => {
    const applied = await k(['apply', '-f', '-'], manifest);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toBe(`storageclass.storage.k8s.io/local-late-${v} created\npersistentvolumeclaim/late-${v} created\n`);

    const pending = await k(['get', 'pvc', `late-${v}`, '-n', 'platform', '--no-headers']);
    expect(pending.stdout.split(/\s+/).slice(0, 2)).toEqual([`late-${v}`, 'Pending']);
    const waitEvents = await k(['get', 'events', '-n', 'platform', '--field-selector', `involvedObject.name=late-${v}`, '-o', 'json']);
    expect(JSON.parse(waitEvents.stdout).items.map((e: { reason: string; message: string; source: { component: string } }) => [e.reason, e.message, e.source.component])).toEqual([
      ['WaitForFirstConsumer', WAITING, 'persistentvolume-controller'],
    ]);
    // nothing binds it while no pod uses it
    await new Promise(r => setTimeout(r, 300));
    expect((await getPvc('platform', `late-${v}`)).status.phase).toBe('Pending');

    expect((await k(['apply', '-f', '-'], consumer)).stdout).toBe(`pod/late-consumer-${v} created\n`);
    const waited = await k(['wait', '--for=jsonpath={.status.phase}=Bound', `pvc/late-${v}`, '-n', 'platform', '--timeout=30s']);
    expect(waited.stdout).toBe(`persistentvolumeclaim/late-${v} condition met\n`);
    const bound = await k(['get', 'pvc', `late-${v}`, '-n', 'platform', '--no-headers']);
    expect(bound.stdout.split(/\s+/).slice(0, 2)).toEqual([`late-${v}`, 'Bound']);

    const pvc = JSON.parse((await k(['get', 'pvc', `late-${v}`, '-n', 'platform', '-o', 'json'])).stdout);
    expect(pvc.metadata.annotations).toMatchObject({
      'volume.kubernetes.io/selected-node': 'node-b',
      'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
      'pv.kubernetes.io/bind-completed': 'yes',
    });
    const pv = JSON.parse((await k(['get', 'pv', pvc.spec.volumeName, '-o', 'json'])).stdout);
    expect(pv.spec.nodeAffinity).toEqual(hostnameAffinity('node-b'));
    expect(pv.spec.hostPath).toEqual({ path: `/opt/local-path-provisioner/${pvc.spec.volumeName}_platform_late-${v}`, type: 'DirectoryOrCreate' });
    expect(pv.spec.claimRef).toMatchObject({ namespace: 'platform', name: `late-${v}` });
    expect((await running('platform', `late-consumer-${v}`)).spec.nodeName).toBe('node-b');

    const described = await k(['describe', 'pvc', `late-${v}`, '-n', 'platform']);
    expect(described.code).toBe(0);
    for (const line of [
      /Status:\s+Bound/,
      /volume\.kubernetes\.io\/selected-node: node-b/,
      new RegExp(`Used By:\\s+late-consumer-${v}`),
      new RegExp(`WaitForFirstConsumer\\s+.*persistentvolume-controller\\s+${WAITING}`),
      /ExternalProvisioning\s+.*persistentvolume-controller\s+Waiting for a volume to be created either by the external provisioner 'rancher.io\/local-path' or manually by the system administrator/,
      new RegExp(`Provisioning\\s+.*rancher.io/local-path_\\S+\\s+External provisioner is provisioning volume for claim "platform/late-${v}"`),
      new RegExp(`ProvisioningSucceeded\\s+.*rancher.io/local-path_\\S+\\s+Successfully provisioned volume ${pvc.spec.volumeName}`),
    ]) {
      expect(described.stdout).toMatch(line);
    }
  });

  it('leaves a pod pinned to another node by nodeSelector Pending with the volume node affinity conflict', async () => {
    expect((await k(['apply', '-f', '-'], elsewhere)).stdout).toBe(`pod/late-elsewhere-${v} created\n`);
    // node-a holds the volume but the pod may not use it, node-b is not selected, node-storage is tainted
    const message = `0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: storage}, 1 node(s) had volume node affinity conflict. ${PREEMPTION}`;
    await failedScheduling('platform', `late-elsewhere-${v}`);
    const events = await k(['get', 'events', '-n', 'platform', '--field-selector', `involvedObject.name=late-elsewhere-${v},reason=FailedScheduling`, '-o', 'json']);
    const items = JSON.parse(events.stdout).items;
    expect(items[0]).toMatchObject({ type: 'Warning', message, source: { component: 'default-scheduler' } });
    const pod = JSON.parse((await k(['get', 'pod', `late-elsewhere-${v}`, '-n', 'platform', '-o', 'json'])).stdout);
    expect(pod.status.phase).toBe('Pending');
    expect(pod.spec.nodeName).toBeUndefined();
    expect(pod.status.conditions).toEqual([expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message })]);
  });
});

describe('@kubernetes/client-node', () => {
  let core: CoreV1Api;
  let storage: StorageV1Api;
  beforeAll(() => {
    const kc = new KubeConfig();
    kc.loadFromString(sim.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    storage = kc.makeApiClient(StorageV1Api);
  });

  it('binds on first consumer, ties the PV to the tainted node it landed on, and keeps other pods off', async () => {
    await storage.createStorageClass({ body: { metadata: { name: 'node-disk' }, provisioner: 'rancher.io/local-path', volumeBindingMode: 'WaitForFirstConsumer', reclaimPolicy: 'Delete' } });
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'search', body: claimBody('node-disk-claim', 'node-disk') });
    expect((await core.readNamespacedPersistentVolumeClaim({ namespace: 'search', name: 'node-disk-claim' })).status?.phase).toBe('Pending');
    const waiting = await waitFor(async () => (await core.listNamespacedEvent({ namespace: 'search', fieldSelector: 'involvedObject.name=node-disk-claim' })).items.find(e => e.reason === 'WaitForFirstConsumer'));
    expect(waiting.message).toBe(WAITING);

    // the consumer tolerates the storage node and selects it, so the volume lives there
    await core.createNamespacedPod({
      namespace: 'search',
      body: podBody('node-disk-writer', 'node-disk-claim', { nodeSelector: { 'nkvm.io/pool': 'storage' }, tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'storage', effect: 'NoSchedule' }] }) as V1Pod,
    });
    const claim = await waitFor(async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ namespace: 'search', name: 'node-disk-claim' });
      return c.status?.phase === 'Bound' && c;
    });
    expect(claim.metadata?.annotations?.['volume.kubernetes.io/selected-node']).toBe('node-storage');
    const pv: V1PersistentVolume = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
    expect(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0].matchExpressions).toEqual([{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-storage'] }]);
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe('rancher.io/local-path');

    // a pod without the toleration cannot follow its volume: the scheduler's real FitError
    await core.createNamespacedPod({ namespace: 'search', body: podBody('node-disk-reader', 'node-disk-claim') as V1Pod });
    const message = `0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: storage}, 2 node(s) had volume node affinity conflict. ${PREEMPTION}`;
    const ev = await failedScheduling('search', 'node-disk-reader');
    expect(ev.message).toBe(message);
    const reader = await core.readNamespacedPod({ namespace: 'search', name: 'node-disk-reader' });
    expect(reader.status?.phase).toBe('Pending');
    expect(reader.status?.conditions?.find(c => c.type === 'PodScheduled')?.message).toBe(message);
    // with the toleration it joins the writer on node-storage
    await core.createNamespacedPod({ namespace: 'search', body: podBody('node-disk-reader-2', 'node-disk-claim', { tolerations: [{ key: 'dedicated', operator: 'Exists' }] }) as V1Pod });
    expect((await running('search', 'node-disk-reader-2')).spec.nodeName).toBe('node-storage');
  });
});

describe('PV controller and scheduler', () => {
  /** an Immediate claim in payments, bound within 2 s */
  async function createBoundClaim(name: string, storageClassName: string) {
    await create('/api/v1/namespaces/payments/persistentvolumeclaims', claimBody(name, storageClassName));
    return waitFor(async () => {
      const c = await getPvc('payments', name);
      return c.status.phase === 'Bound' && c;
    }, 2_000);
  }

  it('provisions an Immediate node-local claim at once, on the first untainted node', async () => {
    const pvc = await createBoundClaim('instant', 'standard');
    expect(pvc.metadata.annotations['volume.kubernetes.io/selected-node']).toBeUndefined();
    expect(pvc.metadata.annotations['volume.kubernetes.io/storage-provisioner']).toBe('rancher.io/local-path');
    expect((await getPv(pvc.spec.volumeName)).spec.nodeAffinity).toEqual(hostnameAffinity('node-a'));
    const reasons = (await eventsOf('payments', 'instant')).map(e => e.reason);
    expect(reasons.sort()).toEqual(['ExternalProvisioning', 'Provisioning', 'ProvisioningSucceeded']);
    // a pod using it goes where the volume is, even if another node is less loaded
    await create('/api/v1/namespaces/payments/pods', podBody('instant-user', 'instant'));
    expect((await running('payments', 'instant-user')).spec.nodeName).toBe('node-a');
  });

  it('gives volumes of other classes no node affinity', async () => {
    const pvc = await createBoundClaim('anywhere', 'fast-ssd');
    const pv = await getPv(pvc.spec.volumeName);
    expect(pv.spec.nodeAffinity).toBeUndefined();
    expect(pv.spec.hostPath).toBeDefined();
  });

  it('ties fixture PVs of node-local classes to the node of the pod that mounts them, unmounted ones to the first untainted node', async () => {
    const nodeOf = (ns: string, claim: string): string | undefined =>
      fixturePods.find(p => p.metadata.namespace === ns && (p.spec.volumes ?? []).some((v: { persistentVolumeClaim?: { claimName: string } }) => v.persistentVolumeClaim?.claimName === claim))?.spec.nodeName;
    const cases: Array<[string, string, string | undefined]> = [
      ['payments', 'data-payments-db-0', nodeOf('payments', 'data-payments-db-0')],
      ['platform', 'platform-reports-output', nodeOf('platform', 'platform-reports-output')],
      ['platform', 'platform-scratch', nodeOf('platform', 'platform-scratch')],
      ['payments', 'payments-db-scratch', 'node-a'],
    ];
    for (const [ns, claim, node] of cases) {
      expect(node).toBeDefined();
      const pvc = await getPvc(ns, claim);
      const pv = await getPv(pvc.spec.volumeName);
      expect(pv.spec.nodeAffinity).toEqual(hostnameAffinity(node!));
      expect(pv.spec.hostPath.path).toBe(`/opt/local-path-provisioner/${pv.metadata.name}_${ns}_${claim}`);
    }
    // claims of other classes (RWX NFS, CSI disks) stay topology-free
    for (const [ns, claim] of [['payments', 'payments-api-uploads'], ['search', 'index-search-indexer-0']]) {
      expect((await getPv((await getPvc(ns, claim)).spec.volumeName)).spec.nodeAffinity).toBeUndefined();
    }
    // the demo's Pending WaitForFirstConsumer claim says why, like the real controller
    expect((await getPvc('search', 'search-api-snapshots')).status.phase).toBe('Pending');
    expect((await eventsOf('search', 'search-api-snapshots')).map(e => [e.reason, e.message])).toEqual([['WaitForFirstConsumer', WAITING]]);
  });

  it('still schedules a helper pod for every mounted demo claim next to its workload, and unmounted ones on their node', async () => {
    // what the backend does: pin to the mounting pod's node with a hostname nodeSelector and copy its tolerations
    const seen = new Set<string>();
    let i = 0;
    for (const p of fixturePods) {
      for (const vol of (p.spec.volumes ?? []).filter((x: { persistentVolumeClaim?: unknown }) => x.persistentVolumeClaim)) {
        const claim = vol.persistentVolumeClaim.claimName;
        const key = `${p.metadata.namespace}/${claim}`;
        const pvc = await getPvc(p.metadata.namespace, claim);
        if (seen.has(key) || pvc.spec.accessModes.includes('ReadWriteOncePod')) continue;
        seen.add(key);
        const name = `helper-${i++}`;
        await create(`/api/v1/namespaces/${p.metadata.namespace}/pods`, podBody(name, claim, { nodeSelector: { 'kubernetes.io/hostname': p.spec.nodeName }, tolerations: p.spec.tolerations }));
        expect((await running(p.metadata.namespace, name)).spec.nodeName).toBe(p.spec.nodeName);
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(6);
    await create('/api/v1/namespaces/payments/pods', podBody('scratch-helper', 'payments-db-scratch'));
    expect((await running('payments', 'scratch-helper')).spec.nodeName).toBe('node-a');
  });

  it('binds a statically provisioned local PV on the node the scheduler picks, or reports none left', async () => {
    await create('/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'local-disks' }, provisioner: 'kubernetes.io/no-provisioner', volumeBindingMode: 'WaitForFirstConsumer' });
    await create('/api/v1/persistentvolumes', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'local-disk-b' },
      spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], storageClassName: 'local-disks', local: { path: '/mnt/disks/ssd1' }, nodeAffinity: hostnameAffinity('node-b') },
    });
    await create('/api/v1/namespaces/platform/persistentvolumeclaims', claimBody('disk-1', 'local-disks'));
    await create('/api/v1/namespaces/platform/persistentvolumeclaims', claimBody('disk-2', 'local-disks'));
    expect((await getPvc('platform', 'disk-1')).status.phase).toBe('Pending');
    await create('/api/v1/namespaces/platform/pods', podBody('disk-user-1', 'disk-1'));
    expect((await running('platform', 'disk-user-1')).spec.nodeName).toBe('node-b');
    const pvc = await getPvc('platform', 'disk-1');
    expect(pvc.spec.volumeName).toBe('local-disk-b');
    expect(pvc.metadata.annotations['volume.kubernetes.io/selected-node']).toBeUndefined();
    expect((await getPv('local-disk-b')).spec.claimRef).toMatchObject({ namespace: 'platform', name: 'disk-1' });

    await create('/api/v1/namespaces/platform/pods', podBody('disk-user-2', 'disk-2'));
    const ev = await failedScheduling('platform', 'disk-user-2');
    expect(ev.message).toBe(`0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: storage}, 2 node(s) didn't find available persistent volumes to bind. ${PREEMPTION}`);
    expect((await getPvc('platform', 'disk-2')).status.phase).toBe('Pending');
  });

  it('refuses to mount a local volume in a pod placed on another node by nodeName', async () => {
    const pvName = (await getPvc('payments', 'payments-db-scratch')).spec.volumeName;
    const pod = await create('/api/v1/namespaces/payments/pods', podBody('wrong-node', 'payments-db-scratch', { nodeName: 'node-b' }));
    const ev = await waitFor(async () => (await eventsOf('payments', 'wrong-node')).find(e => e.reason === 'FailedMount'));
    expect(ev).toMatchObject({
      type: 'Warning',
      message: `MountVolume.NodeAffinity check failed for volume "${pvName}" (UniqueName: "kubernetes.io/host-path/${pvName}") pod "wrong-node" (UID: "${pod.metadata.uid}") : no matching NodeSelectorTerms`,
      source: { component: 'kubelet', host: 'node-b' },
    });
    expect((await getPod('payments', 'wrong-node')).status.phase).toBe('Pending');
  });
});
