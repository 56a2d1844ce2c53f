/*
 * Reads what an inventory needs from one cluster: PVCs, pods, StatefulSets, and the
 * ReplicaSets and Jobs that own mounting pods. Cluster-wide paginated lists when the backend may
 * use them, otherwise one namespace at a time (up to maxNamespaceScan). A forbidden namespace
 * becomes an error entry; the rest still answers.
 */
import type {
  V1Job,
  V1Namespace,
  V1PersistentVolumeClaim,
  V1Pod,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type { InventoryError } from '@nkvm/backstage-plugin-volume-manager-common';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { KubernetesApiError } from '../../kubernetes/errors';

export interface ClusterObjects {
  pvcs: V1PersistentVolumeClaim[];
  pods: V1Pod[];
  statefulSets: V1StatefulSet[];
  replicaSets: V1ReplicaSet[];
  jobs: V1Job[];
  /** The Namespace objects of the PVCs' namespaces, when asked for (readNamespaces). */
  namespaces?: V1Namespace[];
  errors: InventoryError[];
}

export interface CollectOptions {
  /** Only these namespaces; undefined means every namespace the backend may read. */
  namespaces?: string[];
  maxNamespaceScan: number;
  signal: AbortSignal;
  /** Also read the Namespace objects (their labels bind namespaces to owners). */
  readNamespaces?: boolean;
}

export function toInventoryError(
  cluster: string,
  error: unknown,
  namespace?: string,
): InventoryError {
  if (error instanceof KubernetesApiError) {
    const code = error.clusterStatusCode;
    let errorType: InventoryError['errorType'] = 'UNKNOWN';
    if (code === 403) errorType = 'RBAC_GAP';
    else if (code === 401) errorType = 'UNAUTHORIZED';
    else if (code === undefined) {
      errorType = error.message.includes('did not answer in time') ? 'TIMEOUT' : 'CLUSTER_UNREACHABLE';
    }
    return { cluster, namespace, errorType, message: error.message, statusCode: code };
  }
  return {
    cluster,
    namespace,
    errorType: 'UNKNOWN',
    message: `Cluster '${cluster}': ${(error as Error)?.message ?? String(error)}`,
  };
}

function ownerKind(pod: V1Pod): string | undefined {
  const refs = pod.metadata?.ownerReferences ?? [];
  return (refs.find(r => r.controller) ?? refs[0])?.kind;
}

function mountsAnyPvc(pod: V1Pod): boolean {
  return (pod.spec?.volumes ?? []).some(v => v.persistentVolumeClaim);
}

/** Lists owners only when some mounting pod needs them. */
async function listOwners(
  client: ClusterClient,
  pods: V1Pod[],
  namespace: string | undefined,
  signal: AbortSignal,
) {
  const kinds = new Set(pods.filter(mountsAnyPvc).map(ownerKind));
  const [replicaSets, jobs] = await Promise.all([
    kinds.has('ReplicaSet')
      ? client.list<V1ReplicaSet>('replicasets', { namespace, signal })
      : Promise.resolve([]),
    kinds.has('Job') ? client.list<V1Job>('jobs', { namespace, signal }) : Promise.resolve([]),
  ]);
  return { replicaSets, jobs };
}

async function collectScope(
  client: ClusterClient,
  namespace: string | undefined,
  signal: AbortSignal,
): Promise<Omit<ClusterObjects, 'errors'>> {
  const [pvcs, pods, statefulSets] = await Promise.all([
    client.list<V1PersistentVolumeClaim>('persistentvolumeclaims', { namespace, signal }),
    client.list<V1Pod>('pods', { namespace, signal }),
    client.list<V1StatefulSet>('statefulsets', { namespace, signal }),
  ]);
  const owners = await listOwners(client, pods, namespace, signal);
  return { pvcs, pods, statefulSets, ...owners };
}

/** Runs `task` over `items`, at most `parallel` at a time. */
async function eachLimited<T>(items: T[], parallel: number, task: (item: T) => Promise<void>) {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

async function perNamespace(
  client: ClusterClient,
  namespaces: string[],
  options: CollectOptions,
  errors: InventoryError[],
): Promise<ClusterObjects> {
  const result: ClusterObjects = {
    pvcs: [],
    pods: [],
    statefulSets: [],
    replicaSets: [],
    jobs: [],
    errors,
  };
  let scan = namespaces;
  if (namespaces.length > options.maxNamespaceScan) {
    scan = namespaces.slice(0, options.maxNamespaceScan);
    errors.push({
      cluster: client.cluster,
      errorType: 'NAMESPACE_LIMIT',
      message:
        `Cluster '${client.cluster}': listed ${scan.length} of ${namespaces.length} namespaces one by one ` +
        `(discovery.maxNamespaceScan). Grant cluster-wide list or narrow volumeManager.allowedNamespaces.`,
    });
  }
  await eachLimited(scan, 4, async ns => {
    try {
      const objects = await collectScope(client, ns, options.signal);
      result.pvcs.push(...objects.pvcs);
      result.pods.push(...objects.pods);
      result.statefulSets.push(...objects.statefulSets);
      result.replicaSets.push(...objects.replicaSets);
      result.jobs.push(...objects.jobs);
    } catch (error) {
      if (options.signal.aborted) throw error;
      errors.push(toInventoryError(client.cluster, error, ns));
    }
  });
  return result;
}

/**
 * The Namespace objects of the namespaces that hold PVCs: one cluster-wide list, or, when that is
 * forbidden, one get per namespace. A namespace the backend may not read becomes an error entry
 * (an RBAC gap) and is left out, so no binding is found for it.
 */
async function readNamespaceObjects(
  client: ClusterClient,
  objects: ClusterObjects,
  signal: AbortSignal,
): Promise<V1Namespace[]> {
  const wanted = [...new Set(objects.pvcs.map(p => p.metadata?.namespace ?? ''))].filter(Boolean).sort();
  if (wanted.length === 0) return [];
  const unread = (error: unknown, namespace?: string) => {
    if (signal.aborted) throw error;
    const entry = toInventoryError(client.cluster, error, namespace);
    objects.errors.push({
      ...entry,
      message: `${entry.message} Until the backend can read the namespace's owner label, no entity may claim its PVCs (volumeManager.ownership).`,
    });
  };
  try {
    const all = await client.list<V1Namespace>('namespaces', { signal });
    return all.filter(n => wanted.includes(n.metadata?.name ?? ''));
  } catch (error) {
    if (!(error instanceof KubernetesApiError) || error.clusterStatusCode !== 403) {
      unread(error);
      return [];
    }
  }
  const found: V1Namespace[] = [];
  await eachLimited(wanted, 4, async name => {
    try {
      found.push(await client.get<V1Namespace>('namespaces', undefined, name, { signal }));
    } catch (error) {
      unread(error, name);
    }
  });
  return found;
}

export async function collectClusterObjects(
  client: ClusterClient,
  options: CollectOptions,
): Promise<ClusterObjects> {
  const objects = await collectWorkloads(client, options);
  if (options.readNamespaces && !objects.namespaces) {
    objects.namespaces = await readNamespaceObjects(client, objects, options.signal);
  }
  return objects;
}

async function collectWorkloads(
  client: ClusterClient,
  options: CollectOptions,
): Promise<ClusterObjects> {
  const errors: InventoryError[] = [];
  if (options.namespaces) {
    return perNamespace(client, options.namespaces, options, errors);
  }
  try {
    return { ...(await collectScope(client, undefined, options.signal)), errors };
  } catch (error) {
    if (!(error instanceof KubernetesApiError) || error.clusterStatusCode !== 403) throw error;
  }
  // Cluster-wide lists are forbidden: fall back to the namespaces we may list.
  let namespaces: V1Namespace[];
  try {
    namespaces = await client.list<V1Namespace>('namespaces', { signal: options.signal });
  } catch (error) {
    if (!(error instanceof KubernetesApiError) || error.clusterStatusCode !== 403) throw error;
    errors.push({
      ...toInventoryError(client.cluster, error),
      message:
        `${toInventoryError(client.cluster, error).message} Without cluster-wide lists or a ` +
        `namespace list, set volumeManager.allowedNamespaces so the backend knows where to look.`,
    });
    return { pvcs: [], pods: [], statefulSets: [], replicaSets: [], jobs: [], errors };
  }
  const names = namespaces.map(n => n.metadata?.name ?? '').filter(Boolean);
  const objects = await perNamespace(client, names, options, errors);
  // The list just read is reused for the owner binding: one namespace read per inventory pass.
  return options.readNamespaces ? { ...objects, namespaces } : objects;
}
