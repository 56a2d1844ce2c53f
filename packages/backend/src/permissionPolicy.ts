import {
  AuthorizeResult,
  isPermission,
  isResourcePermission,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import {
  catalogConditions,
  createCatalogConditionalDecision,
} from '@backstage/plugin-catalog-backend/alpha';
import {
  adHocDestinationPermission,
  backupCreatePermission,
  archiveDownloadPermission,
  clusterSessionCreatePermission,
  volumeReadPermission,
  backupReadPermission,
  restoreCreatePermission,
  restoreInPlacePermission,
} from '@nkvm/backstage-plugin-volume-manager-common';

/** Members of this group may do everything, including pasting kubeconfigs and one-off destinations. */
export const ADMIN_GROUP_REF = 'group:default/admins';

/**
 * The demo portal's policy:
 * - admins may do everything;
 * - only admins may paste a kubeconfig or back up to a one-off (typed-in) destination;
 * - everyone signed in may see volumes and backup history;
 * - only an entity's owners may back up its volumes and download their archives;
 * - only an entity's owners may restore into (new) PVCs of that entity, and only from backups
 *   whose archives they may download (the backend checks that on the source);
 * - only admins may restore into a PVC that exists (`restore.inPlace`: it overwrites data);
 * - everything that is not ours is allowed, as in a fresh Backstage app.
 */
export class VolumeManagerDemoPolicy implements PermissionPolicy {
  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = request;
    if (!permission.name.startsWith('volume-manager.')) {
      return { result: AuthorizeResult.ALLOW };
    }
    const claims = user?.info.ownershipEntityRefs ?? [];
    if (claims.includes(ADMIN_GROUP_REF)) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (
      isPermission(permission, clusterSessionCreatePermission) ||
      isPermission(permission, adHocDestinationPermission) ||
      isPermission(permission, restoreInPlacePermission)
    ) {
      return { result: AuthorizeResult.DENY };
    }
    if (
      isPermission(permission, volumeReadPermission) ||
      isPermission(permission, backupReadPermission)
    ) {
      return { result: AuthorizeResult.ALLOW };
    }
    if (
      isResourcePermission(permission, 'catalog-entity') &&
      (isPermission(permission, backupCreatePermission) ||
        isPermission(permission, archiveDownloadPermission) ||
        isPermission(permission, restoreCreatePermission))
    ) {
      return createCatalogConditionalDecision(
        permission,
        catalogConditions.isEntityOwner({ claims }),
      );
    }
    return { result: AuthorizeResult.DENY };
  }
}
