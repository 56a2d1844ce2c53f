/*
 * RestoreService: a request {source, target, ownership} becomes a queued restore for the
 * RestoreWorker. It resolves the source backup item (by id, or the newest succeeded item of that
 * PVC as of a time), refuses what cannot be restored (not succeeded, one-off destination, a
 * destination this portal cannot read back), and authorizes: `backup.read` and
 * `archive.download` on the source item's entity (restoring into a PVC one controls hands over
 * the backup's data, as a download would), `restore.create` on the target PVC's entity, and
 * `restore.inPlace` (also on the target's entity) to write into a PVC that exists. The target's
 * entity is the inventory's owner entity of the PVC; for a new PVC, the entity that would own a
 * PVC of that name there by the same matching rules, given the labels the restore gives it: the
 * source entity's equality selector labels, so the copy stays with the source's entity where that
 * entity may claim PVCs (its namespace annotation, the namespace binding, no rival claimant). No
 * entity: only a policy that allows the permission unconditionally lets the restore through.
 */
import { randomUUID } from 'node:crypto';
import type { BackstageCredentials } from '@backstage/backend-plugin-api';
import { ConflictError, InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import type { ResourcePermission } from '@backstage/plugin-permission-common';
import {
  archiveDownloadPermission,
  backupReadPermission,
  restoreCreatePermission,
  restoreInPlacePermission,
  type CreateRestoreRequest,
  type Restore,
  type RestoreListResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import type { BackupStore, StoredItem } from '../../database/BackupStore';
import type { RestoreStore, StoredRestore } from '../../database/RestoreStore';
import { AD_HOC_PREFIX, type ArchiveSinkRegistry } from '../ArchiveSinks/ArchiveSinkRegistry';
import type { RestoreWorker } from '../RestoreWorker/RestoreWorker';
import { assertDns1123Namespace } from '../VolumeInventory/VolumeInventory';
import { requesterRefOf, userRefOf, type VolumeQueryService } from '../VolumeInventory/VolumeQueryService';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export interface RestoreListQuery {
  entityRef?: string;
  cluster?: string;
  namespace?: string;
  pvc?: string;
  limit?: number;
  cursor?: string;
}

/** What the API shows of a stored restore (nothing of the worker's bookkeeping). */
export function publicRestore(restore: StoredRestore): Restore {
  const { claimedBy: _c, leaseExpiresAt: _l, cancelRequested: _r, createdPvc: _p, ...rest } = restore;
  return rest;
}

/** `<pvc>-restore-<first 8 of the restore id>`, kept a DNS-1123 subdomain of at most 253. */
export function defaultRestoreName(pvc: string, restoreId: string): string {
  const suffix = `-restore-${restoreId.slice(0, 8)}`;
  return `${pvc.slice(0, 253 - suffix.length).replace(/[-.]+$/, '')}${suffix}`;
}

export function createRestoreService(options: {
  store: RestoreStore;
  backupStore: BackupStore;
  volumes: VolumeQueryService;
  config: VolumeManagerConfig;
  worker: RestoreWorker;
  sinks: ArchiveSinkRegistry;
  knownClusters(userRef?: string): string[];
}) {
  const { store, backupStore, volumes, config, worker, sinks } = options;

  async function allowed(
    permission: ResourcePermission<'catalog-entity'>,
    entityRef: string | null,
    credentials: BackstageCredentials,
  ): Promise<boolean> {
    const access = await volumes.access(permission, [entityRef], credentials);
    return access.unconditional || access.allows(entityRef);
  }

  function checkCluster(cluster: string, credentials: BackstageCredentials) {
    if (!options.knownClusters(userRefOf(credentials)).includes(cluster)) {
      throw new InputError(`Unknown cluster '${cluster}'`);
    }
  }

  function checkNamespace(namespace: string) {
    assertDns1123Namespace(namespace);
    if (config.allowedNamespaces && !config.allowedNamespaces.includes(namespace)) {
      throw new InputError(`Namespace '${namespace}' is outside volumeManager.allowedNamespaces`);
    }
  }

  async function resolveSource(request: CreateRestoreRequest): Promise<StoredItem> {
    if ('itemId' in request) {
      const item = await backupStore.getItem(request.itemId);
      if (!item) throw new NotFoundError(`No backup item '${request.itemId}'`);
      return item;
    }
    const { cluster, namespace, pvc, asOf } = request.source;
    let at: Date | undefined;
    if (asOf !== undefined) {
      at = new Date(asOf);
      if (Number.isNaN(at.getTime())) throw new InputError(`asOf '${asOf}' is not an RFC 3339 time`);
    }
    const item = await store.newestSucceededItem({ cluster, namespace, pvc }, at);
    if (!item) {
      throw new NotFoundError(
        `No succeeded backup of '${namespace}/${pvc}' on cluster '${cluster}'${asOf ? ` at or before ${asOf}` : ''}`,
      );
    }
    return item;
  }

  /** The item can be read back here: succeeded, with its archive on a destination we serve. */
  function checkRestorable(item: StoredItem) {
    if (item.status !== 'succeeded' || !item.archiveUri || !item.sha256) {
      throw new ConflictError(`Backup item '${item.id}' is ${item.status}; only a succeeded backup can be restored`);
    }
    if (item.destination.startsWith(AD_HOC_PREFIX)) {
      throw new ConflictError(
        `Backup item '${item.id}' went to a one-off destination, whose credentials were never stored; it cannot be restored from here`,
      );
    }
    if (!sinks.has(item.destination)) {
      throw new InputError(`The destination '${item.destination}' of backup item '${item.id}' is not configured on this portal`);
    }
    const sink = sinks.sinkFor(item);
    if (!sink.read) {
      throw new InputError(
        `Destination '${item.destination}' (${sink.type}) cannot read archives back, so it cannot serve restores`,
      );
    }
  }

  async function loadRestore(id: string, credentials: BackstageCredentials): Promise<StoredRestore> {
    const restore = await store.getRestore(id);
    if (!restore) throw new NotFoundError(`No restore '${id}'`);
    const sourceEntity = await sourceEntityOf(restore);
    const access = await volumes.access(backupReadPermission, [restore.entityRef, sourceEntity], credentials);
    // Readable by whoever may read the backups of the target or of the source.
    if (!access.unconditional && !access.allows(restore.entityRef) && !access.allows(sourceEntity)) {
      throw new NotFoundError(`No restore '${id}'`);
    }
    return restore;
  }

  async function sourceEntityOf(restore: StoredRestore): Promise<string | null> {
    return (await backupStore.getItem(restore.itemId))?.entityRef ?? null;
  }

  return {
    async createRestore(request: CreateRestoreRequest, credentials: BackstageCredentials): Promise<Restore> {
      const { target } = request;
      checkCluster(target.cluster, credentials);
      checkNamespace(target.namespace);
      if (target.type === 'existingPvc' && target.confirm !== target.name) {
        throw new InputError(
          `To restore into the existing PVC '${target.namespace}/${target.name}', confirm must repeat its name exactly ('${target.name}')`,
        );
      }
      if ('source' in request) checkCluster(request.source.cluster, credentials);

      const item = await resolveSource(request);
      if (!(await allowed(backupReadPermission, item.entityRef, credentials))) {
        throw new NotAllowedError(
          `You may not restore the backups of '${item.entityRef ?? `${item.namespace}/${item.pvc}`}' (permission ${backupReadPermission.name})`,
        );
      }
      // Restoring a backup into a PVC one controls hands over its data, as a download would.
      if (!(await allowed(archiveDownloadPermission, item.entityRef, credentials))) {
        throw new NotAllowedError(
          `You may not take the data of '${item.entityRef ?? `${item.namespace}/${item.pvc}`}' out of its backups (permission ${archiveDownloadPermission.name})`,
        );
      }
      checkRestorable(item);

      const id = randomUUID();
      const name = target.type === 'existingPvc' ? target.name : (target.name ?? defaultRestoreName(item.pvc, id));
      if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
        throw new InputError(`PVC name '${name}' is not a DNS-1123 subdomain of at most 253 characters`);
      }
      const { volume, exists, labels } = await volumes.findTarget(
        target.cluster,
        { namespace: target.namespace, name },
        credentials,
        target.type === 'newPvc' ? item.entityRef : undefined,
      );
      if (target.type === 'existingPvc' && !exists) {
        throw new InputError(`No PVC '${target.namespace}/${name}' on cluster '${target.cluster}' to restore into`);
      }
      if (target.type === 'newPvc' && exists) {
        throw new ConflictError(
          `A PVC '${target.namespace}/${name}' already exists on cluster '${target.cluster}'; choose another name, or restore into it as an existing PVC`,
        );
      }
      const entityRef = volume.entityRef ?? null;
      const where = `'${target.namespace}/${name}'${entityRef ? ` (${entityRef})` : ' (no single owner entity)'}`;
      if (!(await allowed(restoreCreatePermission, entityRef, credentials))) {
        throw new NotAllowedError(`You may not restore into ${where} (permission ${restoreCreatePermission.name})`);
      }
      if (target.type === 'existingPvc' && !(await allowed(restoreInPlacePermission, entityRef, credentials))) {
        throw new NotAllowedError(
          `You may not overwrite the existing PVC ${where} (permission ${restoreInPlacePermission.name}); restore into a new PVC instead`,
        );
      }

      const restore = await store.createRestore({
        id,
        item,
        target: target.type === 'newPvc' ? { ...target, name, ...(labels && { labels }) } : target,
        targetPvc: { cluster: target.cluster, namespace: target.namespace, pvc: name },
        ownership: request.ownership ?? 'preserve',
        entityRef,
        requestedBy: requesterRefOf(credentials),
      });
      worker.kick();
      return publicRestore(restore);
    },

    async getRestore(id: string, credentials: BackstageCredentials): Promise<Restore> {
      return publicRestore(await loadRestore(id, credentials));
    },

    async cancelRestore(id: string, credentials: BackstageCredentials): Promise<Restore> {
      const restore = await loadRestore(id, credentials);
      if (!(await allowed(restoreCreatePermission, restore.entityRef, credentials))) {
        throw new NotAllowedError(`You may not cancel restore '${id}'`);
      }
      const cancelled = await store.cancelRestore(id);
      if (!cancelled) throw new NotFoundError(`No restore '${id}'`);
      worker.abort(id);
      return publicRestore(cancelled);
    },

    async listRestores(query: RestoreListQuery, credentials: BackstageCredentials): Promise<RestoreListResponse> {
      let entityRefs: string[] | undefined;
      if (query.entityRef) {
        entityRefs = [await volumes.requireEntity(query.entityRef, backupReadPermission, credentials)];
      } else {
        const access = await volumes.access(backupReadPermission, [], credentials);
        if (!access.unconditional) {
          throw new InputError('entityRef is required: you may read the restores of specific entities only');
        }
      }
      const page = await store.listRestores({
        entityRefs,
        cluster: query.cluster,
        namespace: query.namespace,
        pvc: query.pvc,
        limit: Math.min(query.limit ?? 50, 500),
        cursor: query.cursor,
      });
      return { items: page.items.map(publicRestore), nextCursor: page.nextCursor };
    },
  };
}

export type RestoreService = ReturnType<typeof createRestoreService>;
