/*
 * The helper pod that mounts one PVC read-only at /data so `tar` can stream it out.
 *
 * - RWO PVC in use: pinned to the mounting pod's node with `nodeSelector:
 *   kubernetes.io/hostname` (not `nodeName`, which bypasses the scheduler and its volume
 *   checks), carrying that pod's tolerations so a tainted node still admits it.
 * - File access mirrors the workload's runAsUser/runAsGroup/fsGroup when it sets them;
 *   otherwise root with only DAC_READ_SEARCH (reads every file, writes none), or a non-root
 *   uid when configured.
 * - It can never outlive its item for long: activeDeadlineSeconds is a backstop, and the
 *   labels let the janitor find helpers no live item of this installation owns.
 */
import type { V1Pod, V1PodSecurityContext, V1SecurityContext, V1Toleration } from '@kubernetes/client-node';
import {
  HELPER_POD_MANAGED_BY_LABEL,
  HELPER_POD_MANAGED_BY_VALUE,
} from '@nkvm/backstage-plugin-volume-manager-common';

export const RUN_ID_LABEL = 'volume-manager.nkvm.io/run-id';
export const ITEM_ID_LABEL = 'volume-manager.nkvm.io/item-id';
/** Which installation made the helper: its janitor deletes only those. */
export const INSTALLATION_ID_LABEL = 'volume-manager.nkvm.io/installation-id';
export const PVC_ANNOTATION = 'volume-manager.nkvm.io/pvc';
export const HELPER_CONTAINER = 'backup';

export interface HelperPodInput {
  namespace: string;
  pvc: string;
  runId: string;
  itemId: string;
  /** `volumeManager.installationId`, or the id stored in the plugin database. */
  installationId: string;
  image: string;
  activeDeadlineSeconds: number;
  /** Pin to this node (the `kubernetes.io/hostname` label value of the mounting pod's node). */
  hostname?: string;
  tolerations?: V1Toleration[];
  /** The workload's identity, when it sets one. */
  workloadSecurity?: { runAsUser?: number; runAsGroup?: number; fsGroup?: number };
  defaultSecurityMode: 'root-dac-read-search' | 'nonroot';
}

function securityContexts(input: HelperPodInput): {
  pod: V1PodSecurityContext;
  container: V1SecurityContext;
} {
  const base: V1SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
  const w = input.workloadSecurity;
  if (w && (w.runAsUser !== undefined || w.runAsGroup !== undefined || w.fsGroup !== undefined)) {
    const pod: V1PodSecurityContext = {};
    if (w.runAsUser !== undefined) pod.runAsUser = w.runAsUser;
    if (w.runAsGroup !== undefined) pod.runAsGroup = w.runAsGroup;
    if (w.fsGroup !== undefined) {
      pod.fsGroup = w.fsGroup;
      // Never chown the workload's files to read them.
      pod.fsGroupChangePolicy = 'OnRootMismatch';
    }
    if (w.runAsUser !== undefined) pod.runAsNonRoot = w.runAsUser !== 0;
    return { pod, container: base };
  }
  if (input.defaultSecurityMode === 'nonroot') {
    return {
      pod: { runAsUser: 65534, runAsGroup: 65534, runAsNonRoot: true },
      container: base,
    };
  }
  return {
    pod: { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false },
    container: { ...base, capabilities: { drop: ['ALL'], add: ['DAC_READ_SEARCH'] } },
  };
}

export function helperPodName(itemId: string): string {
  return `nkvm-backup-${itemId.replace(/[^a-z0-9]/g, '').slice(0, 12)}`;
}

export function helperPodSpec(input: HelperPodInput): V1Pod {
  const security = securityContexts(input);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: helperPodName(input.itemId),
      namespace: input.namespace,
      labels: {
        [HELPER_POD_MANAGED_BY_LABEL]: HELPER_POD_MANAGED_BY_VALUE,
        [RUN_ID_LABEL]: input.runId,
        [ITEM_ID_LABEL]: input.itemId,
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
          name: HELPER_CONTAINER,
          image: input.image,
          // Idles until the backend execs tar; the deadline ends it whatever happens.
          command: ['sleep', String(input.activeDeadlineSeconds)],
          securityContext: security.container,
          resources: {
            requests: { cpu: '50m', memory: '32Mi' },
            limits: { memory: '256Mi' },
          },
          volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }],
        },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: input.pvc, readOnly: true } }],
    },
  };
}
