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
  errors: InventoryError[];
}

export interface CollectOptions {
  /** Only these namespaces; undefined means every namespace the backend may read. */
  namespaces?: string[];
  maxNamespaceScan: number;
  signal: AbortSignal;
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
  const queue = [...scan];
  const worker = async () => {
    for (let ns = queue.shift(); ns !== undefined; ns = queue.shift()) {
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
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return result;
}

export async function collectClusterObjects(
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
  let namespaces: string[];
  try {
    namespaces = (await client.list<V1Namespace>('namespaces', { signal: options.signal }))
      .map(n => n.metadata?.name ?? '')
      .filter(Boolean);
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
  return perNamespace(client, namespaces, options, errors);
}
