/*
 * What backup and restore helpers share: which pods use a PVC (and the workloads behind them),
 * whose identity a helper takes, which node taints it must tolerate, why admission refused it,
 * and how it is deleted. The executors differ only in what they run inside the helper.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import type {
  V1Deployment,
  V1Job,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodSpec,
  V1ReplicaSet,
  V1StatefulSet,
  V1Toleration,
} from '@kubernetes/client-node';
import { HELPER_POD_MANAGED_BY_LABEL, type VolumeOwner } from '@nkvm/backstage-plugin-volume-manager-common';
import type { ClusterClient } from '../../kubernetes/ClusterClient';
import { KubernetesApiError } from '../../kubernetes/errors';
import { deletePod, getNode, getPod, listPods } from '../../kubernetes/pods';
import { claimTemplatePattern, resolveOwner } from '../VolumeInventory/buildVolumes';
import { describeHelperIdentity, type WorkloadIdentity } from './helperPodSpec';

export function mountsClaim(pod: V1Pod, claim: string): boolean {
  return (pod.spec?.volumes ?? []).some(v => v.persistentVolumeClaim?.claimName === claim);
}

export function isActive(pod: V1Pod): boolean {
  return pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed';
}

/** Non-terminal pods other than our helpers that mount the claim, sorted by name. */
export async function podsUsingClaim(
  client: ClusterClient,
  namespace: string,
  claim: string,
  signal: AbortSignal,
): Promise<V1Pod[]> {
  return (await listPods(client, { namespace, signal }))
    .filter(p => isActive(p) && mountsClaim(p, claim))
    .filter(p => !p.metadata?.labels?.[HELPER_POD_MANAGED_BY_LABEL])
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/**
 * The workload that owns each pod (Pod -> ReplicaSet -> Deployment, Job -> CronJob, ...), as the
 * inventory resolves it. Without read access to ReplicaSets or Jobs the nearest owner is named.
 */
export async function ownersOf(client: ClusterClient, namespace: string, pods: V1Pod[], signal: AbortSignal): Promise<VolumeOwner[]> {
  const kinds = new Set(pods.flatMap(p => (p.metadata?.ownerReferences ?? []).map(r => r.kind)));
  const byKey = <T extends { metadata?: { name?: string } }>(items: T[]) =>
    new Map(items.map(i => [`${namespace}/${i.metadata?.name}`, i] as const));
  const listOrNone = async <T>(resource: 'replicasets' | 'jobs', wanted: boolean): Promise<T[]> => {
    if (!wanted) return [];
    try {
      return await client.list<T>(resource, { namespace, signal });
    } catch {
      return [];
    }
  };
  const replicaSets = byKey(await listOrNone<V1ReplicaSet>('replicasets', kinds.has('ReplicaSet')));
  const jobs = byKey(await listOrNone<V1Job>('jobs', kinds.has('Job')));
  return pods.map(p => resolveOwner(p, replicaSets, jobs));
}

/** The identity of a pod (spec) as it applies to the container that mounts the claim. */
export function workloadSecurity(pod: { spec?: V1PodSpec } | undefined, claim: string): WorkloadIdentity | undefined {
  if (!pod) return undefined;
  const volumeNames = new Set(
    (pod.spec?.volumes ?? []).filter(v => v.persistentVolumeClaim?.claimName === claim).map(v => v.name),
  );
  const container = (pod.spec?.containers ?? []).find(c =>
    (c.volumeMounts ?? []).some(m => volumeNames.has(m.name)),
  );
  const podCtx = pod.spec?.securityContext;
  const containerCtx = container?.securityContext;
  return {
    runAsUser: containerCtx?.runAsUser ?? podCtx?.runAsUser,
    runAsGroup: containerCtx?.runAsGroup ?? podCtx?.runAsGroup,
    runAsNonRoot: containerCtx?.runAsNonRoot ?? podCtx?.runAsNonRoot,
    fsGroup: podCtx?.fsGroup,
    supplementalGroups: podCtx?.supplementalGroups,
  };
}

/**
 * The identity of the workload that would mount the claim when none of its pods runs (it was
 * scaled down for an in-place restore): a Deployment whose pod template mounts it, or a
 * StatefulSet whose claim template made it. Undefined when no such workload can be read.
 */
export async function templateSecurity(
  client: ClusterClient,
  namespace: string,
  claim: string,
  signal: AbortSignal,
): Promise<WorkloadIdentity | undefined> {
  const list = async <T>(resource: 'deployments' | 'statefulsets'): Promise<T[]> => {
    try {
      return await client.list<T>(resource, { namespace, signal });
    } catch {
      return [];
    }
  };
  for (const sts of await list<V1StatefulSet>('statefulsets')) {
    const template = sts.spec?.template;
    const pattern = claimTemplatePattern(sts);
    const match = pattern?.exec(claim);
    if (match) {
      // The template's volume name is the claim template's name; present it as the claim.
      const spec = template?.spec;
      const volumes = [...(spec?.volumes ?? []), { name: match[1], persistentVolumeClaim: { claimName: claim } }];
      return workloadSecurity({ spec: spec && { ...spec, volumes } }, claim);
    }
    if (template?.spec && mountsClaim({ spec: template.spec }, claim)) return workloadSecurity(template, claim);
  }
  for (const deployment of await list<V1Deployment>('deployments')) {
    const template = deployment.spec?.template;
    if (template?.spec && mountsClaim({ spec: template.spec }, claim)) return workloadSecurity(template, claim);
  }
  return undefined;
}

/** The `kubernetes.io/hostname` label of a node (its name when the node cannot be read). */
export async function hostnameOf(
  client: ClusterClient,
  node: string,
  signal: AbortSignal,
  cancelled: () => Error,
): Promise<string> {
  try {
    const n = await getNode(client, node, signal);
    return n.metadata?.labels?.['kubernetes.io/hostname'] ?? node;
  } catch {
    if (signal.aborted) throw cancelled();
    return node; // without `get nodes`, the node name is the usual hostname label
  }
}

/**
 * The tolerations a helper needs to land where an unmounted PVC's volume lives: a node-local PV
 * (local-path, local volumes) carries node affinity, and if that node is tainted no pod is there
 * to copy tolerations from. Without read access to the PV or the node this gives none, and the
 * helper's Pending reason says why.
 */
export async function tolerationsForVolumeNode(
  client: ClusterClient,
  pvc: V1PersistentVolumeClaim,
  signal: AbortSignal,
  cancelled: () => Error,
): Promise<V1Toleration[] | undefined> {
  const volumeName = pvc.spec?.volumeName;
  if (!volumeName) return undefined;
  try {
    const pv = await client.get<V1PersistentVolume>('persistentvolumes', undefined, volumeName, { signal });
    const hostnames = (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? [])
      .flatMap(term => term.matchExpressions ?? [])
      .filter(e => e.key === 'kubernetes.io/hostname' && e.operator === 'In')
      .flatMap(e => e.values ?? []);
    if (hostnames.length !== 1) return undefined;
    const node = await getNode(client, hostnames[0], signal);
    const tolerations = (node.spec?.taints ?? [])
      .filter(t => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
      .map(t => ({ key: t.key, operator: t.value ? 'Equal' : 'Exists', ...(t.value && { value: t.value }), effect: t.effect }));
    return tolerations.length ? tolerations : undefined;
  } catch {
    if (signal.aborted) throw cancelled();
    return undefined;
  }
}

/**
 * A helper pod that admission or a quota refused is the namespace's rule, not a bug: say so,
 * with the identity the helper asked for and what would let it in (`hint` picks the advice for
 * the helper's purpose). Other errors pass through.
 */
export function explainRefusedHelper(
  error: unknown,
  pod: V1Pod,
  refused: (message: string) => Error,
  hint: (pod: V1Pod) => string | undefined,
): unknown {
  if (!(error instanceof KubernetesApiError)) return error;
  if (error.refusal === 'admission') {
    const advice = hint(pod);
    return refused(`${error.message} The helper asked for ${describeHelperIdentity(pod)}.${advice ? ` ${advice}` : ''}`);
  }
  if (error.refusal === 'quota') return refused(error.message);
  return error;
}

/** Deletes a helper pod, retrying a little; the janitor removes one that still could not go. */
export async function deleteHelper(client: ClusterClient, namespace: string, name: string, logger: LoggerService) {
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await deletePod(client, namespace, name);
      return;
    } catch (error) {
      if (attempt === 3) {
        logger.error(`Could not delete helper pod ${namespace}/${name}; the janitor will retry`, error as Error);
      } else {
        await new Promise(r => setTimeout(r, 500 * attempt));
      }
    }
  }
}

/**
 * Resolves once the pod is gone (its processes are dead), or false after `timeoutMs`. Used
 * before another pod touches what this one may still be writing.
 */
export async function waitForPodGone(client: ClusterClient, namespace: string, name: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await getPod(client, namespace, name, AbortSignal.timeout(Math.max(1000, deadline - Date.now())));
    } catch (error) {
      if (error instanceof KubernetesApiError && error.clusterStatusCode === 404) return true;
    }
    await new Promise(r => setTimeout(r, 200));
  }
  return false;
}
