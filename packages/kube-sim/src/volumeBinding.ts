/**
 * Volume topology, shared by the PV controller (api.ts), the scheduler (podLifecycle.ts) and the
 * fixture builder: which storage classes are node-local, the node affinity and volume source a
 * local provisioner writes into its PVs, node-selector matching for `spec.nodeAffinity`, and the
 * scheduler's VolumeBinding filter with its reason strings.
 */
import { randomUUID } from 'node:crypto';
import type { KObj, Taint } from './types';

/** The scheduler's annotation on a WaitForFirstConsumer claim once it picked a node. */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** Set to "true" on a StorageClass (or `nodeLocal: true` in a fixture) to treat its PVs as node-local. */
export const NODE_LOCAL_ANNOTATION = 'kube-sim.nkvm.io/node-local';
export const NO_PROVISIONER = 'kubernetes.io/no-provisioner';
const LOCAL_PATH = 'rancher.io/local-path';
/** local-path-provisioner's default `nodePathMap` path */
const LOCAL_PATH_BASE = '/opt/local-path-provisioner';
const HOSTNAME = 'kubernetes.io/hostname';

/** The VolumeBinding plugin's reasons (pkg/scheduler/framework/plugins/volumebinding). */
export const REASON_NODE_CONFLICT = 'node(s) had volume node affinity conflict';
export const REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind";
export const REASON_PV_NOT_EXIST = 'node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)';

export function isNodeLocalClass(sc: KObj | undefined): boolean {
  if (!sc) return false;
  const provisioner = (sc as { provisioner?: string }).provisioner;
  return provisioner === LOCAL_PATH || provisioner === NO_PROVISIONER || sc.metadata.annotations?.[NODE_LOCAL_ANNOTATION] === 'true';
}

export function isWaitForFirstConsumer(sc: KObj | undefined): boolean {
  return (sc as { volumeBindingMode?: string } | undefined)?.volumeBindingMode === 'WaitForFirstConsumer';
}

function hasBlockingTaint(node: KObj): boolean {
  return ((node.spec?.taints ?? []) as Taint[]).some(t => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
}

/**
 * The node an unmounted node-local volume lives on when nothing chose one (fixture claims no pod
 * mounts, Immediate claims created through the API): the first node by name that is schedulable
 * and has no NoSchedule/NoExecute taint, i.e. one a pod without tolerations can reach; else the
 * first node by name.
 */
export function defaultLocalNode(nodes: KObj[]): KObj | undefined {
  // node names are unique
  const sorted = [...nodes].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
  return sorted.find(n => !n.spec?.unschedulable && !hasBlockingTaint(n)) ?? sorted[0];
}

/**
 * What a node-local provisioner writes into the PV spec for a node: `nodeAffinity` on the node's
 * `kubernetes.io/hostname` label (the node name when the label is missing), and the volume source,
 * a `hostPath` `<base>/<pv>_<namespace>_<claim>` as local-path-provisioner lays it out, or a
 * `local` path for statically provisioned local volumes (`kubernetes.io/no-provisioner`).
 */
export function localPvSpec(sc: KObj | undefined, pvName: string, claim: { namespace: string; name: string }, node: KObj): Record<string, unknown> {
  const hostname = node.metadata.labels?.[HOSTNAME] ?? node.metadata.name!;
  const nodeAffinity = { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME, operator: 'In', values: [hostname] }] }] } };
  if ((sc as { provisioner?: string } | undefined)?.provisioner === NO_PROVISIONER) {
    return { local: { path: `/mnt/disks/${pvName}` }, nodeAffinity };
  }
  return { hostPath: { path: `${LOCAL_PATH_BASE}/${pvName}_${claim.namespace}_${claim.name}`, type: 'DirectoryOrCreate' }, nodeAffinity };
}

/** an external provisioner's identity gets a new UUID each time its process starts */
const PROVISIONER_INSTANCE = randomUUID();

/** The source component of an external provisioner's events: `<provisioner>_<host>_<uuid>`. */
export function provisionerIdentity(provisioner: string): string {
  return `${provisioner}_kube-sim_${PROVISIONER_INSTANCE}`;
}

interface Requirement {
  key: string;
  operator: string;
  values?: string[];
}

function requirementMatches(r: Requirement, value: string | undefined): boolean {
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
      return value !== undefined && values.includes(value);
    case 'NotIn':
      return value === undefined || !values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      const a = Number.parseInt(value ?? '', 10);
      const b = Number.parseInt(values[0] ?? '', 10);
      if (Number.isNaN(a) || Number.isNaN(b)) return false;
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** A core/v1 NodeSelector: the terms are ORed, the requirements of a term ANDed; no terms match nothing. */
export function nodeSelectorMatches(selector: { nodeSelectorTerms?: Array<{ matchExpressions?: Requirement[]; matchFields?: Requirement[] }> }, node: KObj): boolean {
  return (selector.nodeSelectorTerms ?? []).some(term => {
    const exprs = term.matchExpressions ?? [];
    const fields = term.matchFields ?? [];
    if (!exprs.length && !fields.length) return false;
    return exprs.every(r => requirementMatches(r, node.metadata.labels?.[r.key])) && fields.every(r => requirementMatches(r, r.key === 'metadata.name' ? node.metadata.name : undefined));
  });
}

/** Whether a PV may be used on a node (`spec.nodeAffinity.required`; no affinity: everywhere). */
export function pvFitsNode(pv: KObj, node: KObj): boolean {
  const required = pv.spec?.nodeAffinity?.required;
  return !required || nodeSelectorMatches(required, node);
}

/** StorageClass `allowedTopologies` (ORed terms of ANDed label requirements); none: every node. */
function allowedTopologiesMatch(sc: KObj, node: KObj): boolean {
  const terms = (sc as { allowedTopologies?: Array<{ matchLabelExpressions?: Array<{ key: string; values: string[] }> }> }).allowedTopologies;
  if (!terms?.length) return true;
  return terms.some(t => (t.matchLabelExpressions ?? []).every(e => e.values.includes(node.metadata.labels?.[e.key] ?? '\u0000')));
}

/** Whether an Available PV can satisfy a claim (class, access modes; capacity is not compared). */
export function pvMatchesClaim(pv: KObj, pvc: KObj): boolean {
  return (
    pv.status?.phase === 'Available' &&
    !pv.spec?.claimRef &&
    (pv.spec?.storageClassName ?? '') === (pvc.spec?.storageClassName ?? '') &&
    (pvc.spec?.accessModes ?? []).every((m: string) => (pv.spec?.accessModes ?? []).includes(m))
  );
}

/** A claim as the VolumeBinding plugin sees it for one pod. */
export type ClaimBinding =
  | { kind: 'bound'; pv?: KObj }
  | { kind: 'delayed'; pvc: KObj; sc: KObj; candidates: KObj[] };

/**
 * The VolumeBinding Filter for one node: bound claims whose PV does not fit the node give the
 * node-conflict reason, WaitForFirstConsumer claims that neither a matching Available PV on the
 * node nor the class's provisioner (`allowedTopologies`) can satisfy give the bind-conflict one.
 */
export function volumeBindingReasons(claims: ClaimBinding[], node: KObj): string[] {
  const reasons: string[] = [];
  let boundOk = true;
  let unboundOk = true;
  for (const c of claims) {
    if (c.kind === 'bound') {
      if (!c.pv) return [REASON_PV_NOT_EXIST];
      if (!pvFitsNode(c.pv, node)) boundOk = false;
    } else if (!c.candidates.some(pv => pvFitsNode(pv, node))) {
      const provisioner = (c.sc as { provisioner?: string }).provisioner;
      if (!provisioner || provisioner === NO_PROVISIONER || !allowedTopologiesMatch(c.sc, node)) unboundOk = false;
    }
  }
  if (!boundOk) reasons.push(REASON_NODE_CONFLICT);
  if (!unboundOk) reasons.push(REASON_BIND_CONFLICT);
  return reasons;
}
