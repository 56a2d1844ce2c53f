import { createApiRef } from '@backstage/core-plugin-api';
import type {
  BackupListQuery,
  BackupListResponse,
  BackupRun,
  ClusterSummary,
  ClustersResponse,
  CreateBackupRequest,
  CreateRestoreRequest,
  DestinationsResponse,
  Restore,
  RestoreListResponse,
  VolumesQuery,
  VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';

export type { BackupListQuery, VolumesQuery };

/**
 * Filters of `GET /restores` (restore history, newest first). Non-admins must name the
 * `entityRef` whose restores they read.
 *
 * @public
 */
export interface RestoreListQuery {
  entityRef?: string;
  cluster?: string;
  namespace?: string;
  /** The target PVC's name. */
  pvc?: string;
  limit?: number;
  cursor?: string;
}

/**
 * Liveness of the volume-manager backend, as `GET /health` reports it.
 *
 * @public
 */
export interface HealthResponse {
  status: string;
}

/**
 * Body of `POST /clusters/session`: a kubeconfig pasted by a user for a short troubleshooting
 * session (paste mode).
 *
 * @public
 */
export interface CreateClusterSessionRequest {
  /** The cluster name the session is listed under (DNS-1123 label). */
  name: string;
  kubeconfig: string;
  /** The context to use; the kubeconfig's current context when omitted. */
  context?: string;
}

/**
 * A downloaded backup archive.
 *
 * @public
 */
export interface ArchiveDownload {
  blob: Blob;
  /** From `Content-Disposition`, when the browser may read it (same origin or exposed by CORS). */
  fileName: string | null;
  /** The recorded sha256 from `X-Checksum-Sha256`, when the browser may read it. */
  sha256: string | null;
}

/**
 * Client of the volume-manager backend (`/api/volume-manager`). Every method rejects with a
 * `ResponseError` from `@backstage/errors` when the backend answers with a non-2xx status.
 *
 * @public
 */
export interface VolumeManagerApi {
  /** `GET /health`. */
  getHealth(): Promise<HealthResponse>;
  /** `GET /clusters`: configured clusters and their auth source. */
  getClusters(): Promise<ClustersResponse>;
  /** `GET /volumes`: the PVC inventory; partial failures come back in `errors`. */
  getVolumes(query?: VolumesQuery): Promise<VolumesResponse>;
  /** `POST /backups`: start a run. The backend answers 202 with the queued run. */
  createBackup(request: CreateBackupRequest): Promise<BackupRun>;
  /** `GET /backups`: backup history, newest first. */
  listBackups(query?: BackupListQuery): Promise<BackupListResponse>;
  /** `GET /backups/:runId`: a run with its items and live progress. */
  getBackupRun(runId: string): Promise<BackupRun>;
  /** `POST /backups/:runId/cancel`: cancel what has not finished. */
  cancelBackupRun(runId: string): Promise<BackupRun>;
  /** `GET /backups/:runId/items/:itemId/archive`: the `.tar.gz` of a local backup. */
  downloadArchive(runId: string, itemId: string): Promise<ArchiveDownload>;
  /** `GET /destinations`: configured destinations, never their secrets. */
  getDestinations(): Promise<DestinationsResponse>;
  /**
   * `POST /restores`: restore a succeeded backup into a new PVC or an existing one. The backend
   * answers 202 with the queued restore.
   */
  createRestore(request: CreateRestoreRequest): Promise<Restore>;
  /** `GET /restores/:id`: a restore with its phase, checks and progress. */
  getRestore(restoreId: string): Promise<Restore>;
  /** `POST /restores/:id/cancel`: cancel a restore that has not finished. */
  cancelRestore(restoreId: string): Promise<Restore>;
  /** `GET /restores`: restore history, newest first. */
  listRestores(query?: RestoreListQuery): Promise<RestoreListResponse>;
  /** `POST /clusters/session`: paste a kubeconfig (paste mode, admins only). */
  createClusterSession(
    request: CreateClusterSessionRequest,
  ): Promise<ClusterSummary>;
}

/**
 * API reference of {@link VolumeManagerApi}.
 *
 * @public
 */
export const volumeManagerApiRef = createApiRef<VolumeManagerApi>({
  id: 'plugin.volume-manager.service',
});
