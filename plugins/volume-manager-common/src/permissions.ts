import {
  createPermission,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';

/**
 * The resource type our entity-scoped permissions apply to. The catalog plugin owns it, so a
 * policy can use the catalog's conditional rules (for example `isEntityOwner`).
 *
 * @public
 */
export const VOLUME_MANAGER_RESOURCE_TYPE = 'catalog-entity';

/**
 * See the PVCs that belong to a catalog entity.
 *
 * @public
 */
export const volumeReadPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.volume.read',
    attributes: { action: 'read' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Start a backup of PVCs that belong to a catalog entity.
 *
 * @public
 */
export const backupCreatePermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.backup.create',
    attributes: { action: 'create' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Read the backup history (runs, items, progress) of a catalog entity's PVCs.
 *
 * @public
 */
export const backupReadPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.backup.read',
    attributes: { action: 'read' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Download a local backup archive of a catalog entity's PVC.
 *
 * @public
 */
export const archiveDownloadPermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.archive.download',
    attributes: { action: 'read' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Paste a kubeconfig to reach a cluster for a short troubleshooting session. Not scoped to an
 * entity: grant it to administrators only.
 *
 * @public
 */
export const clusterSessionCreatePermission = createPermission({
  name: 'volume-manager.cluster.session.create',
  attributes: { action: 'create' },
});

/**
 * Back up to a one-off (ad-hoc) destination typed into the request: a host, port and
 * credentials the backend then connects to. Not scoped to an entity: grant it to
 * administrators only. Without it the backend answers 403 to any request that carries a
 * one-off destination, and the UI hides the form.
 *
 * @public
 */
export const adHocDestinationPermission = createPermission({
  name: 'volume-manager.destination.adhoc',
  attributes: { action: 'create' },
});

/**
 * Restore a backup into a PVC of a catalog entity (the *target*'s entity). The user must also be
 * allowed `volume-manager.backup.read` on the source PVC's entity.
 *
 * @public
 */
export const restoreCreatePermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.restore.create',
    attributes: { action: 'create' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Restore into a PVC that exists (merge or replace its data), on top of
 * `volume-manager.restore.create`. The demo policy grants it to administrators only.
 *
 * @public
 */
export const restoreInPlacePermission: ResourcePermission<'catalog-entity'> =
  createPermission({
    name: 'volume-manager.restore.inPlace',
    attributes: { action: 'update' },
    resourceType: VOLUME_MANAGER_RESOURCE_TYPE,
  });

/**
 * Every permission of the volume-manager plugins.
 *
 * @public
 */
export const volumeManagerPermissions = [
  volumeReadPermission,
  backupCreatePermission,
  backupReadPermission,
  archiveDownloadPermission,
  clusterSessionCreatePermission,
  adHocDestinationPermission,
  restoreCreatePermission,
  restoreInPlacePermission,
];
