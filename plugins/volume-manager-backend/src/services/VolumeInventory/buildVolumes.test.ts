import type { V1Job, V1PersistentVolumeClaim, V1Pod, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';
import { buildVolumes } from './buildVolumes';
import { entityMatcher } from './entityMatch';

const pvc = (name: string, extra: Partial<V1PersistentVolumeClaim['metadata']> = {}): V1PersistentVolumeClaim => ({
  metadata: { name, namespace: 'ns', ...extra },
  spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'standard', volumeName: `pv-${name}`, resources: { requests: { storage: '1Gi' } } },
  status: { phase: 'Bound', capacity: { storage: '2Gi' } },
});

const pod = (
  name: string,
  claim: string,
  owner?: { kind: string; name: string },
  extra: { labels?: Record<string, string>; phase?: string; readOnly?: boolean } = {},
): V1Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    labels: extra.labels,
    ownerReferences: owner ? [{ apiVersion: 'v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] : undefined,
  },
  spec: {
    nodeName: 'node-a',
    containers: [{ name: 'c', volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: extra.readOnly }] }],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
  },
  status: { phase: extra.phase ?? 'Running' },
});

const owned = (kind: string, name: string, owner?: { kind: string; name: string }) => ({
  metadata: {
    name,
    namespace: 'ns',
    ownerReferences: owner ? [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: 'u', controller: true }] : undefined,
  },
  kind,
});

const empty = { pvcs: [], pods: [], statefulSets: [], replicaSets: [], jobs: [], errors: [] };

describe('buildVolumes', () => {
  it('resolves every owner kind through ownerReferences', () => {
    const volumes = buildVolumes(
      {
        ...empty,
        pvcs: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(n => pvc(n)),
        pods: [
          pod('p-a', 'a', { kind: 'ReplicaSet', name: 'web-123' }),
          pod('p-b', 'b', { kind: 'StatefulSet', name: 'db' }),
          pod('p-c', 'c', { kind: 'DaemonSet', name: 'logs' }),
          pod('p-d', 'd', { kind: 'Job', name: 'report-1' }),
          pod('p-e', 'e', { kind: 'Job', name: 'one-off' }),
          pod('p-f', 'f'),
          pod('p-g', 'g', { kind: 'ReplicaSet', name: 'bare-rs' }),
          pod('p-h', 'h', { kind: 'Job', name: 'done' }, { phase: 'Succeeded' }),
        ],
        replicaSets: [
          owned('ReplicaSet', 'web-123', { kind: 'Deployment', name: 'web' }) as V1ReplicaSet,
          owned('ReplicaSet', 'bare-rs') as V1ReplicaSet,
        ],
        jobs: [
          owned('Job', 'report-1', { kind: 'CronJob', name: 'report' }) as V1Job,
          owned('Job', 'one-off') as V1Job,
        ],
      },
      { cluster: 'c1', entities: [] },
    );
    expect(volumes.map(v => [v.name, v.owner])).toEqual([
      ['a', { kind: 'Deployment', name: 'web' }],
      ['b', { kind: 'StatefulSet', name: 'db' }],
      ['c', { kind: 'DaemonSet', name: 'logs' }],
      ['d', { kind: 'CronJob', name: 'report' }],
      ['e', { kind: 'Job', name: 'one-off' }],
      ['f', { kind: 'Pod', name: 'p-f' }],
      ['g', { kind: 'ReplicaSet', name: 'bare-rs' }],
      // A finished Job's pod no longer uses the volume: it is unmounted.
      ['h', null],
    ]);
  });

  it('reports capacity, access modes, mounts and read-only mounts', () => {
    const [v] = buildVolumes(
      { ...empty, pvcs: [pvc('a')], pods: [pod('p2', 'a', undefined, { readOnly: true }), pod('p1', 'a')] },
      { cluster: 'c1', entities: [] },
    );
    expect(v).toEqual({
      cluster: 'c1',
      namespace: 'ns',
      name: 'a',
      phase: 'Bound',
      capacity: { requested: '1Gi', actual: '2Gi' },
      storageClass: 'standard',
      accessModes: ['ReadWriteOnce'],
      volumeName: 'pv-a',
      owner: { kind: 'Pod', name: 'p1' },
      mounts: [
        { pod: 'p1', node: 'node-a', readOnly: false },
        { pod: 'p2', node: 'node-a', readOnly: true },
      ],
      lastSuccessfulBackup: null,
      lastStatus: null,
    });
  });

  it('matches entities by mounting pod labels, PVC labels and StatefulSet claim templates', () => {
    const entity = (name: string, annotations: Record<string, string>) =>
      entityMatcher({ apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name, annotations } });
    const sts: V1StatefulSet = {
      metadata: { name: 'db', namespace: 'ns', labels: { 'backstage.io/kubernetes-id': 'db' } },
      spec: { selector: {}, serviceName: 'db', template: {}, volumeClaimTemplates: [{ metadata: { name: 'data' } }] },
    };
    const volumes = buildVolumes(
      {
        ...empty,
        pvcs: [pvc('web-cache'), pvc('labelled', { labels: { app: 'api', tier: 'backend' } }), pvc('data-db-0'), pvc('data-db-x'), pvc('other')],
        pods: [pod('web-1', 'web-cache', undefined, { labels: { 'backstage.io/kubernetes-id': 'web' } })],
        statefulSets: [sts],
      },
      {
        cluster: 'c1',
        entities: [
          entity('web', { 'backstage.io/kubernetes-id': 'web' }),
          entity('api', { 'backstage.io/kubernetes-label-selector': 'app=api,tier=backend' }),
          entity('db', { 'backstage.io/kubernetes-id': 'db', 'backstage.io/kubernetes-namespace': 'ns' }),
          entity('elsewhere', { 'backstage.io/kubernetes-id': 'web', 'backstage.io/kubernetes-namespace': 'other-ns' }),
        ],
      },
    );
    expect(Object.fromEntries(volumes.map(v => [v.name, v.entityRef]))).toEqual({
      'web-cache': 'component:default/web',
      labelled: 'component:default/api',
      'data-db-0': 'component:default/db',
      'data-db-x': undefined,
      other: undefined,
    });
  });
});

describe('buildVolumes ownership (a catalog edit cannot take a PVC)', () => {
  const component = (name: string, owner: string, annotations: Record<string, string>) =>
    entityMatcher({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name, namespace: 'default', annotations },
      spec: { owner },
    });
  // The real owner's database, and a second team's entity that claims it too. Its ref sorts
  // first, so "the first match wins" would hand the PVC to the attacker.
  const owner = component('payments-db', 'team-payments', { 'backstage.io/kubernetes-id': 'payments-db' });
  const copycat = component('a-search-tool', 'team-search', { 'backstage.io/kubernetes-id': 'payments-db' });
  const everything = component('a-catch-all', 'group:default/team-search', {
    'backstage.io/kubernetes-label-selector': '!no-such-label',
  });
  const objects = {
    ...empty,
    pvcs: [pvc('data-payments-db-0'), pvc('unrelated')],
    pods: [pod('payments-db-0', 'data-payments-db-0', undefined, { labels: { 'backstage.io/kubernetes-id': 'payments-db' } })],
  };
  const ownership = (volumes: ReturnType<typeof buildVolumes>) =>
    Object.fromEntries(volumes.map(v => [v.name, { entityRef: v.entityRef, ambiguous: v.ambiguousOwnership?.entityRefs }]));

  it('gives the PVC to its only claimant', () => {
    expect(ownership(buildVolumes(objects, { cluster: 'c1', entities: [owner] }))).toEqual({
      'data-payments-db-0': { entityRef: 'component:default/payments-db', ambiguous: undefined },
      unrelated: { entityRef: undefined, ambiguous: undefined },
    });
  });

  it("makes a PVC ambiguous when a second entity copies the owner's kubernetes-id", () => {
    expect(ownership(buildVolumes(objects, { cluster: 'c1', entities: [copycat, owner] }))).toEqual({
      'data-payments-db-0': {
        entityRef: undefined,
        ambiguous: ['component:default/a-search-tool', 'component:default/payments-db'],
      },
      unrelated: { entityRef: undefined, ambiguous: undefined },
    });
  });

  it('makes every PVC ambiguous or its own when an entity selects everything', () => {
    expect(ownership(buildVolumes(objects, { cluster: 'c1', entities: [everything, owner] }))).toEqual({
      'data-payments-db-0': {
        entityRef: undefined,
        ambiguous: ['component:default/a-catch-all', 'component:default/payments-db'],
      },
      // Matched by the catch-all alone: a namespace binding is what stops this (next test).
      unrelated: { entityRef: 'component:default/a-catch-all', ambiguous: undefined },
    });
  });

  it("drops claims whose spec.owner is not the namespace's bound owner", () => {
    const bound = { ns: 'group:default/team-payments' } as Record<string, string>;
    const volumes = buildVolumes(objects, {
      cluster: 'c1',
      entities: [everything, copycat, owner],
      ownerOfNamespace: ns => bound[ns],
    });
    expect(ownership(volumes)).toEqual({
      'data-payments-db-0': { entityRef: 'component:default/payments-db', ambiguous: undefined },
      unrelated: { entityRef: undefined, ambiguous: undefined },
    });
  });

  it('lets no entity claim a PVC in a namespace without a binding once binding is on', () => {
    const volumes = buildVolumes(objects, { cluster: 'c1', entities: [owner], ownerOfNamespace: () => undefined });
    expect(volumes.map(v => v.entityRef)).toEqual([undefined, undefined]);
  });

  it('normalises spec.owner as the catalog does', () => {
    const refOf = (specOwner: string, namespace = 'default') =>
      entityMatcher({ apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'x', namespace }, spec: { owner: specOwner } }).ownerRef;
    expect(refOf('team-payments')).toBe('group:default/team-payments');
    expect(refOf('Group:default/Team-Payments')).toBe('group:default/team-payments');
    expect(refOf('user:alice')).toBe('user:default/alice');
    expect(refOf('team-x', 'ops')).toBe('group:ops/team-x');
  });
});
