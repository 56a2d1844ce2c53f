import {
  coreServices,
  createServiceFactory,
  type BackstageCredentials,
  type PermissionsService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import {
  AuthorizeResult,
  isResourcePermission,
  type Permission,
} from '@backstage/plugin-permission-common';
import { normalizeOwnerRef } from '../services/VolumeInventory/entityMatch';

/**
 * A PermissionsService with the demo portal's kind of policy, stricter on reads, over a catalog:
 * members of `group:default/admins` may do everything; everyone else gets every
 * `volume-manager.*` entity permission only CONDITIONALLY, for entities their user or groups own
 * (the decision `catalogConditions.isEntityOwner` would give), evaluated here against
 * `spec.owner`. The real permission backend needs the real catalog backend to evaluate catalog
 * conditions, which the plugin's test backend replaces with catalogServiceMock.
 */
export function ownerOnlyPermissions(entities: Entity[], options: { adminOnly?: string[] } = {}) {
  const adminOnly = new Set(options.adminOnly ?? []);
  const byRef = new Map(entities.map(e => [stringifyEntityRef(e), e]));
  const claimsOf = (credentials: BackstageCredentials): string[] => {
    const principal = credentials.principal as { type?: string; userEntityRef?: string };
    if (principal.type !== 'user' || !principal.userEntityRef) return [];
    const user = byRef.get(principal.userEntityRef);
    const groups = ((user?.spec as { memberOf?: string[] } | undefined)?.memberOf ?? []).map(
      g => normalizeOwnerRef(g, { defaultKind: 'group', defaultNamespace: 'default' })!,
    );
    return [principal.userEntityRef, ...groups];
  };
  const ownerOf = (ref: string) => {
    const entity = byRef.get(ref);
    const owner = (entity?.spec as { owner?: string } | undefined)?.owner;
    return owner ? normalizeOwnerRef(owner, { defaultKind: 'group', defaultNamespace: entity!.metadata.namespace ?? 'default' }) : undefined;
  };
  const ours = (p: Permission) => p.name.startsWith('volume-manager.');
  const isAdmin = (c: BackstageCredentials) => claimsOf(c).includes('group:default/admins');

  const service: PermissionsService = {
    async authorize(requests, { credentials }) {
      return requests.map(({ permission, resourceRef }) => {
        if (!ours(permission) || isAdmin(credentials)) return { result: AuthorizeResult.ALLOW };
        if (adminOnly.has(permission.name)) return { result: AuthorizeResult.DENY };
        if (!isResourcePermission(permission, 'catalog-entity') || !resourceRef) return { result: AuthorizeResult.DENY };
        const owner = ownerOf(resourceRef);
        return { result: owner && claimsOf(credentials).includes(owner) ? AuthorizeResult.ALLOW : AuthorizeResult.DENY };
      });
    },
    async authorizeConditional(requests, { credentials }) {
      return requests.map(({ permission }) => {
        if (!ours(permission) || isAdmin(credentials)) return { result: AuthorizeResult.ALLOW };
        if (adminOnly.has(permission.name)) return { result: AuthorizeResult.DENY };
        if (!isResourcePermission(permission, 'catalog-entity')) return { result: AuthorizeResult.DENY };
        return {
          result: AuthorizeResult.CONDITIONAL,
          pluginId: 'catalog',
          resourceType: 'catalog-entity',
          conditions: { resourceType: 'catalog-entity', rule: 'IS_ENTITY_OWNER', params: { claims: claimsOf(credentials) } },
        };
      });
    },
  };
  return createServiceFactory({ service: coreServices.permissions, deps: {}, factory: () => service });
}
