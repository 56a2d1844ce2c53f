/**
 * API types shared by the backend and the frontend. This is the stable JSON contract of
 * `/api/volume-manager`; see the plugin README for examples.
 */

/**
 * Where the backend can reach a cluster from. `config` covers Backstage's
 * `kubernetes.clusterLocatorMethods`; `volumeManager` covers `volumeManager.clusters[]`;
 * `session` is a kubeconfig pasted by a user for a short troubleshooting session.
 *
 * @public
 */
export type ClusterSource =
  | 'kubernetes-config'
  | 'local-kubectl-proxy'
  | 'in-cluster'
  | 'kubeconfig'
  | 'session';

/**
 * The way a user can offer cluster access in the UI, ordered by `volumeManager.defaultAuthMode`.
 *
 * @public
 */
export type AuthMode = 'in-cluster' | 'kubeconfig' | 'paste';

/** @public */
export interface ClusterSummary {
  name: string;
  title?: string;
  source: ClusterSource;
  /** The auth provider key, for example `serviceAccount`, `localKubectlProxy` or `anonymous`. */
  authProvider?: string;
  /** Set for `session` clusters: when the pasted credentials are forgotten. */
  expiresAt?: string;
}

/** @public */
export interface ClustersResponse {
  clusters: ClusterSummary[];
  /** The auth modes the UI offers, the default first. */
  authModes: AuthMode[];
}

/**
 * The workload that owns the pods mounting a PVC, resolved through ownerReferences.
 *
 * @public
 */
export interface VolumeOwner {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'CronJob' | 'Job' | 'ReplicaSet' | 'Pod' | string;
  name: string;
}

/** @public */
export interface VolumeMount {
  pod: string;
  node: string | null;
  readOnly: boolean;
}

/** @public */
export type BackupStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'interrupted'
  | 'cancelled';

/** @public */
export interface LastBackup {
  runId: string;
  itemId: string;
  finishedAt: string;
  bytes: number;
  sha256: string;
  archiveUri: string;
}

/**
 * The catalog entities that all claim one PVC, sorted by ref.
 *
 * @public
 */
export interface AmbiguousOwnership {
  entityRefs: string[];
}

/**
 * One PersistentVolumeClaim as the inventory reports it.
 *
 * @public
 */
export interface Volume {
  cluster: string;
  namespace: string;
  name: string;
  phase: string;
  /** Requested and actual capacity, as Kubernetes quantities. */
  capacity: { requested: string | null; actual: string | null };
  storageClass: string | null;
  accessModes: string[];
  volumeName: string | null;
  /** `null` means no pod mounts the PVC: it is unmounted. */
  owner: VolumeOwner | null;
  mounts: VolumeMount[];
  /**
   * The catalog entity that owns the PVC: the one entity that matches it (and, where the platform
   * binds namespaces to owners, whose `spec.owner` agrees with the namespace's owner). Unset when
   * no entity, or more than one, may claim it.
   */
  entityRef?: string;
  /**
   * Set when more than one catalog entity matches the PVC. Such a PVC has no owner entity: only
   * users the permission policy allows unconditionally may back it up, download its archives or
   * read its history until the catalog (or the namespace binding) leaves one claimant.
   */
  ambiguousOwnership?: AmbiguousOwnership;
  lastSuccessfulBackup: LastBackup | null;
  /** Status of the most recent backup attempt, whatever its outcome. */
  lastStatus?: BackupStatus | null;
}

/**
 * A partial failure of the inventory: one cluster or namespace that could not be read. The rest
 * of the result is still valid.
 *
 * @public
 */
export interface InventoryError {
  cluster: string;
  namespace?: string;
  errorType:
    | 'CLUSTER_UNREACHABLE'
    | 'RBAC_GAP'
    | 'UNAUTHORIZED'
    | 'TIMEOUT'
    | 'NAMESPACE_LIMIT'
    | 'UNKNOWN';
  message: string;
  statusCode?: number;
}

/** @public */
export interface VolumesResponse {
  items: Volume[];
  errors: InventoryError[];
}

/** @public */
export interface BackupProgress {
  bytes: number;
  bytesPerSecond: number;
}

/** @public */
export interface BackupItem {
  id: string;
  runId: string;
  cluster: string;
  namespace: string;
  pvc: string;
  status: BackupStatus;
  bytes: number | null;
  sha256: string | null;
  archiveUri: string | null;
  error: string | null;
  helperPod: string | null;
  node: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  requestedBy: string;
  progress: BackupProgress | null;
}

/** @public */
export interface BackupRun {
  id: string;
  status: BackupStatus;
  cluster: string;
  destination: string;
  requestedBy: string;
  createdAt: string;
  items: BackupItem[];
}

/** @public */
export interface VolumeRef {
  namespace: string;
  name: string;
}

/** @public */
export interface CreateBackupRequest {
  cluster: string;
  volumes: VolumeRef[];
  destination: string | AdHocDestination;
}

/** @public */
export type DestinationType = 'local' | 'ftp' | 'ftps' | 'scp' | 'rsync';

/**
 * A destination typed into the UI for one run. Used once; never stored, logged or returned.
 *
 * @public
 */
export interface AdHocDestination {
  type: Exclude<DestinationType, 'local'>;
  host: string;
  port?: number;
  username: string;
  password?: string;
  privateKey?: string;
  remoteDir: string;
  hostKeySha256?: string;
  tls?: { ca?: string; rejectUnauthorized?: boolean; implicit?: boolean };
}

/**
 * A configured destination as the API shows it: never with its secrets.
 *
 * @public
 */
export interface DestinationSummary {
  id: string;
  type: DestinationType;
  host?: string;
  port?: number;
  username?: string;
  remoteDir?: string;
}

/** @public */
export interface DestinationsResponse {
  destinations: DestinationSummary[];
  allowAdHoc: boolean;
}

/** @public */
export interface BackupListResponse {
  items: BackupItem[];
  nextCursor: string | null;
}

/**
 * Filters of `GET /volumes`. All are optional; `entityRef` limits the inventory to the PVCs of
 * one catalog entity.
 *
 * @public
 */
export interface VolumesQuery {
  cluster?: string;
  namespace?: string;
  entityRef?: string;
}

/**
 * Filters and paging of `GET /backups`.
 *
 * @public
 */
export interface BackupListQuery {
  cluster?: string;
  namespace?: string;
  pvc?: string;
  entityRef?: string;
  status?: BackupStatus;
  limit?: number;
  cursor?: string;
}

/**
 * The phases of a restore. `verifying`: the archive is read once and its sha256 (against the
 * recorded value and the `.sha256` sidecar) and tar headers are checked, before anything touches
 * the target. `preflight`: the target is checked (capacity, pods that mount it). `restoring`:
 * the archive streams into the helper pod.
 *
 * @public
 */
export type RestorePhase =
  | 'queued'
  | 'verifying'
  | 'preflight'
  | 'restoring'
  | 'succeeded'
  | 'failed'
  | 'canceled'
  | 'interrupted';

/**
 * Which backup to restore: by item id, or the newest succeeded item of one PVC not newer than
 * `asOf` (RFC 3339; default: now).
 *
 * @public
 */
export type RestoreSource =
  | { itemId: string }
  | { source: { cluster: string; namespace: string; pvc: string; asOf?: string } };

/**
 * Restore into a PVC the backend creates. Name defaults to `<pvc>-restore-<short id>`; storage
 * class, access modes and size default to the source PVC's (size never below the archive's
 * uncompressed size).
 *
 * @public
 */
export interface NewPvcRestoreTarget {
  type: 'newPvc';
  cluster: string;
  namespace: string;
  name?: string;
  storageClassName?: string;
  /** A Kubernetes quantity, for example `2Gi`. */
  size?: string;
  accessModes?: string[];
  /**
   * Set by the backend, never taken from a request: the labels the new PVC gets so that the
   * source backup's entity claims it (that entity's equality label selector), when it does.
   */
  labels?: Record<string, string>;
}

/**
 * Restore into a PVC that exists. `merge` writes the archive's files over what is there;
 * `replace` empties the volume first (a mirror restore). `confirm` must repeat the PVC's name.
 *
 * @public
 */
export interface ExistingPvcRestoreTarget {
  type: 'existingPvc';
  cluster: string;
  namespace: string;
  name: string;
  mode: 'merge' | 'replace';
  confirm: string;
  /** `replace` takes a backup of the PVC first unless this is false. */
  safetyBackup?: boolean;
  /**
   * Extract straight into the volume when it lacks the room to stage the archive first. A
   * failure then leaves the volume partly restored.
   */
  allowDirectExtraction?: boolean;
}

/** @public */
export type RestoreTarget = NewPvcRestoreTarget | ExistingPvcRestoreTarget;

/**
 * `preserve` (the default): files keep their numeric uid/gid and modes from the archive (the
 * helper runs as root with CHOWN/FOWNER/DAC_OVERRIDE/FSETID). `workload`: files are extracted
 * as the workload's uid/gid (what restricted namespaces admit).
 *
 * @public
 */
export type RestoreOwnership = 'preserve' | 'workload';

/**
 * Body of `POST /restores`.
 *
 * @public
 */
export type CreateRestoreRequest = RestoreSource & {
  target: RestoreTarget;
  ownership?: RestoreOwnership;
};

/**
 * One check made before the restore writes anything.
 *
 * @public
 */
export interface RestoreCheck {
  /** For example `sha256`, `sidecar`, `tar-scan`, `capacity`, `not-mounted`, `target`. */
  name: string;
  ok: boolean;
  message: string;
}

/** @public */
export interface Restore {
  id: string;
  phase: RestorePhase;
  /** The backup item restored from. */
  itemId: string;
  source: { cluster: string; namespace: string; pvc: string; archiveUri: string; sha256: string; destination: string };
  target: RestoreTarget;
  /** The PVC written to (for `newPvc`, the name chosen). */
  targetPvc: { cluster: string; namespace: string; name: string } | null;
  ownership: RestoreOwnership;
  /** The catalog entity of the target PVC, when one matched. */
  entityRef: string | null;
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Archive bytes streamed in the current phase, and the archive's size. */
  bytesDone: number;
  bytesTotal: number | null;
  /** Tar entries found by the pre-scan, and their uncompressed size. */
  entries: number | null;
  uncompressedBytes: number | null;
  checks: RestoreCheck[];
  /** For `replace` with a safety backup: the backup run taken first. */
  safetyBackupRunId: string | null;
  helperPod: string | null;
  error: string | null;
}

/** @public */
export interface RestoreListResponse {
  items: Restore[];
  nextCursor: string | null;
}
