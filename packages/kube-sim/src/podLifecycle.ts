/**
 * The scheduler and kubelet, simulated: scheduling (nodeName, nodeSelector, taints/tolerations,
 * PVC existence, ReadWriteOncePod), volume attach (ReadWriteOnce Multi-Attach), image pulls
 * against the fixture's image list, the Running transition, activeDeadlineSeconds, and graceful
 * deletion. Every step writes the pod status and Events the real components would.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { EventRecorder } from './events';
import { NODE, POD, PV, PVC, STORAGE_CLASS } from './resources';
import { nowRfc3339, type StoredItem, type Store } from './store';
import type { KObj, Taint, Toleration } from './types';
import { isNodeLocalClass, isWaitForFirstConsumer, localPvSpec, pvFitsNode, pvMatchesClaim, volumeBindingReasons, type ClaimBinding } from './volumeBinding';

export interface LifecycleOptions {
  /** delay between scheduling and Running */
  runningDelayMs: number;
  /** how long a deleted pod stays Terminating (capped by its grace period) */
  terminationDelayMs: number;
  /** delay before ErrImagePull turns into ImagePullBackOff, and between retries */
  backoffDelayMs: number;
  images: Set<string>;
  /** the PV controller, called for WaitForFirstConsumer claims once the scheduler picked their pod's node */
  bindClaim?: (pvc: KObj, node: string) => void;
}

const ALWAYS_ALLOWED = ['alpine:3.20'];

/** docker.io/library/alpine:3.20 form of an image reference. */
export function normalizeImage(image: string): string {
  let ref = image;
  const slash = ref.indexOf('/');
  const first = slash >= 0 ? ref.slice(0, slash) : '';
  if (slash < 0) ref = `docker.io/library/${ref}`;
  else if (!first.includes('.') && !first.includes(':') && first !== 'localhost') ref = `docker.io/${ref}`;
  const lastPart = ref.slice(ref.lastIndexOf('/') + 1);
  if (!lastPart.includes(':') && !lastPart.includes('@')) ref += ':latest';
  return ref;
}

function hex(input: string, n = 64): string {
  return createHash('sha256').update(input).digest('hex').slice(0, n);
}

export function tolerates(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some(t => {
    if (t.effect && t.effect !== taint.effect) return false;
    if (t.operator === 'Exists') return !t.key || t.key === taint.key;
    return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
  });
}

function cond(type: string, status: 'True' | 'False', extra: Record<string, string> = {}, at = nowRfc3339()): Record<string, unknown> {
  return { type, status, lastProbeTime: null, lastTransitionTime: at, ...extra };
}

function podKey(pod: KObj): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}

function pvcVolumes(pod: KObj): Array<{ volume: string; claim: string; readOnly: boolean }> {
  return (pod.spec?.volumes ?? [])
    .filter((v: { persistentVolumeClaim?: unknown }) => v.persistentVolumeClaim)
    .map((v: { name: string; persistentVolumeClaim: { claimName: string; readOnly?: boolean } }) => ({
      volume: v.name,
      claim: v.persistentVolumeClaim.claimName,
      readOnly: Boolean(v.persistentVolumeClaim.readOnly),
    }));
}

function isTerminal(pod: KObj): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

export class PodLifecycle {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly killers = new Map<string, Set<() => void>>();
  private readonly pulled = new Map<string, Set<string>>();
  private readonly ipCounters = new Map<string, number>();
  /** uids of pods whose volumes are attached to their node */
  private readonly attachedPods = new Set<string>();
  private stopped = false;
  /** pods the scheduler or kubelet must retry, keyed by ns/name → uid */
  private readonly retry = new Map<string, string>();
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly recorder: EventRecorder,
    private readonly opts: LifecycleOptions,
  ) {
    for (const i of ALWAYS_ALLOWED) opts.images.add(normalizeImage(i));
  }

  imageAllowed(image: string): boolean {
    return this.opts.images.has(normalizeImage(image));
  }

  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.retryTimer) clearInterval(this.retryTimer);
    for (const set of this.killers.values()) for (const k of set) k();
    this.killers.clear();
  }

  private ensureRetryLoop(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setInterval(() => {
      if (this.retry.size === 0) return;
      const entries = [...this.retry.entries()];
      this.retry.clear();
      for (const [key, uid] of entries) {
        const [ns, name] = key.split('/');
        const cur = this.store.get(POD, ns, name);
        if (cur && cur.obj.metadata.uid === uid && !cur.obj.metadata.deletionTimestamp) this.advance(cur);
      }
    }, Math.max(50, this.opts.backoffDelayMs));
    this.retryTimer.unref?.();
  }

  private scheduleRetry(pod: KObj): void {
    this.retry.set(podKey(pod), pod.metadata.uid!);
    this.ensureRetryLoop();
  }

  /** Registers a kill callback for a process running "in" a pod (exec). Returns an unregister function. */
  registerProcess(namespace: string, name: string, kill: () => void): () => void {
    const key = `${namespace}/${name}`;
    let set = this.killers.get(key);
    if (!set) this.killers.set(key, (set = new Set()));
    set.add(kill);
    return () => {
      set!.delete(kill);
      if (set!.size === 0 && this.killers.get(key) === set) this.killers.delete(key);
    };
  }

  killProcesses(namespace: string, name: string): void {
    const set = this.killers.get(`${namespace}/${name}`);
    if (!set) return;
    this.killers.delete(`${namespace}/${name}`);
    for (const k of set) {
      try {
        k();
      } catch {
        /* ignore */
      }
    }
  }

  /** A pod was created through the API: start scheduling it. */
  onCreated(item: StoredItem): void {
    this.later(1, () => {
      const cur = this.store.get(POD, item.obj.metadata.namespace, item.obj.metadata.name!);
      if (cur && cur.obj.metadata.uid === item.obj.metadata.uid) this.advance(cur);
    });
  }

  /** Runs the next step for a pod according to its current state. */
  private advance(item: StoredItem): void {
    const pod = item.obj;
    if (isTerminal(pod) || pod.metadata.deletionTimestamp) return;
    if (!pod.spec?.nodeName) this.schedule(pod);
    else if (pod.status?.phase === 'Pending') this.kubeletStart(pod);
  }

  private nodes(): KObj[] {
    return this.store.all(NODE).map(i => i.obj);
  }

  /** The scheduler's answer for a pod: a node name, or the FitError message. */
  findNode(pod: KObj): { node?: string; message?: string } {
    const nodes = this.nodes();
    const n = nodes.length;
    const fit = (pre: string | undefined, perNode: Map<string, number>): string => {
      let msg = `0/${n} nodes are available:`;
      if (pre) msg += ` ${pre}.`;
      else if (perNode.size) {
        msg += ` ${[...perNode.entries()].map(([r, c]) => `${c} ${r}`).sort().join(', ')}.`;
      }
      msg += ` preemption: 0/${n} nodes are available: ${n} Preemption is not helpful for scheduling.`;
      return msg;
    };
    // PreFilter: VolumeRestrictions (RWOP) and VolumeBinding (claims exist and are bound)
    const ns = pod.metadata.namespace!;
    for (const v of pvcVolumes(pod)) {
      const pvc = this.store.get(PVC, ns, v.claim);
      if (!pvc) return { message: fit(`persistentvolumeclaim "${v.claim}" not found`, new Map()) };
      if ((pvc.obj.spec?.accessModes ?? []).includes('ReadWriteOncePod')) {
        const user = this.podsUsingClaim(ns, v.claim).find(p => p.metadata.uid !== pod.metadata.uid && p.spec?.nodeName && !isTerminal(p));
        if (user) return { message: fit('node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode', new Map()) };
      }
    }
    const claims: ClaimBinding[] = [];
    for (const v of pvcVolumes(pod)) {
      const pvc = this.store.get(PVC, ns, v.claim)!;
      if (pvc.obj.metadata.deletionTimestamp) return { message: fit(`persistentvolumeclaim "${v.claim}" is being deleted`, new Map()) };
      if (pvc.obj.status?.phase === 'Bound') {
        claims.push({ kind: 'bound', pv: this.store.get(PV, undefined, pvc.obj.spec?.volumeName ?? '')?.obj });
        continue;
      }
      const sc = pvc.obj.spec?.storageClassName ? this.store.get(STORAGE_CLASS, undefined, pvc.obj.spec.storageClassName)?.obj : undefined;
      if (!sc || !isWaitForFirstConsumer(sc)) return { message: fit('pod has unbound immediate PersistentVolumeClaims', new Map()) };
      claims.push({ kind: 'delayed', pvc: pvc.obj, sc, candidates: this.store.all(PV).map(i => i.obj).filter(p => pvMatchesClaim(p, pvc.obj)) });
    }
    const reasons = new Map<string, number>();
    const feasible: KObj[] = [];
    const selector: Record<string, string> = pod.spec?.nodeSelector ?? {};
    for (const node of nodes) {
      let reason: string | undefined;
      if (node.spec?.unschedulable) reason = 'node(s) were unschedulable';
      if (!reason) {
        const taint = ((node.spec?.taints ?? []) as Taint[]).find(t => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod.spec?.tolerations, t));
        if (taint) reason = `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`;
      }
      if (!reason && Object.entries(selector).some(([k, v]) => node.metadata.labels?.[k] !== v)) {
        reason = "node(s) didn't match Pod's node affinity/selector";
      }
      let nodeReasons: string[] = [];
      if (reason) nodeReasons = [reason];
      else if (claims.length) nodeReasons = volumeBindingReasons(claims, node);
      for (const r of nodeReasons) reasons.set(r, (reasons.get(r) ?? 0) + 1);
      if (!nodeReasons.length) feasible.push(node);
    }
    if (!feasible.length) return { message: fit(undefined, reasons) };
    // least-loaded node wins; ties by name
    const load = new Map<string, number>();
    for (const p of this.store.all(POD)) {
      const nn = p.obj.spec?.nodeName;
      if (nn) load.set(nn, (load.get(nn) ?? 0) + 1);
    }
    feasible.sort((a, b) => (load.get(a.metadata.name!) ?? 0) - (load.get(b.metadata.name!) ?? 0) || (a.metadata.name! < b.metadata.name! ? -1 : 1));
    return { node: feasible[0].metadata.name };
  }

  private schedule(pod: KObj): void {
    const { node, message } = this.findNode(pod);
    if (!node) {
      const existing = (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === 'PodScheduled');
      if (!existing || existing.message !== message) {
        this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name!, p => {
          p.status.conditions = [cond('PodScheduled', 'False', { reason: 'Unschedulable', message: message! })];
        });
      }
      this.recorder.record(pod, 'Warning', 'FailedScheduling', message!, { component: 'default-scheduler' });
      this.scheduleRetry(pod);
      return;
    }
    for (const v of pvcVolumes(pod)) {
      const pvc = this.store.get(PVC, pod.metadata.namespace, v.claim);
      if (pvc && pvc.obj.status?.phase !== 'Bound') this.opts.bindClaim?.(pvc.obj, node);
    }
    const updated = this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name!, p => {
      p.spec.nodeName = node;
      p.status.conditions = [cond('PodScheduled', 'True')];
    });
    this.recorder.record(pod, 'Normal', 'Scheduled', `Successfully assigned ${pod.metadata.namespace}/${pod.metadata.name} to ${node}`, { component: 'default-scheduler' });
    if (updated) this.later(1, () => this.kubeletStart(updated.obj));
  }

  podsUsingClaim(namespace: string, claim: string): KObj[] {
    return this.store
      .all(POD, namespace)
      .map(i => i.obj)
      .filter(p => pvcVolumes(p).some(v => v.claim === claim));
  }

  private nodeIP(nodeName: string): string {
    const node = this.store.get(NODE, undefined, nodeName);
    return (node?.obj.status?.addresses ?? []).find((a: { type: string }) => a.type === 'InternalIP')?.address ?? '10.0.0.1';
  }

  private allocatePodIP(nodeName: string): string {
    const names = this.nodes().map(n => n.metadata.name);
    const idx = Math.max(0, names.indexOf(nodeName));
    const next = (this.ipCounters.get(nodeName) ?? 10) + 1;
    this.ipCounters.set(nodeName, next);
    return `10.244.${idx}.${(next % 250) + 2}`;
  }

  /** Pods on other nodes holding a ReadWriteOnce volume this pod needs. */
  private multiAttachConflict(pod: KObj): { pv: string; users: string[] } | undefined {
    const ns = pod.metadata.namespace!;
    for (const v of pvcVolumes(pod)) {
      const pvc = this.store.get(PVC, ns, v.claim);
      if (!pvc || pvc.obj.status?.phase !== 'Bound') continue;
      const modes: string[] = pvc.obj.status?.accessModes ?? pvc.obj.spec?.accessModes ?? [];
      if (!modes.includes('ReadWriteOnce') || modes.includes('ReadWriteMany') || modes.includes('ReadOnlyMany')) continue;
      const users = this.podsUsingClaim(ns, v.claim).filter(
        p => p.metadata.uid !== pod.metadata.uid && p.spec?.nodeName && p.spec.nodeName !== pod.spec.nodeName && !isTerminal(p) && this.attached(p),
      );
      if (users.length) return { pv: pvc.obj.spec.volumeName, users: users.map(u => u.metadata.name!) };
    }
    return undefined;
  }

  /** Whether a pod got past volume attach (Running, or Pending with a started container flow). */
  private attached(p: KObj): boolean {
    return p.status?.phase === 'Running' || this.attachedPods.has(p.metadata.uid!);
  }

  private waitingStatus(pod: KObj, reason: string, message?: string): Record<string, unknown>[] {
    return (pod.spec?.containers ?? []).map((c: { name: string; image: string }) => ({
      name: c.name,
      state: { waiting: message ? { reason, message } : { reason } },
      lastState: {},
      ready: false,
      restartCount: 0,
      image: c.image,
      imageID: '',
      started: false,
    }));
  }

  private notReadyConditions(pod: KObj, initialized: boolean): Record<string, unknown>[] {
    const names = (pod.spec?.containers ?? []).map((c: { name: string }) => c.name).join(' ');
    const scheduled = (pod.status?.conditions ?? []).find((c: { type: string }) => c.type === 'PodScheduled') ?? cond('PodScheduled', 'True');
    return [
      cond('PodReadyToStartContainers', 'False'),
      cond('Initialized', initialized ? 'True' : 'False'),
      cond('Ready', 'False', { reason: 'ContainersNotReady', message: `containers with unready status: [${names}]` }),
      cond('ContainersReady', 'False', { reason: 'ContainersNotReady', message: `containers with unready status: [${names}]` }),
      scheduled,
    ];
  }

  private kubeletStart(target: KObj): void {
    const cur = this.store.get(POD, target.metadata.namespace, target.metadata.name!);
    if (!cur || cur.obj.metadata.uid !== target.metadata.uid || cur.obj.metadata.deletionTimestamp || isTerminal(cur.obj)) return;
    let pod = cur.obj;
    const nodeName: string = pod.spec.nodeName;
    const host = nodeName;
    const firstTime = !pod.status?.startTime;
    if (firstTime) {
      const startTime = nowRfc3339();
      const ip = this.nodeIP(nodeName);
      pod = this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name!, p => {
        p.status.startTime = startTime;
        p.status.hostIP = ip;
        p.status.hostIPs = [{ ip }];
        p.status.conditions = this.notReadyConditions(p, true);
        p.status.containerStatuses = this.waitingStatus(p, 'ContainerCreating');
      })!.obj;
      const deadline = pod.spec?.activeDeadlineSeconds;
      if (typeof deadline === 'number') {
        const uid = pod.metadata.uid;
        this.later(deadline * 1000, () => this.deadlineExceeded(pod.metadata.namespace!, pod.metadata.name!, uid!));
      }
    }
    // PVCs must exist and be bound (nodeName pods skip the scheduler's checks)
    for (const v of pvcVolumes(pod)) {
      const pvc = this.store.get(PVC, pod.metadata.namespace, v.claim);
      if (!pvc || pvc.obj.status?.phase !== 'Bound') {
        this.recorder.record(pod, 'Warning', 'FailedMount', `Unable to attach or mount volumes: unmounted volumes=[${v.volume}], unattached volumes=[${v.volume}]: error processing PVC ${pod.metadata.namespace}/${v.claim}: ${pvc ? `PVC is not bound` : `failed to fetch PVC from API server: persistentvolumeclaims "${v.claim}" not found`}`, { component: 'kubelet', host });
        this.scheduleRetry(pod);
        return;
      }
    }
    // a local volume mounts only on its node (a nodeName pod bypassed the scheduler's check)
    const nodeObj = this.store.get(NODE, undefined, nodeName)?.obj;
    for (const v of pvcVolumes(pod)) {
      const pvName: string = this.store.get(PVC, pod.metadata.namespace, v.claim)!.obj.spec.volumeName;
      const pv = this.store.get(PV, undefined, pvName)?.obj;
      if (pv && nodeObj && !pvFitsNode(pv, nodeObj)) {
        const plugin = pv.spec.local ? 'kubernetes.io/local-volume' : 'kubernetes.io/host-path';
        this.recorder.record(pod, 'Warning', 'FailedMount', `MountVolume.NodeAffinity check failed for volume "${pvName}" (UniqueName: "${plugin}/${pvName}") pod "${pod.metadata.name}" (UID: "${pod.metadata.uid}") : no matching NodeSelectorTerms`, { component: 'kubelet', host });
        this.scheduleRetry(pod);
        return;
      }
    }
    const conflict = this.multiAttachConflict(pod);
    if (conflict) {
      this.recorder.record(pod, 'Warning', 'FailedAttachVolume', `Multi-Attach error for volume "${conflict.pv}" Volume is already used by pod(s) ${conflict.users.join(', ')}`, { component: 'attachdetach-controller' });
      this.scheduleRetry(pod);
      return;
    }
    if (!this.attachedPods.has(pod.metadata.uid!)) {
      this.attachedPods.add(pod.metadata.uid!);
      if (pvcVolumes(pod).length) {
        for (const v of pvcVolumes(pod)) {
          const pvc = this.store.get(PVC, pod.metadata.namespace, v.claim)!;
          this.recorder.record(pod, 'Normal', 'SuccessfulAttachVolume', `AttachVolume.Attach succeeded for volume "${pvc.obj.spec.volumeName}"`, { component: 'attachdetach-controller' });
        }
      }
    }
    // image pulls
    const containers: Array<{ name: string; image: string; imagePullPolicy?: string }> = pod.spec.containers ?? [];
    const pulledOnNode = this.pulled.get(nodeName) ?? new Set<string>();
    this.pulled.set(nodeName, pulledOnNode);
    const bad = containers.find(c => !this.imageAllowed(c.image));
    for (const c of containers) {
      const fieldPath = `spec.containers{${c.name}}`;
      if (c === bad) break;
      const norm = normalizeImage(c.image);
      if (c.imagePullPolicy !== 'Always' && pulledOnNode.has(norm)) {
        this.recorder.record(pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, { component: 'kubelet', host }, fieldPath);
      } else {
        this.recorder.record(pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, { component: 'kubelet', host }, fieldPath);
        this.recorder.record(pod, 'Normal', 'Pulled', `Successfully pulled image "${c.image}" in 412ms (412ms including waiting). Image size: 3623807 bytes.`, { component: 'kubelet', host }, fieldPath);
        pulledOnNode.add(norm);
      }
      this.recorder.record(pod, 'Normal', 'Created', `Created container: ${c.name}`, { component: 'kubelet', host }, fieldPath);
      this.recorder.record(pod, 'Normal', 'Started', `Started container ${c.name}`, { component: 'kubelet', host }, fieldPath);
    }
    if (bad) {
      this.imagePullFailed(pod, bad);
      return;
    }
    const uid = pod.metadata.uid;
    this.later(this.opts.runningDelayMs, () => this.markRunning(pod.metadata.namespace!, pod.metadata.name!, uid!));
  }

  private imagePullFailed(pod: KObj, c: { name: string; image: string }): void {
    const host = pod.spec.nodeName;
    const fieldPath = `spec.containers{${c.name}}`;
    const norm = normalizeImage(c.image);
    const pullMsg = `failed to pull and unpack image "${norm}": failed to resolve reference "${norm}": ${norm}: not found`;
    const errMsg = `rpc error: code = NotFound desc = ${pullMsg}`;
    this.recorder.record(pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, { component: 'kubelet', host }, fieldPath);
    this.recorder.record(pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${errMsg}`, { component: 'kubelet', host }, fieldPath);
    this.recorder.record(pod, 'Warning', 'Failed', 'Error: ErrImagePull', { component: 'kubelet', host }, fieldPath);
    const setWaiting = (reason: string, message: string) =>
      this.store.mutate(POD, pod.metadata.namespace, pod.metadata.name!, p => {
        if (p.metadata.uid !== pod.metadata.uid || isTerminal(p)) return;
        p.status.conditions = this.notReadyConditions(p, true);
        p.status.containerStatuses = (p.spec.containers ?? []).map((cc: { name: string; image: string }) => ({
          name: cc.name,
          state: { waiting: cc.name === c.name ? { reason, message } : { reason: 'PodInitializing' } },
          lastState: {},
          ready: false,
          restartCount: 0,
          image: cc.image,
          imageID: '',
          started: false,
        }));
      });
    setWaiting('ErrImagePull', errMsg);
    const uid = pod.metadata.uid;
    this.later(this.opts.backoffDelayMs, () => {
      const cur = this.store.get(POD, pod.metadata.namespace, pod.metadata.name!);
      if (!cur || cur.obj.metadata.uid !== uid || cur.obj.metadata.deletionTimestamp || isTerminal(cur.obj)) return;
      this.recorder.record(pod, 'Normal', 'BackOff', `Back-off pulling image "${c.image}"`, { component: 'kubelet', host }, fieldPath);
      this.recorder.record(pod, 'Warning', 'Failed', 'Error: ImagePullBackOff', { component: 'kubelet', host }, fieldPath);
      setWaiting('ImagePullBackOff', `Back-off pulling image "${c.image}": ErrImagePull: ${errMsg}`);
    });
  }

  /** The status of a pod whose containers all run (also used for fixture pods). */
  runningStatus(pod: KObj, at: string, podIP?: string): Record<string, unknown> {
    const nodeName: string = pod.spec.nodeName;
    const ip = this.nodeIP(nodeName);
    const pip = podIP ?? this.allocatePodIP(nodeName);
    return {
      phase: 'Running',
      conditions: [
        cond('PodReadyToStartContainers', 'True', {}, at),
        cond('Initialized', 'True', {}, at),
        cond('Ready', 'True', {}, at),
        cond('ContainersReady', 'True', {}, at),
        cond('PodScheduled', 'True', {}, at),
      ],
      hostIP: ip,
      hostIPs: [{ ip }],
      podIP: pip,
      podIPs: [{ ip: pip }],
      startTime: pod.status?.startTime ?? at,
      containerStatuses: (pod.spec.containers ?? []).map((c: { name: string; image: string; volumeMounts?: unknown[] }) => {
        const norm = normalizeImage(c.image);
        const cs: Record<string, unknown> = {
          name: c.name,
          state: { running: { startedAt: at } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image: norm,
          imageID: `${norm.replace(/:[^:/]+$/, '')}@sha256:${hex(norm)}`,
          containerID: `containerd://${hex(`${pod.metadata.uid}/${c.name}`)}`,
          started: true,
        };
        if (c.volumeMounts?.length) cs.volumeMounts = c.volumeMounts;
        return cs;
      }),
      qosClass: pod.status?.qosClass ?? 'BestEffort',
    };
  }

  private markRunning(ns: string, name: string, uid: string): void {
    this.store.mutate(POD, ns, name, p => {
      if (p.metadata.uid !== uid || p.metadata.deletionTimestamp || isTerminal(p)) return;
      p.status = this.runningStatus(p, nowRfc3339());
    });
  }

  private deadlineExceeded(ns: string, name: string, uid: string): void {
    const cur = this.store.get(POD, ns, name);
    if (!cur || cur.obj.metadata.uid !== uid || isTerminal(cur.obj) || cur.obj.metadata.deletionTimestamp) return;
    this.killProcesses(ns, name);
    const at = nowRfc3339();
    const updated = this.store.mutate(POD, ns, name, p => {
      const prevStatuses: Array<Record<string, any>> = p.status.containerStatuses ?? []; // eslint-disable-line @typescript-eslint/no-explicit-any
      p.status.phase = 'Failed';
      p.status.reason = 'DeadlineExceeded';
      p.status.message = 'Pod was active on the node longer than the specified deadline';
      p.status.conditions = (p.status.conditions ?? []).map((c: Record<string, unknown>) =>
        c.type === 'Ready' || c.type === 'ContainersReady' || c.type === 'PodReadyToStartContainers'
          ? cond(String(c.type), 'False', c.type === 'PodReadyToStartContainers' ? {} : { reason: 'PodFailed' }, at)
          : c,
      );
      p.status.containerStatuses = prevStatuses.map(cs => ({
        ...cs,
        state: {
          terminated: {
            exitCode: 137,
            reason: 'Error',
            startedAt: cs.state?.running?.startedAt ?? at,
            finishedAt: at,
            containerID: cs.containerID,
          },
        },
        ready: false,
        started: false,
      }));
    });
    if (updated) this.recorder.record(updated.obj, 'Normal', 'DeadlineExceeded', 'Pod was active on the node longer than the specified deadline', { component: 'kubelet', host: updated.obj.spec.nodeName });
  }

  /**
   * Graceful deletion. Returns the pod as the API returns it (with deletionTimestamp) or, when it
   * is removed at once, undefined.
   */
  deletePod(item: StoredItem, graceSeconds: number | undefined): StoredItem | undefined {
    const pod = item.obj;
    const ns = pod.metadata.namespace!;
    const name = pod.metadata.name!;
    let grace = graceSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (!pod.spec?.nodeName || isTerminal(pod)) grace = 0;
    if (grace <= 0) {
      this.killProcesses(ns, name);
      this.attachedPods.delete(pod.metadata.uid!);
      this.store.remove(POD, ns, name);
      return undefined;
    }
    if (pod.metadata.deletionTimestamp) {
      // a second delete may only shorten the grace period
      if (pod.metadata.deletionGracePeriodSeconds !== undefined && grace >= pod.metadata.deletionGracePeriodSeconds) return item;
    }
    const at = new Date(Date.now() + grace * 1000);
    const updated = this.store.mutate(POD, ns, name, p => {
      p.metadata.deletionTimestamp = nowRfc3339(at);
      p.metadata.deletionGracePeriodSeconds = grace;
    })!;
    const uid = pod.metadata.uid;
    for (const c of pod.spec?.containers ?? []) {
      this.recorder.record(pod, 'Normal', 'Killing', `Stopping container ${c.name}`, { component: 'kubelet', host: pod.spec.nodeName }, `spec.containers{${c.name}}`);
    }
    this.later(Math.min(grace * 1000, this.opts.terminationDelayMs), () => {
      this.killProcesses(ns, name);
      const cur = this.store.get(POD, ns, name);
      this.attachedPods.delete(uid!);
      if (cur && cur.obj.metadata.uid === uid) this.store.remove(POD, ns, name);
    });
    return updated;
  }

  /** A new random pod-template-hash-like suffix. */
  static suffix(n = 5): string {
    const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
    const bytes = randomBytes(n);
    return [...bytes].map(b => alphabet[b % alphabet.length]).join('');
  }

  /**
   * The PV a provisioner creates for a Pending PVC. A node-local class's PV is tied to `node` the
   * way local-path-provisioner writes it (see volumeBinding.ts); other PVs get a plain hostPath.
   */
  static pvForClaim(pvc: KObj, storageClass: KObj | undefined, node?: KObj): KObj {
    const name = `pvc-${pvc.metadata.uid}`;
    const source =
      node && isNodeLocalClass(storageClass)
        ? localPvSpec(storageClass, name, { namespace: pvc.metadata.namespace!, name: pvc.metadata.name! }, node)
        : { hostPath: { path: `/var/lib/kube-sim/pvs/${name}`, type: '' } };
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name,
        annotations: { 'pv.kubernetes.io/provisioned-by': String((storageClass as Record<string, unknown> | undefined)?.provisioner ?? 'kube-sim.nkvm.io/hostpath') },
        finalizers: ['kubernetes.io/pv-protection'],
      },
      spec: {
        capacity: { storage: pvc.spec.resources.requests.storage },
        accessModes: pvc.spec.accessModes,
        persistentVolumeReclaimPolicy: String((storageClass as Record<string, unknown> | undefined)?.reclaimPolicy ?? 'Delete'),
        storageClassName: pvc.spec.storageClassName ?? '',
        volumeMode: pvc.spec.volumeMode ?? 'Filesystem',
        claimRef: { kind: 'PersistentVolumeClaim', namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid, apiVersion: 'v1', resourceVersion: pvc.metadata.resourceVersion },
        ...source,
      },
      status: { phase: 'Bound' },
    };
  }
}
