/*
 * Turns raw cluster objects into the inventory's Volume entries: each PVC with its mounting
 * pods and nodes, the workload that owns them (through ownerReferences), and the catalog entity
 * it belongs to.
 */
import type {
  V1Job,
  V1OwnerReference,
  V1PersistentVolumeClaim,
  V1Pod,
  V1ReplicaSet,
  V1StatefulSet,
} from '@kubernetes/client-node';
import type {
  Volume,
  VolumeMount,
  VolumeOwner,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { ClusterObjects } from './collectClusterObjects';
import type { EntityMatcher } from './entityMatch';

const key = (namespace: string | undefined, name: string | undefined) => `${namespace}/${name}`;

function controllerOf(meta: { ownerReferences?: V1OwnerReference[] } | undefined) {
  const refs = meta?.ownerReferences ?? [];
  return refs.find(r => r.controller) ?? refs[0];
}

/** Pod -> ReplicaSet -> Deployment, Job -> CronJob, StatefulSet, DaemonSet, or the bare Pod. */
export function resolveOwner(
  pod: V1Pod,
  replicaSets: Map<string, V1ReplicaSet>,
  jobs: Map<string, V1Job>,
): VolumeOwner {
  const ns = pod.metadata?.namespace;
  const ref = controllerOf(pod.metadata);
  if (!ref) return { kind: 'Pod', name: pod.metadata?.name ?? '' };
  const parentOf = (obj: { metadata?: { ownerReferences?: V1OwnerReference[] } } | undefined) =>
    controllerOf(obj?.metadata);
  if (ref.kind === 'ReplicaSet') {
    const parent = parentOf(replicaSets.get(key(ns, ref.name)));
    if (parent?.kind === 'Deployment') return { kind: 'Deployment', name: parent.name };
  }
  if (ref.kind === 'Job') {
    const parent = parentOf(jobs.get(key(ns, ref.name)));
    if (parent?.kind === 'CronJob') return { kind: 'CronJob', name: parent.name };
  }
  return { kind: ref.kind, name: ref.name };
}

function isActive(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

interface PodMount {
  pod: V1Pod;
  mount: VolumeMount;
}

/** PVCs of StatefulSets: `<template>-<statefulset>-<ordinal>`. */
export function claimTemplatePattern(sts: V1StatefulSet): RegExp | undefined {
  const templates = (sts.spec?.volumeClaimTemplates ?? [])
    .map(t => t.metadata?.name)
    .filter((n): n is string => Boolean(n));
  if (templates.length === 0) return undefined;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(
    `^(${templates.map(esc).join('|')})-${esc(sts.metadata?.name ?? '')}-\\d+$`,
  );
}

export interface BuildOptions {
  cluster: string;
  /** Entities that may claim PVCs. A PVC that more than one of them matches has no owner entity. */
  entities: EntityMatcher[];
  /**
   * The platform's namespace -> owner binding (full lower-case refs), when one is configured: an
   * entity may claim a PVC only if its `spec.owner` is the owner bound to the PVC's namespace,
   * and no entity may claim a PVC in a namespace with no binding.
   */
  ownerOfNamespace?: (namespace: string) => string | undefined;
}

export function buildVolumes(objects: ClusterObjects, options: BuildOptions): Volume[] {
  const replicaSets = new Map(
    objects.replicaSets.map(rs => [key(rs.metadata?.namespace, rs.metadata?.name), rs]),
  );
  const jobs = new Map(objects.jobs.map(j => [key(j.metadata?.namespace, j.metadata?.name), j]));

  const mountsByPvc = new Map<string, PodMount[]>();
  for (const pod of objects.pods) {
    if (!isActive(pod)) continue;
    const mountedReadOnly = new Map<string, boolean>();
    for (const container of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
      for (const m of container.volumeMounts ?? []) {
        mountedReadOnly.set(m.name, (mountedReadOnly.get(m.name) ?? true) && Boolean(m.readOnly));
      }
    }
    for (const volume of pod.spec?.volumes ?? []) {
      const claim = volume.persistentVolumeClaim;
      if (!claim) continue;
      const k = key(pod.metadata?.namespace, claim.claimName);
      const list = mountsByPvc.get(k) ?? [];
      list.push({
        pod,
        mount: {
          pod: pod.metadata?.name ?? '',
          node: pod.spec?.nodeName ?? null,
          readOnly: Boolean(claim.readOnly) || (mountedReadOnly.get(volume.name) ?? false),
        },
      });
      mountsByPvc.set(k, list);
    }
  }

  const templatePatterns = objects.statefulSets.flatMap(sts => {
    const pattern = claimTemplatePattern(sts);
    return pattern ? [{ sts, pattern }] : [];
  });

  const matchesPvc = (entity: EntityMatcher, pvc: V1PersistentVolumeClaim, pods: PodMount[]) => {
    const ns = pvc.metadata?.namespace;
    if (entity.namespace && entity.namespace !== ns) return false;
    if (pods.some(p => entity.matches(p.pod.metadata?.labels))) return true;
    if (entity.matches(pvc.metadata?.labels)) return true;
    return templatePatterns.some(
      t =>
        t.sts.metadata?.namespace === ns &&
        t.pattern.test(pvc.metadata?.name ?? '') &&
        entity.matches(t.sts.metadata?.labels),
    );
  };

  /**
   * Every entity that may claim the PVC. Anyone who can edit the catalog can annotate an entity
   * to match any PVC, so a match decides ownership only when it is the only one (and agrees with
   * the namespace binding, where there is one).
   */
  const claimantsOf = (pvc: V1PersistentVolumeClaim, pods: PodMount[]): string[] => {
    const { ownerOfNamespace } = options;
    const boundOwner = ownerOfNamespace?.(pvc.metadata?.namespace ?? '');
    if (ownerOfNamespace && !boundOwner) return [];
    return options.entities
      .filter(entity => !boundOwner || entity.ownerRef === boundOwner)
      .filter(entity => matchesPvc(entity, pvc, pods))
      .map(entity => entity.entityRef)
      .sort();
  };

  return objects.pvcs.map(pvc => {
    const ns = pvc.metadata?.namespace ?? '';
    const name = pvc.metadata?.name ?? '';
    const pods = (mountsByPvc.get(key(ns, name)) ?? []).sort((a, b) =>
      a.mount.pod.localeCompare(b.mount.pod),
    );
    const claimants = claimantsOf(pvc, pods);
    return {
      cluster: options.cluster,
      namespace: ns,
      name,
      phase: pvc.status?.phase ?? 'Unknown',
      capacity: {
        requested: pvc.spec?.resources?.requests?.storage ?? null,
        actual: pvc.status?.capacity?.storage ?? null,
      },
      storageClass: pvc.spec?.storageClassName ?? null,
      accessModes: pvc.spec?.accessModes ?? [],
      volumeName: pvc.spec?.volumeName ?? null,
      owner: pods.length > 0 ? resolveOwner(pods[0].pod, replicaSets, jobs) : null,
      mounts: pods.map(p => p.mount),
      ...(claimants.length === 1 && { entityRef: claimants[0] }),
      ...(claimants.length > 1 && { ambiguousOwnership: { entityRefs: claimants } }),
      lastSuccessfulBackup: null,
      lastStatus: null,
    };
  });
}
