/*
 * BackupService: a request {cluster, volumes[], destination} becomes a run with one queued item
 * per PVC (checked against `volume-manager.backup.create` for each PVC's entity); reads of runs,
 * history and archives are checked against `backup.read` / `archive.download`.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type {
  AuditorService,
  BackstageCredentials,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  adHocDestinationPermission,
  archiveDownloadPermission,
  backupCreatePermission,
  backupReadPermission,
  LOCAL_DESTINATION_ID,
  type BackupItem,
  type BackupListQuery,
  type BackupListResponse,
  type BackupRun,
  type CreateBackupRequest,
  type DestinationsResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import type { BackupStore, StoredItem } from '../../database/BackupStore';
import { checkAdHocHost } from '../ArchiveSinks/adHocHostPolicy';
import { AD_HOC_PREFIX, type ArchiveSinkRegistry } from '../ArchiveSinks/ArchiveSinkRegistry';
import type { LocalArchiveSink } from '../ArchiveSinks/LocalArchiveSink';
import { normalizeRemoteDestination, type RemoteDestination } from '../ArchiveSinks/remoteDestination';
import type { BackupWorker } from '../BackupWorker/BackupWorker';
import { assertDns1123Namespace } from '../VolumeInventory/VolumeInventory';
import { requesterRefOf, userRefOf, type VolumeQueryService } from '../VolumeInventory/VolumeQueryService';

export interface ArchiveFile {
  path: string;
  size: number;
  fileName: string;
  sha256: string | null;
}

function publicItem(item: StoredItem, live?: { bytes: number; bytesPerSecond: number }): BackupItem {
  const { entityRef: _e, destination: _d, claimedBy: _c, leaseExpiresAt: _l, ...rest } = item;
  return { ...rest, progress: item.status === 'running' ? (live ?? item.progress) : null };
}

export function createBackupService(options: {
  store: BackupStore;
  volumes: VolumeQueryService;
  config: VolumeManagerConfig;
  worker: BackupWorker;
  localSink: LocalArchiveSink;
  sinks: ArchiveSinkRegistry;
  auditor: AuditorService;
  permissions: PermissionsService;
  logger: LoggerService;
  knownClusters(userRef?: string): string[];
}) {
  const { store, volumes, config, worker, localSink, sinks } = options;

  /**
   * The destination id to store, and for a one-off destination its checked spec (kept in
   * memory only, see ArchiveSinkRegistry): the caller needs `volume-manager.destination.adhoc`,
   * and the host must pass the allow-list after DNS resolution (adHocHostPolicy.ts); the sinks
   * then connect to the checked address. Nothing connects to the destination before that.
   */
  async function resolveDestination(
    destination: CreateBackupRequest['destination'],
    credentials: BackstageCredentials,
  ): Promise<{ id: string; adHoc?: RemoteDestination }> {
    if (typeof destination !== 'string') {
      const [decision] = await options.permissions.authorize([{ permission: adHocDestinationPermission }], {
        credentials,
      });
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError(
          `You may not back up to a one-off destination (permission ${adHocDestinationPermission.name})`,
        );
      }
      if (!config.allowAdHocDestinations) {
        throw new InputError(
          'One-off destinations are disabled on this portal (volumeManager.allowAdHocDestinations)',
        );
      }
      const id = `${AD_HOC_PREFIX}${destination.type}`;
      const adHoc = normalizeRemoteDestination(
        { ...destination, keepLocalCopy: false },
        { id, what: 'destination', roots: config.adHocRemoteRoots },
      );
      adHoc.address = await checkAdHocHost(adHoc.host, {
        allowedHosts: config.adHocAllowedHosts,
        timeoutMs: config.remoteTransfer.timeoutMs,
        logger: options.logger,
      });
      return { id, adHoc };
    }
    if (destination === LOCAL_DESTINATION_ID || sinks.has(destination)) return { id: destination };
    throw new InputError(`Unknown destination '${destination}'`);
  }

  async function loadRun(runId: string, credentials: BackstageCredentials) {
    const run = await store.getRun(runId);
    if (!run) throw new NotFoundError(`No backup run '${runId}'`);
    const access = await volumes.access(backupReadPermission, run.items.map(i => i.entityRef), credentials);
    const visible = run.items.filter(i => access.unconditional || access.allows(i.entityRef));
    if (visible.length === 0) throw new NotFoundError(`No backup run '${runId}'`);
    return { run, visible };
  }

  return {
    listDestinations(): DestinationsResponse {
      return { destinations: sinks.list(), allowAdHoc: config.allowAdHocDestinations };
    },

    async createRun(request: CreateBackupRequest, credentials: BackstageCredentials): Promise<BackupRun> {
      const requester = requesterRefOf(credentials);
      if (!options.knownClusters(userRefOf(credentials)).includes(request.cluster)) {
        throw new InputError(`Unknown cluster '${request.cluster}'`);
      }
      if (request.volumes.length > config.maxVolumesPerRun) {
        throw new InputError(
          `A run may back up at most ${config.maxVolumesPerRun} PVCs (volumeManager.maxVolumesPerRun); got ${request.volumes.length}`,
        );
      }
      const seen = new Set<string>();
      for (const v of request.volumes) {
        assertDns1123Namespace(v.namespace);
        if (config.allowedNamespaces && !config.allowedNamespaces.includes(v.namespace)) {
          throw new InputError(`Namespace '${v.namespace}' is outside volumeManager.allowedNamespaces`);
        }
        const k = `${v.namespace}/${v.name}`;
        if (seen.has(k)) throw new InputError(`PVC '${k}' is listed twice`);
        seen.add(k);
      }
      const destination = await resolveDestination(request.destination, credentials);
      const found = await volumes.findVolumes(request.cluster, request.volumes, credentials);
      const access = await volumes.access(backupCreatePermission, found.map(v => v.entityRef), credentials);
      const denied = found.filter(v => !access.unconditional && !access.allows(v.entityRef));
      if (denied.length > 0) {
        throw new NotAllowedError(
          `You may not back up ${denied.map(v => `'${v.namespace}/${v.name}'${v.entityRef ? ` (${v.entityRef})` : ''}`).join(', ')}`,
        );
      }
      const run = await store.createRun(
        {
          cluster: request.cluster,
          destination: destination.id,
          requestedBy: requester,
          items: found.map(v => ({ namespace: v.namespace, pvc: v.name, entityRef: v.entityRef })),
          holder: destination.adHoc ? { workerId: worker.workerId, leaseMs: worker.leaseMs } : undefined,
        },
        config.queue,
      );
      if (destination.adHoc) {
        sinks.registerAdHoc(
          run.items.map(i => i.id),
          destination.adHoc,
        );
      }
      worker.kick();
      return { ...run, items: run.items.map(i => ({ ...i, progress: null })) };
    },

    async getRun(runId: string, credentials: BackstageCredentials): Promise<BackupRun> {
      const { run, visible } = await loadRun(runId, credentials);
      return { ...run, items: visible.map(i => publicItem(i, worker.progressOf(i.id))) };
    },

    async cancelRun(runId: string, credentials: BackstageCredentials): Promise<BackupRun> {
      const { run } = await loadRun(runId, credentials);
      const access = await volumes.access(backupCreatePermission, run.items.map(i => i.entityRef), credentials);
      if (!run.items.every(i => access.unconditional || access.allows(i.entityRef))) {
        throw new NotAllowedError(`You may not cancel run '${runId}'`);
      }
      await store.cancelRun(runId);
      for (const item of run.items) {
        if (!worker.abort(item.id)) sinks.release(item.id);
      }
      return this.getRun(runId, credentials);
    },

    async listHistory(query: BackupListQuery, credentials: BackstageCredentials): Promise<BackupListResponse> {
      let entityRefs: string[] | undefined;
      if (query.entityRef) {
        entityRefs = [await volumes.requireEntity(query.entityRef, backupReadPermission, credentials)];
      } else {
        const access = await volumes.access(backupReadPermission, [], credentials);
        if (!access.unconditional) {
          throw new InputError('entityRef is required: you may read the backup history of specific entities only');
        }
      }
      const page = await store.listItems({
        cluster: query.cluster,
        namespace: query.namespace,
        pvc: query.pvc,
        status: query.status,
        entityRefs,
        limit: Math.min(query.limit ?? 50, 500),
        cursor: query.cursor,
      });
      return {
        items: page.items.map(i => publicItem(i, worker.progressOf(i.id))),
        nextCursor: page.nextCursor,
      };
    },

    async archiveFile(runId: string, itemId: string, credentials: BackstageCredentials): Promise<ArchiveFile> {
      const item = await store.getItem(itemId);
      if (!item || item.runId !== runId) throw new NotFoundError(`No item '${itemId}' in run '${runId}'`);
      const access = await volumes.access(archiveDownloadPermission, [item.entityRef], credentials);
      if (!access.unconditional && !access.allows(item.entityRef)) {
        throw new NotAllowedError(`You may not download archives of '${item.entityRef ?? `${item.namespace}/${item.pvc}`}'`);
      }
      if (item.status !== 'succeeded' || !item.archiveUri) {
        throw new NotFoundError(`Item '${itemId}' has no archive (status ${item.status})`);
      }
      const file = localSink.resolveUri(item.archiveUri);
      if (!file) {
        throw new InputError(`The archive of item '${itemId}' is not stored locally: ${item.archiveUri}`);
      }
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile()) throw new NotFoundError(`The archive of item '${itemId}' is no longer on disk`);
      return { path: file, size: info.size, fileName: path.basename(file), sha256: item.sha256 };
    },
  };
}

export type BackupService = ReturnType<typeof createBackupService>;
