/** The resource types kube-sim serves, with the discovery data the real apiserver reports. */

export interface ResourceType {
  group: string;
  version: string;
  /** plural resource name, e.g. `pods` */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  verbs: string[];
  subresources?: Array<{ name: string; kind: string; verbs: string[] }>;
  /** names must be RFC 1123 labels (namespaces) rather than subdomains */
  nameIsLabel?: boolean;
  /** create-only virtual resources (access reviews): never stored */
  virtual?: boolean;
  storageVersionHash?: string;
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const CLUSTER_VERBS = ALL_VERBS;

export const RESOURCE_TYPES: ResourceType[] = [
  { group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', listKind: 'NamespaceList', namespaced: false, shortNames: ['ns'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], nameIsLabel: true, storageVersionHash: 'Q3oi5N2YM8M=' },
  { group: '', version: 'v1', resource: 'nodes', singular: 'node', kind: 'Node', listKind: 'NodeList', namespaced: false, shortNames: ['no'], verbs: CLUSTER_VERBS, storageVersionHash: 'XwShjMxG9Fs=' },
  {
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', listKind: 'PodList', namespaced: true, shortNames: ['po'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'xPOwRZ+Yhw8=',
    subresources: [
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'status', kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    ],
  },
  { group: '', version: 'v1', resource: 'persistentvolumeclaims', singular: 'persistentvolumeclaim', kind: 'PersistentVolumeClaim', listKind: 'PersistentVolumeClaimList', namespaced: true, shortNames: ['pvc'], verbs: ALL_VERBS, storageVersionHash: 'QWTyNDq0dC4=', subresources: [{ name: 'status', kind: 'PersistentVolumeClaim', verbs: ['get', 'patch', 'update'] }] },
  { group: '', version: 'v1', resource: 'persistentvolumes', singular: 'persistentvolume', kind: 'PersistentVolume', listKind: 'PersistentVolumeList', namespaced: false, shortNames: ['pv'], verbs: CLUSTER_VERBS, storageVersionHash: 'HN/zwEC+JgM=', subresources: [{ name: 'status', kind: 'PersistentVolume', verbs: ['get', 'patch', 'update'] }] },
  { group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', listKind: 'EventList', namespaced: true, shortNames: ['ev'], verbs: ALL_VERBS, storageVersionHash: 'r2yiGXH7wu8=' },
  { group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', listKind: 'SecretList', namespaced: true, verbs: ALL_VERBS, storageVersionHash: 'S6u1pOWzb84=' },
  { group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', listKind: 'ConfigMapList', namespaced: true, shortNames: ['cm'], verbs: ALL_VERBS, storageVersionHash: 'qFsyl6wFWjQ=' },
  { group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', listKind: 'ServiceAccountList', namespaced: true, shortNames: ['sa'], verbs: ALL_VERBS, storageVersionHash: 'pbx9ZvyFpBE=', subresources: [{ name: 'token', kind: 'TokenRequest', verbs: ['create'] }] },
  { group: 'apps', version: 'v1', resource: 'deployments', singular: 'deployment', kind: 'Deployment', listKind: 'DeploymentList', namespaced: true, shortNames: ['deploy'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: '8aSe+NMegvE=', subresources: [{ name: 'status', kind: 'Deployment', verbs: ['get', 'patch', 'update'] }] },
  { group: 'apps', version: 'v1', resource: 'replicasets', singular: 'replicaset', kind: 'ReplicaSet', listKind: 'ReplicaSetList', namespaced: true, shortNames: ['rs'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'P1RzHs8/mWQ=', subresources: [{ name: 'status', kind: 'ReplicaSet', verbs: ['get', 'patch', 'update'] }] },
  { group: 'apps', version: 'v1', resource: 'statefulsets', singular: 'statefulset', kind: 'StatefulSet', listKind: 'StatefulSetList', namespaced: true, shortNames: ['sts'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'H+vl74LkKdo=', subresources: [{ name: 'status', kind: 'StatefulSet', verbs: ['get', 'patch', 'update'] }] },
  { group: 'apps', version: 'v1', resource: 'daemonsets', singular: 'daemonset', kind: 'DaemonSet', listKind: 'DaemonSetList', namespaced: true, shortNames: ['ds'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'dd7pWHUlMKQ=', subresources: [{ name: 'status', kind: 'DaemonSet', verbs: ['get', 'patch', 'update'] }] },
  { group: 'batch', version: 'v1', resource: 'jobs', singular: 'job', kind: 'Job', listKind: 'JobList', namespaced: true, categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'mudhfqk/qZY=', subresources: [{ name: 'status', kind: 'Job', verbs: ['get', 'patch', 'update'] }] },
  { group: 'batch', version: 'v1', resource: 'cronjobs', singular: 'cronjob', kind: 'CronJob', listKind: 'CronJobList', namespaced: true, shortNames: ['cj'], categories: ['all'], verbs: ALL_VERBS, storageVersionHash: 'sd5LIXh4Fjs=', subresources: [{ name: 'status', kind: 'CronJob', verbs: ['get', 'patch', 'update'] }] },
  { group: 'storage.k8s.io', version: 'v1', resource: 'storageclasses', singular: 'storageclass', kind: 'StorageClass', listKind: 'StorageClassList', namespaced: false, shortNames: ['sc'], verbs: CLUSTER_VERBS, storageVersionHash: 'K+m6uJwbjGY=' },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', kind: 'SelfSubjectAccessReview', listKind: 'SelfSubjectAccessReviewList', namespaced: false, verbs: ['create'], virtual: true },
  { group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectrulesreviews', singular: 'selfsubjectrulesreview', kind: 'SelfSubjectRulesReview', listKind: 'SelfSubjectRulesReviewList', namespaced: false, verbs: ['create'], virtual: true },
];

export const GROUPS: Array<{ name: string; version: string }> = [
  { name: 'apps', version: 'v1' },
  { name: 'batch', version: 'v1' },
  { name: 'storage.k8s.io', version: 'v1' },
  { name: 'authorization.k8s.io', version: 'v1' },
];

export function resourceId(t: { group: string; resource: string }): string {
  return t.group ? `${t.group}/${t.resource}` : t.resource;
}

const byGvr = new Map<string, ResourceType>();
const byKind = new Map<string, ResourceType>();
for (const t of RESOURCE_TYPES) {
  byGvr.set(`${t.group}/${t.version}/${t.resource}`, t);
  byKind.set(`${t.group}/${t.kind}`, t);
}

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return byGvr.get(`${group}/${version}/${resource}`);
}

/** Looks up a type by `apiVersion` + `kind`, as found in a manifest or ownerReference. */
export function findByKind(apiVersion: string, kind: string): ResourceType | undefined {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
  return byKind.get(`${group}/${kind}`);
}

export function apiVersionOf(t: ResourceType): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

export const POD = findResource('', 'v1', 'pods')!;
export const PVC = findResource('', 'v1', 'persistentvolumeclaims')!;
export const PV = findResource('', 'v1', 'persistentvolumes')!;
export const STORAGE_CLASS = findResource('storage.k8s.io', 'v1', 'storageclasses')!;
export const NODE = findResource('', 'v1', 'nodes')!;
export const NAMESPACE = findResource('', 'v1', 'namespaces')!;
export const EVENT = findResource('', 'v1', 'events')!;
export const SECRET = findResource('', 'v1', 'secrets')!;
export const CONFIG_MAP = findResource('', 'v1', 'configmaps')!;
export const SERVICE_ACCOUNT = findResource('', 'v1', 'serviceaccounts')!;
