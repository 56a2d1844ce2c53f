/**
 * meta.k8s.io/v1 Table output, with the columns and cell formatting of the real apiserver
 * (pkg/printers/internalversion/printers.go). The server always fills the wide (priority 1)
 * columns; kubectl hides them unless `-o wide`.
 */
import type { ResourceType } from './resources';
import { formatSelector, fromLabelSelectorObject } from './selectors';
import type { KObj } from './types';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number | boolean;

const NAME_DESC =
  "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

function col(name: string, type = 'string', description = '', priority = 0, format = ''): ColumnDefinition {
  return { name, type, format, description, priority };
}
const nameCol = (): ColumnDefinition => col('Name', 'string', NAME_DESC, 0, 'name');
const ageCol = (): ColumnDefinition => col('Age', 'string', AGE_DESC);

/** duration.HumanDuration from k8s.io/apimachinery. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

function since(ts: string | undefined, now: number): string {
  if (!ts) return '<unknown>';
  return humanDuration(now - Date.parse(ts));
}

const ACCESS_MODE_ABBREV: Array<[string, string]> = [
  ['ReadWriteOnce', 'RWO'],
  ['ReadOnlyMany', 'ROX'],
  ['ReadWriteMany', 'RWX'],
  ['ReadWriteOncePod', 'RWOP'],
];

export function accessModesString(modes: string[] | undefined): string {
  const m = modes ?? [];
  return ACCESS_MODE_ABBREV.filter(([full]) => m.includes(full)).map(([, a]) => a).join(',');
}

function podTemplateContainers(tmpl: KObj['spec']): [string, string] {
  const cs: Array<{ name: string; image?: string }> = tmpl?.spec?.containers ?? [];
  return [cs.map(c => c.name).join(','), cs.map(c => c.image ?? '').join(',')];
}

function selectorString(sel: unknown): string {
  if (!sel) return '<none>';
  const s = formatSelector(fromLabelSelectorObject(sel as Parameters<typeof fromLabelSelectorObject>[0]));
  return s || '<none>';
}

function formatLabels(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

/** printPod */
function podCells(pod: KObj, now: number): Cell[] {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  let restarts = 0;
  const totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let reason: string = status.reason || status.phase || '';
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  let initializing = false;
  const initStatuses: Array<Record<string, any>> = status.initContainerStatuses ?? []; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (let i = 0; i < initStatuses.length; i++) {
    const c = initStatuses[i];
    restarts += c.restartCount ?? 0;
    if (c.state?.terminated && c.state.terminated.exitCode === 0) continue;
    if (c.state?.terminated) {
      const t = c.state.terminated;
      if (t.reason) reason = `Init:${t.reason}`;
      else reason = t.signal ? `Init:Signal:${t.signal}` : `Init:ExitCode:${t.exitCode}`;
    } else if (c.state?.waiting?.reason && c.state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${c.state.waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }
  const initializedTrue = (status.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = 0;
    let hasRunning = false;
    const cs: Array<Record<string, any>> = status.containerStatuses ?? []; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i];
      restarts += c.restartCount ?? 0;
      if (c.state?.waiting?.reason) reason = c.state.waiting.reason;
      else if (c.state?.terminated?.reason) reason = c.state.terminated.reason;
      else if (c.state?.terminated) reason = c.state.terminated.signal ? `Signal:${c.state.terminated.signal}` : `ExitCode:${c.state.terminated.exitCode}`;
      else if (c.ready && c.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = (status.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && status.phase !== 'Succeeded' && status.phase !== 'Failed') reason = 'Terminating';

  const podIP = (status.podIPs ?? [])[0]?.ip || '<none>';
  let readinessGates = '<none>';
  const gates: Array<{ conditionType: string }> = spec.readinessGates ?? [];
  if (gates.length) {
    let t = 0;
    for (const g of gates) {
      const c = (status.conditions ?? []).find((x: { type: string }) => x.type === g.conditionType);
      if (c && c.status === 'True') t++;
    }
    readinessGates = `${t}/${gates.length}`;
  }
  return [
    pod.metadata.name!,
    `${readyContainers}/${totalContainers}`,
    reason,
    String(restarts),
    since(pod.metadata.creationTimestamp, now),
    podIP,
    spec.nodeName || '<none>',
    status.nominatedNodeName || '<none>',
    readinessGates,
  ];
}

function pvcCells(o: KObj, now: number): Cell[] {
  let phase = o.status?.phase ?? '';
  if (o.metadata.deletionTimestamp) phase = 'Terminating';
  let capacity = '';
  let accessModes = '';
  if (o.spec?.volumeName) {
    accessModes = accessModesString(o.status?.accessModes);
    capacity = o.status?.capacity?.storage ?? '';
  }
  const cls = o.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'] ?? o.spec?.storageClassName ?? '';
  return [
    o.metadata.name!,
    phase,
    o.spec?.volumeName ?? '',
    capacity,
    accessModes,
    cls,
    o.spec?.volumeAttributesClassName || '<unset>',
    since(o.metadata.creationTimestamp, now),
    o.spec?.volumeMode ?? '<unset>',
  ];
}

function pvCells(o: KObj, now: number): Cell[] {
  const ref = o.spec?.claimRef;
  const claim = ref ? `${ref.namespace ?? ''}/${ref.name ?? ''}` : '';
  let phase = o.status?.phase ?? '';
  if (o.metadata.deletionTimestamp) phase = 'Terminating';
  const cls = o.metadata.annotations?.['volume.beta.kubernetes.io/storage-class'] ?? o.spec?.storageClassName ?? '';
  return [
    o.metadata.name!,
    o.spec?.capacity?.storage ?? '0',
    accessModesString(o.spec?.accessModes),
    o.spec?.persistentVolumeReclaimPolicy ?? '',
    phase,
    claim,
    cls,
    o.spec?.volumeAttributesClassName || '<unset>',
    o.status?.reason ?? '',
    since(o.metadata.creationTimestamp, now),
    o.spec?.volumeMode ?? '<unset>',
  ];
}

function nodeCells(o: KObj, now: number): Cell[] {
  const conds: Array<{ type: string; status: string }> = o.status?.conditions ?? [];
  const ready = conds.find(c => c.type === 'Ready');
  const statuses: string[] = [];
  if (ready) statuses.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  else statuses.push('Unknown');
  if (o.spec?.unschedulable) statuses.push('SchedulingDisabled');
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  const addr = (t: string) => (o.status?.addresses ?? []).find((a: { type: string }) => a.type === t)?.address ?? '<none>';
  const info = o.status?.nodeInfo ?? {};
  return [
    o.metadata.name!,
    statuses.join(','),
    roles.size ? [...roles].sort().join(',') : '<none>',
    since(o.metadata.creationTimestamp, now),
    info.kubeletVersion ?? '',
    addr('InternalIP'),
    addr('ExternalIP'),
    info.osImage || '<unknown>',
    info.kernelVersion || '<unknown>',
    info.containerRuntimeVersion || '<unknown>',
  ];
}

function eventCells(o: KObj, now: number): Cell[] {
  const e = o as KObj & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const first = e.firstTimestamp ? since(e.firstTimestamp, now) : since(e.eventTime, now);
  let last = e.lastTimestamp ? since(e.lastTimestamp, now) : first;
  let count = e.count ?? 0;
  if (e.series) {
    last = since(e.series.lastObservedTime, now);
    count = e.series.count;
  } else if (!count) count = 1;
  const io = e.involvedObject ?? {};
  const target = io.name ? `${String(io.kind ?? '').toLowerCase()}/${io.name}` : String(io.kind ?? '').toLowerCase();
  const comp = e.source?.component || e.reportingComponent || '';
  const inst = e.source?.host || e.reportingInstance || '';
  return [last, e.type ?? '', e.reason ?? '', target, io.fieldPath ?? '', inst ? `${comp}, ${inst}` : comp, String(e.message ?? '').trim(), first, count, o.metadata.name!];
}

function deploymentCells(o: KObj, now: number): Cell[] {
  const [containers, images] = podTemplateContainers(o.spec?.template);
  return [
    o.metadata.name!,
    `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`,
    o.status?.updatedReplicas ?? 0,
    o.status?.availableReplicas ?? 0,
    since(o.metadata.creationTimestamp, now),
    containers,
    images,
    selectorString(o.spec?.selector),
  ];
}

function replicaSetCells(o: KObj, now: number): Cell[] {
  const [containers, images] = podTemplateContainers(o.spec?.template);
  return [o.metadata.name!, o.spec?.replicas ?? 1, o.status?.replicas ?? 0, o.status?.readyReplicas ?? 0, since(o.metadata.creationTimestamp, now), containers, images, selectorString(o.spec?.selector)];
}

function statefulSetCells(o: KObj, now: number): Cell[] {
  const [containers, images] = podTemplateContainers(o.spec?.template);
  return [o.metadata.name!, `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`, since(o.metadata.creationTimestamp, now), containers, images];
}

function daemonSetCells(o: KObj, now: number): Cell[] {
  const [containers, images] = podTemplateContainers(o.spec?.template);
  const s = o.status ?? {};
  return [
    o.metadata.name!,
    s.desiredNumberScheduled ?? 0,
    s.currentNumberScheduled ?? 0,
    s.numberReady ?? 0,
    s.updatedNumberScheduled ?? 0,
    s.numberAvailable ?? 0,
    formatLabels(o.spec?.template?.spec?.nodeSelector),
    since(o.metadata.creationTimestamp, now),
    containers,
    images,
    selectorString(o.spec?.selector),
  ];
}

function jobCells(o: KObj, now: number): Cell[] {
  const conds: Array<{ type: string; status: string }> = o.status?.conditions ?? [];
  const has = (t: string) => conds.some(c => c.type === t && c.status === 'True');
  let status = 'Running';
  if (has('Complete')) status = 'Complete';
  else if (has('Failed')) status = 'Failed';
  else if (o.metadata.deletionTimestamp) status = 'Terminating';
  else if (has('Suspended')) status = 'Suspended';
  else if (has('FailureTarget')) status = 'FailureTarget';
  else if (has('SuccessCriteriaMet')) status = 'SuccessCriteriaMet';
  const succeeded = o.status?.succeeded ?? 0;
  let completions: string;
  if (o.spec?.completions !== undefined && o.spec?.completions !== null) completions = `${succeeded}/${o.spec.completions}`;
  else if (o.spec?.parallelism > 1) completions = `${succeeded}/1 of ${o.spec.parallelism}`;
  else completions = `${succeeded}/1`;
  let dur = '';
  if (o.status?.startTime) {
    dur = o.status.completionTime
      ? humanDuration(Date.parse(o.status.completionTime) - Date.parse(o.status.startTime))
      : humanDuration(now - Date.parse(o.status.startTime));
  }
  const [containers, images] = podTemplateContainers(o.spec?.template);
  return [o.metadata.name!, status, completions, dur, since(o.metadata.creationTimestamp, now), containers, images, selectorString(o.spec?.selector)];
}

function cronJobCells(o: KObj, now: number): Cell[] {
  const [containers, images] = podTemplateContainers(o.spec?.jobTemplate?.spec?.template);
  let suspend = '<unset>';
  if (typeof o.spec?.suspend === 'boolean') suspend = o.spec.suspend ? 'True' : 'False';
  return [
    o.metadata.name!,
    o.spec?.schedule ?? '',
    o.spec?.timeZone ?? '<none>',
    suspend,
    (o.status?.active ?? []).length,
    o.status?.lastScheduleTime ? since(o.status.lastScheduleTime, now) : '<none>',
    since(o.metadata.creationTimestamp, now),
    containers,
    images,
    selectorString(o.spec?.jobTemplate?.spec?.selector),
  ];
}

function storageClassCells(o: KObj, now: number): Cell[] {
  const a = o.metadata.annotations ?? {};
  const isDefault = a['storageclass.kubernetes.io/is-default-class'] === 'true' || a['storageclass.beta.kubernetes.io/is-default-class'] === 'true';
  const anyO = o as KObj & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  return [
    isDefault ? `${o.metadata.name} (default)` : o.metadata.name!,
    anyO.provisioner ?? '',
    anyO.reclaimPolicy ?? 'Delete',
    anyO.volumeBindingMode ?? 'Immediate',
    String(Boolean(anyO.allowVolumeExpansion)),
    since(o.metadata.creationTimestamp, now),
  ];
}

function namespaceCells(o: KObj, now: number): Cell[] {
  return [o.metadata.name!, o.status?.phase ?? 'Active', since(o.metadata.creationTimestamp, now)];
}

interface TableSpec {
  columns: ColumnDefinition[];
  cells: (o: KObj, now: number) => Cell[];
}

const templateCols = (selectorDesc: string | null): ColumnDefinition[] => {
  const cols = [
    col('Containers', 'string', 'Names of each container in the template.', 1),
    col('Images', 'string', 'Images referenced by each container in the template.', 1),
  ];
  if (selectorDesc !== null) cols.push(col('Selector', 'string', selectorDesc, 1));
  return cols;
};

const TABLES: Record<string, TableSpec> = {
  pods: {
    columns: [
      nameCol(),
      col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'string', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      ageCol(),
      col('IP', 'string', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
      col('Node', 'string', 'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename', 1),
      col('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.', 1),
      col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to "True" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates', 1),
    ],
    cells: podCells,
  },
  persistentvolumeclaims: {
    columns: [
      nameCol(),
      col('Status', 'string', 'phase represents the current phase of PersistentVolumeClaim.'),
      col('Volume', 'string', 'volumeName is the binding reference to the PersistentVolume backing this claim.'),
      col('Capacity', 'string', 'capacity represents the actual resources of the underlying volume.'),
      col('Access Modes', 'string', 'accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1'),
      col('StorageClass', 'string', 'StorageClass of the pvc'),
      col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pvc'),
      ageCol(),
      col('VolumeMode', 'string', 'volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.', 1),
    ],
    cells: pvcCells,
  },
  persistentvolumes: {
    columns: [
      nameCol(),
      col('Capacity', 'string', 'capacity is the description of the persistent volume\'s resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity'),
      col('Access Modes', 'string', 'accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes'),
      col('Reclaim Policy', 'string', 'persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming'),
      col('Status', 'string', 'phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase'),
      col('Claim', 'string', 'claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding'),
      col('StorageClass', 'string', 'StorageClass of the pv'),
      col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pv'),
      col('Reason', 'string', 'reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.'),
      ageCol(),
      col('VolumeMode', 'string', 'volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.', 1),
    ],
    cells: pvCells,
  },
  nodes: {
    columns: [
      nameCol(),
      col('Status', 'string', 'The status of the node'),
      col('Roles', 'string', 'The roles of the node'),
      ageCol(),
      col('Version', 'string', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node\'s address in its own status or consumers of the downward API (status.hostIP).', 1),
      col('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node\'s address in its own status or consumers of the downward API (status.hostIP).', 1),
      col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
      col('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
      col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
    ],
    cells: nodeCells,
  },
  namespaces: {
    columns: [nameCol(), col('Status', 'string', 'The status of the namespace'), ageCol()],
    cells: namespaceCells,
  },
  events: {
    columns: [
      col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
      col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
      col('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
      col('Object', 'string', 'The object that this event is about.'),
      col('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: "spec.containers{name}" (where "name" refers to the name of the container that triggered the event) or if no container name is specified "spec.containers[2]" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.', 1),
      col('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
      col('Message', 'string', 'A human-readable description of the status of this operation.'),
      col('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
      col('Count', 'string', 'The number of times this event has occurred.', 1),
      col('Name', 'string', NAME_DESC, 1, 'name'),
    ],
    cells: eventCells,
  },
  deployments: {
    columns: [
      nameCol(),
      col('Ready', 'string', 'Number of the pod with ready state'),
      col('Up-to-date', 'string', 'Total number of non-terminating pods targeted by this deployment that have the desired template spec.'),
      col('Available', 'string', 'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.'),
      ageCol(),
      ...templateCols('Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template\'s labels.'),
    ],
    cells: deploymentCells,
  },
  replicasets: {
    columns: [
      nameCol(),
      col('Desired', 'integer', 'Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works'),
      col('Current', 'integer', 'Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works'),
      col('Ready', 'integer', 'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.'),
      ageCol(),
      ...templateCols("Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
    ],
    cells: replicaSetCells,
  },
  statefulsets: {
    columns: [nameCol(), col('Ready', 'string', 'Number of the pod with ready state'), ageCol(), ...templateCols(null)],
    cells: statefulSetCells,
  },
  daemonsets: {
    columns: [
      nameCol(),
      col('Desired', 'integer', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/'),
      col('Current', 'integer', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/'),
      col('Ready', 'integer', 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.'),
      col('Up-to-date', 'integer', 'The total number of nodes that are running updated daemon pod'),
      col('Available', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)'),
      col('Node Selector', 'string', "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
      ageCol(),
      ...templateCols("A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
    ],
    cells: daemonSetCells,
  },
  jobs: {
    columns: [
      nameCol(),
      col('Status', 'string', 'Status of the job.'),
      col('Completions', 'string', 'The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.'),
      col('Duration', 'string', 'Time required to complete the job.'),
      ageCol(),
      ...templateCols('A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors'),
    ],
    cells: jobCells,
  },
  cronjobs: {
    columns: [
      nameCol(),
      col('Schedule', 'string', 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.'),
      col('Timezone', 'string', 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones'),
      col('Suspend', 'boolean', 'This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.'),
      col('Active', 'integer', 'A list of pointers to currently running jobs.'),
      col('Last Schedule', 'string', 'Information when was the last time the job was successfully scheduled.'),
      ageCol(),
      ...templateCols('A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors'),
    ],
    cells: cronJobCells,
  },
  storageclasses: {
    columns: [
      nameCol(),
      col('Provisioner', 'string', 'provisioner indicates the type of the provisioner.'),
      col('ReclaimPolicy', 'string', 'reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.'),
      col('VolumeBindingMode', 'string', 'volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.'),
      col('AllowVolumeExpansion', 'string', 'allowVolumeExpansion shows whether the storage class allow volume expand.'),
      ageCol(),
    ],
    cells: storageClassCells,
  },
};

// printSecret, printConfigMap, printServiceAccount
TABLES.secrets = {
  columns: [
    nameCol(),
    col('Type', 'string', 'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types'),
    col('Data', 'string', "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
    ageCol(),
  ],
  cells: (o, now) => [o.metadata.name!, String(o.type ?? ''), Object.keys((o.data as object) ?? {}).length, since(o.metadata.creationTimestamp, now)],
};
TABLES.configmaps = {
  columns: [
    nameCol(),
    col('Data', 'string', "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
    ageCol(),
  ],
  cells: (o, now) => [o.metadata.name!, Object.keys((o.data as object) ?? {}).length + Object.keys((o.binaryData as object) ?? {}).length, since(o.metadata.creationTimestamp, now)],
};
TABLES.serviceaccounts = {
  columns: [
    nameCol(),
    col('Secrets', 'string', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use. Pods are only limited to this list if this service account has a "kubernetes.io/enforce-mountable-secrets" annotation set to "true". The "kubernetes.io/enforce-mountable-secrets" annotation is deprecated since v1.32. Prefer separate namespaces to isolate access to mounted secrets. This field should not be used to find auto-generated service account token secrets for use outside of pods. Instead, tokens can be requested directly using the TokenRequest API, or service account token secrets can be manually created. More info: https://kubernetes.io/docs/concepts/configuration/secret'),
    ageCol(),
  ],
  cells: (o, now) => [o.metadata.name!, ((o.secrets as unknown[]) ?? []).length, since(o.metadata.creationTimestamp, now)],
};

const DEFAULT_TABLE: TableSpec = {
  columns: [nameCol(), col('Created At', 'date', AGE_DESC)],
  cells: o => [o.metadata.name!, o.metadata.creationTimestamp ?? ''],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function tableSpecFor(type: ResourceType): TableSpec {
  return TABLES[type.resource] ?? DEFAULT_TABLE;
}

/** Serialises one Table row; `objectJson` is the object's own JSON when includeObject=Object. */
export function tableRowJson(type: ResourceType, obj: KObj, objectJson: string, include: IncludeObject, now: number): string {
  const cells = tableSpecFor(type).cells(obj, now);
  let object = '';
  if (include === 'Object') object = objectJson;
  else if (include === 'Metadata') {
    object = JSON.stringify({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metadataForTable(obj) });
  }
  const phase = type.resource === 'pods' ? obj.status?.phase : undefined;
  const conditions =
    phase === 'Succeeded' || phase === 'Failed'
      ? `,"conditions":[{"type":"Completed","status":"True","reason":"${phase}","message":"${phase === 'Succeeded' ? 'The pod has completed successfully.' : 'The pod failed.'}"}]`
      : '';
  return `{"cells":${JSON.stringify(cells)}${conditions}${object ? `,"object":${object}` : ''}}`;
}

function metadataForTable(obj: KObj): KObj['metadata'] {
  const { managedFields, ...rest } = obj.metadata;
  void managedFields;
  return rest;
}

export function tableJson(
  type: ResourceType,
  rows: string[],
  meta: { resourceVersion: string; continueToken?: string; remainingItemCount?: number },
  withColumns = true,
): string {
  const m: Record<string, unknown> = { resourceVersion: meta.resourceVersion };
  if (meta.continueToken) m.continue = meta.continueToken;
  if (meta.remainingItemCount !== undefined) m.remainingItemCount = meta.remainingItemCount;
  const cols = withColumns ? JSON.stringify(tableSpecFor(type).columns) : '[]';
  return `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":${JSON.stringify(m)},"columnDefinitions":${cols},"rows":[${rows.join(',')}]}`;
}
