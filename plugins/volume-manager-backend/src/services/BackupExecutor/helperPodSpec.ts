/*
 * The helper pod that mounts one PVC read-only at /data so `tar` can stream it out.
 *
 * - RWO PVC in use: pinned to the mounting pod's node with `nodeSelector:
 *   kubernetes.io/hostname` (not `nodeName`, which bypasses the scheduler and its volume
 *   checks), carrying that pod's tolerations so a tainted node still admits it.
 * - File access is the workload's own: its runAsUser/runAsGroup/fsGroup/supplementalGroups,
 *   with every capability dropped, so Pod Security admission at `baseline` (and at
 *   `restricted`, for a non-root workload) accepts the helper. A workload that sets no uid gets
 *   root without capabilities (or 65534 in `nonroot` mode). Root with DAC_READ_SEARCH, which
 *   reads every file but which `baseline` refuses, is only used in namespaces the platform team
 *   opted in (`helper.readAllNamespaces`).
 * - It can never outlive its item for long: activeDeadlineSeconds is a backstop, and the
 *   labels let the janitor find helpers no live item of this installation owns.
 *
 * A restore helper (`restore` set) is the same pod in write mode: the PVC is mounted read-write,
 * it is labelled with the restore id instead of run and item, and its identity follows the
 * restore's ownership: `preserve` runs as root with only CHOWN, FOWNER, DAC_OVERRIDE and FSETID
 * (all on the baseline list) so tar can give every file its archived uid/gid and mode;
 * `workload` takes the workload's identity exactly as a backup helper does (what `restricted`
 * admits), and files then belong to that uid.
 */
import type { V1Pod, V1PodSecurityContext, V1SecurityContext, V1Toleration } from '@kubernetes/client-node';
import {
  HELPER_POD_MANAGED_BY_LABEL,
  HELPER_POD_MANAGED_BY_VALUE,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { RestoreOwnership } from '@nkvm/backstage-plugin-volume-manager-common';
import type { HelperSecurityMode } from '../../config/readVolumeManagerConfig';

export const RUN_ID_LABEL = 'volume-manager.nkvm.io/run-id';
export const ITEM_ID_LABEL = 'volume-manager.nkvm.io/item-id';
/** On restore helpers (and the PVCs a restore creates): the restore they belong to. */
export const RESTORE_ID_LABEL = 'volume-manager.nkvm.io/restore-id';
/** Which installation made the helper: its janitor deletes only those. */
export const INSTALLATION_ID_LABEL = 'volume-manager.nkvm.io/installation-id';
export const PVC_ANNOTATION = 'volume-manager.nkvm.io/pvc';
export const HELPER_CONTAINER = 'backup';
export const RESTORE_HELPER_CONTAINER = 'restore';
/** What a `preserve` restore helper needs to set archived owners, modes and times as root. */
export const RESTORE_PRESERVE_CAPABILITIES = ['CHOWN', 'FOWNER', 'DAC_OVERRIDE', 'FSETID'];

/** A backup helper (read-only, with runId and itemId), or a restore helper (read-write) when `restore` is set. */
export interface HelperPodInput {
  namespace: string;
  pvc: string;
  runId?: string;
  itemId?: string;
  restore?: { restoreId: string; ownership: RestoreOwnership };
  /** `volumeManager.installationId`, or the id stored in the plugin database. */
  installationId: string;
  image: string;
  activeDeadlineSeconds: number;
  /** Pin to this node (the `kubernetes.io/hostname` label value of the mounting pod's node). */
  hostname?: string;
  tolerations?: V1Toleration[];
  /** The identity of the workload that mounts the PVC, when one does. */
  workloadSecurity?: WorkloadIdentity;
  /** The uid used when the workload sets none: root (0) or nobody (65534). */
  defaultSecurityMode: HelperSecurityMode;
  /** The namespace opted in to root with DAC_READ_SEARCH (reads every file). */
  readAll?: boolean;
}

/** What a workload's pod (and the container that mounts the PVC) says about its identity. */
export interface WorkloadIdentity {
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  supplementalGroups?: number[];
  runAsNonRoot?: boolean;
}

const NOBODY = 65534;

function securityContexts(input: HelperPodInput): {
  pod: V1PodSecurityContext;
  container: V1SecurityContext;
} {
  const container: V1SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  if (input.restore?.ownership === 'preserve') {
    return {
      pod: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false },
      container: { ...container, capabilities: { drop: ['ALL'], add: [...RESTORE_PRESERVE_CAPABILITIES] } },
    };
  }
  if (input.readAll && !input.restore) {
    return {
      pod: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false },
      container: { ...container, capabilities: { drop: ['ALL'], add: ['DAC_READ_SEARCH'] } },
    };
  }
  const w = input.workloadSecurity ?? {};
  const nonRootFallback = input.defaultSecurityMode === 'nonroot' || w.runAsNonRoot === true;
  const runAsUser = w.runAsUser ?? (nonRootFallback ? NOBODY : 0);
  // A workload that sets a uid but no gid keeps its image's group; a fallback uid brings its own.
  const runAsGroup = w.runAsGroup ?? (w.runAsUser === undefined ? runAsUser : undefined);
  const pod: V1PodSecurityContext = {
    runAsUser,
    ...(runAsGroup !== undefined && { runAsGroup }),
    runAsNonRoot: runAsUser !== 0,
  };
  if (w.fsGroup !== undefined) {
    pod.fsGroup = w.fsGroup;
    // Never chown the workload's files to read them.
    pod.fsGroupChangePolicy = 'OnRootMismatch';
  }
  if (w.supplementalGroups?.length) pod.supplementalGroups = [...w.supplementalGroups];
  return { pod, container };
}

/** How the helper will read, in words for error messages. */
export function describeHelperIdentity(pod: V1Pod): string {
  const ctx = pod.spec?.securityContext ?? {};
  const added = pod.spec?.containers[0]?.securityContext?.capabilities?.add ?? [];
  return `uid ${ctx.runAsUser ?? 'unset'}${added.length ? ` with ${added.join(', ')}` : ', no capabilities'}`;
}

export function helperPodName(itemId: string): string {
  return `nkvm-backup-${itemId.replace(/[^a-z0-9]/g, '').slice(0, 12)}`;
}

export function restoreHelperPodName(restoreId: string): string {
  return `nkvm-restore-${restoreId.replace(/[^a-z0-9]/g, '').slice(0, 12)}`;
}

export function helperPodSpec(input: HelperPodInput): V1Pod {
  const security = securityContexts(input);
  const write = input.restore !== undefined;
  if (!input.restore && (!input.runId || !input.itemId)) throw new Error('A backup helper needs a run id and an item id');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: input.restore ? restoreHelperPodName(input.restore.restoreId) : helperPodName(input.itemId!),
      namespace: input.namespace,
      labels: {
        [HELPER_POD_MANAGED_BY_LABEL]: HELPER_POD_MANAGED_BY_VALUE,
        ...(input.restore
          ? { [RESTORE_ID_LABEL]: input.restore.restoreId }
          : { [RUN_ID_LABEL]: input.runId!, [ITEM_ID_LABEL]: input.itemId! }),
        [INSTALLATION_ID_LABEL]: input.installationId,
      },
      annotations: { [PVC_ANNOTATION]: input.pvc },
    },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: input.activeDeadlineSeconds,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      ...(input.hostname && { nodeSelector: { 'kubernetes.io/hostname': input.hostname } }),
      ...(input.tolerations?.length && { tolerations: input.tolerations }),
      securityContext: { ...security.pod, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: write ? RESTORE_HELPER_CONTAINER : HELPER_CONTAINER,
          image: input.image,
          // Idles until the backend execs tar; the deadline ends it whatever happens.
          command: ['sleep', String(input.activeDeadlineSeconds)],
          securityContext: security.container,
          resources: {
            requests: { cpu: '50m', memory: '32Mi' },
            limits: { memory: '256Mi' },
          },
          volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: !write }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: input.pvc, readOnly: !write } }],
    },
  };
}
