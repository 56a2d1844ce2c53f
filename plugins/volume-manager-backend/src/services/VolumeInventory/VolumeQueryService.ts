/*
 * Who may see which volumes: `volume-manager.volume.read` is checked against the entity asked
 * for, or, for an inventory across entities, against each PVC's matched entity. PVCs that match
 * no catalog entity are shown only to users the policy allows unconditionally.
 */
import type { BackstageCredentials, PermissionsService } from '@backstage/backend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  ANNOTATION_KUBERNETES_ID,
  ANNOTATION_KUBERNETES_LABEL_SELECTOR,
  volumeReadPermission,
  type VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { entityMatcher, type EntityMatcher } from './entityMatch';
import type { VolumeInventory } from './VolumeInventory';

export interface VolumeQuery {
  cluster?: string;
  namespace?: string;
  entityRef?: string;
}

export interface VolumeQueryService {
  listVolumes(query: VolumeQuery, credentials: BackstageCredentials): Promise<VolumesResponse>;
}

function userRefOf(credentials: BackstageCredentials): string | undefined {
  const principal = credentials.principal as { type?: string; userEntityRef?: string };
  return principal.type === 'user' ? principal.userEntityRef : undefined;
}

function matcherOrInputError(entityRef: string, create: () => EntityMatcher): EntityMatcher {
  try {
    return create();
  } catch (error) {
    throw new InputError(
      `Entity '${entityRef}' has an invalid kubernetes label selector: ${(error as Error).message}`,
    );
  }
}

export function createVolumeQueryService(options: {
  inventory: VolumeInventory;
  catalog: CatalogService;
  permissions: PermissionsService;
}): VolumeQueryService {
  const { inventory, catalog, permissions } = options;

  async function annotatedEntities(credentials: BackstageCredentials): Promise<EntityMatcher[]> {
    const { items } = await catalog.getEntities(
      {
        filter: [
          { [`metadata.annotations.${ANNOTATION_KUBERNETES_ID}`]: CATALOG_FILTER_EXISTS },
          { [`metadata.annotations.${ANNOTATION_KUBERNETES_LABEL_SELECTOR}`]: CATALOG_FILTER_EXISTS },
        ],
        fields: ['kind', 'metadata.name', 'metadata.namespace', 'metadata.annotations'],
      },
      { credentials },
    );
    return items
      .flatMap(entity => {
        try {
          return [entityMatcher(entity)];
        } catch {
          return []; // an invalid selector claims nothing
        }
      })
      .sort((a, b) => a.entityRef.localeCompare(b.entityRef));
  }

  return {
    async listVolumes(query, credentials) {
      const userRef = userRefOf(credentials);
      if (query.entityRef) {
        let ref: string;
        try {
          ref = stringifyEntityRef(parseEntityRef(query.entityRef));
        } catch (error) {
          throw new InputError(`Invalid entityRef '${query.entityRef}': ${(error as Error).message}`);
        }
        const entity = await catalog.getEntityByRef(ref, { credentials });
        if (!entity) throw new NotFoundError(`No catalog entity '${ref}'`);
        const [decision] = await permissions.authorize(
          [{ permission: volumeReadPermission, resourceRef: ref }],
          { credentials },
        );
        if (decision.result !== AuthorizeResult.ALLOW) {
          throw new NotAllowedError(`You may not see the volumes of '${ref}'`);
        }
        return inventory.list({
          cluster: query.cluster,
          namespace: query.namespace,
          entities: [matcherOrInputError(ref, () => entityMatcher(entity))],
          onlyEntityRef: ref,
          userRef,
        });
      }

      const [decision] = await permissions.authorizeConditional(
        [{ permission: volumeReadPermission }],
        { credentials },
      );
      if (decision.result === AuthorizeResult.DENY) {
        throw new NotAllowedError('You may not see volumes');
      }
      const entities = await annotatedEntities(credentials);
      const result = await inventory.list({
        cluster: query.cluster,
        namespace: query.namespace,
        entities,
        userRef,
      });
      if (decision.result === AuthorizeResult.ALLOW) return result;

      const refs = [...new Set(result.items.flatMap(v => (v.entityRef ? [v.entityRef] : [])))];
      const decisions = await permissions.authorize(
        refs.map(resourceRef => ({ permission: volumeReadPermission, resourceRef })),
        { credentials },
      );
      const allowed = new Set(refs.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW));
      return {
        items: result.items.filter(v => v.entityRef && allowed.has(v.entityRef)),
        errors: result.errors,
      };
    },
  };
}
