/*
 * Who may see and act on which volumes. Our entity-scoped permissions are checked against the
 * entity asked for, or against each PVC's owner entity. PVCs (and backup items) with no owner
 * entity, because no entity or more than one claims them, are open only to users the policy
 * allows unconditionally.
 */
import type {
  AuthService,
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import {
  AuthorizeResult,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  ANNOTATION_KUBERNETES_ID,
  ANNOTATION_KUBERNETES_LABEL_SELECTOR,
  backupReadPermission,
  volumeReadPermission,
  type Volume,
  type VolumeRef,
  type VolumesQuery,
  type VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import { entityMatcher, type EntityMatcher } from './entityMatch';
import { selectorLabels } from './labelSelector';
import { PROSPECTIVE_PVC_PHASE, type VolumeInventory } from './VolumeInventory';

type EntityPermission = ResourcePermission<'catalog-entity'>;

/** The outcome of checking one permission for a set of entities. */
export interface EntityAccess {
  /** The policy allows it whatever the entity (also for items with no entity). */
  unconditional: boolean;
  allows(entityRef: string | null | undefined): boolean;
}

export interface VolumeQueryService {
  listVolumes(query: VolumesQuery, credentials: BackstageCredentials): Promise<VolumesResponse>;
  /** Looks up PVCs of one cluster with their matched entities; InputError for missing ones. */
  findVolumes(cluster: string, refs: VolumeRef[], credentials: BackstageCredentials): Promise<Volume[]>;
  /**
   * One PVC as a restore target: the PVC if it exists, otherwise the entry a PVC of that name
   * would have, its entity matched by the same rules. A new PVC carries the equality labels of
   * `claimedBy`'s selector (see {@link selectorLabels}), so that entity claims it where its
   * namespace annotation, the namespace binding and the other entities' claims allow.
   */
  findTarget(
    cluster: string,
    ref: VolumeRef,
    credentials: BackstageCredentials,
    claimedBy?: string | null,
  ): Promise<{ volume: Volume; exists: boolean; labels?: Record<string, string> }>;
  /** Checks an entity-scoped permission for these entities in one batch. */
  access(
    permission: EntityPermission,
    entityRefs: Array<string | null | undefined>,
    credentials: BackstageCredentials,
  ): Promise<EntityAccess>;
  /** Parses an entity ref and checks the permission for it: 400, 404 or 403 when not. */
  requireEntity(
    entityRef: string,
    permission: EntityPermission,
    credentials: BackstageCredentials,
  ): Promise<string>;
}

export function userRefOf(credentials: BackstageCredentials): string | undefined {
  const principal = credentials.principal as { type?: string; userEntityRef?: string };
  return principal.type === 'user' ? principal.userEntityRef : undefined;
}

/**
 * Who asked, as stored in `requested_by` and used for fair sharing: a user's entity ref, or
 * `service:<subject>` for a Backstage service principal (automation).
 */
export function requesterRefOf(credentials: BackstageCredentials): string {
  const principal = credentials.principal as { type?: string; userEntityRef?: string; subject?: string };
  if (principal.type === 'user' && principal.userEntityRef) return principal.userEntityRef;
  if (principal.type === 'service' && principal.subject) return `service:${principal.subject}`.slice(0, 255);
  return 'unknown';
}

export function createVolumeQueryService(options: {
  inventory: VolumeInventory;
  catalog: CatalogService;
  permissions: PermissionsService;
  /** Ownership is decided with the plugin's own catalog view, whoever asks. */
  auth: AuthService;
  /** Fills lastSuccessfulBackup and lastStatus into inventory results. */
  decorate?: (volumes: Volume[]) => Promise<Volume[]>;
}): VolumeQueryService {
  const { inventory, catalog, permissions, auth } = options;
  const decorate = options.decorate ?? (async (v: Volume[]) => v);

  /**
   * Every annotated entity in the catalog, read with the plugin's own credentials: which entities
   * claim a PVC, and so whether its ownership is ambiguous, must not depend on which entities the
   * asking user may see.
   */
  async function annotatedEntities(): Promise<EntityMatcher[]> {
    const { items } = await catalog.getEntities(
      {
        filter: [
          { [`metadata.annotations.${ANNOTATION_KUBERNETES_ID}`]: CATALOG_FILTER_EXISTS },
          { [`metadata.annotations.${ANNOTATION_KUBERNETES_LABEL_SELECTOR}`]: CATALOG_FILTER_EXISTS },
        ],
        fields: ['kind', 'metadata.name', 'metadata.namespace', 'metadata.annotations', 'spec.owner'],
      },
      { credentials: await auth.getOwnServiceCredentials() },
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

  async function access(
    permission: EntityPermission,
    entityRefs: Array<string | null | undefined>,
    credentials: BackstageCredentials,
  ): Promise<EntityAccess> {
    const [decision] = await permissions.authorizeConditional([{ permission }], { credentials });
    if (decision.result === AuthorizeResult.ALLOW) return { unconditional: true, allows: () => true };
    if (decision.result === AuthorizeResult.DENY) return { unconditional: false, allows: () => false };
    const refs = [...new Set(entityRefs.filter((r): r is string => Boolean(r)))];
    const decisions = refs.length
      ? await permissions.authorize(
          refs.map(resourceRef => ({ permission, resourceRef })),
          { credentials },
        )
      : [];
    const allowed = new Set(refs.filter((_, i) => decisions[i].result === AuthorizeResult.ALLOW));
    return { unconditional: false, allows: ref => Boolean(ref && allowed.has(ref)) };
  }

  async function requireEntity(
    entityRef: string,
    permission: EntityPermission,
    credentials: BackstageCredentials,
  ): Promise<string> {
    let ref: string;
    try {
      ref = stringifyEntityRef(parseEntityRef(entityRef));
    } catch (error) {
      throw new InputError(`Invalid entityRef '${entityRef}': ${(error as Error).message}`);
    }
    const [decision] = await permissions.authorize([{ permission, resourceRef: ref }], {
      credentials,
    });
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(`You may not ${permission.attributes.action ?? 'use'} '${permission.name}' for '${ref}'`);
    }
    return ref;
  }

  return {
    access,
    requireEntity,

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
        let matcher: EntityMatcher;
        try {
          matcher = entityMatcher(entity);
        } catch (error) {
          throw new InputError(`Entity '${ref}' has an invalid kubernetes label selector: ${(error as Error).message}`);
        }
        // Every claimant counts, so the entity's tab shows PVCs it shares with other entities.
        const others = (await annotatedEntities()).filter(e => e.entityRef !== ref);
        const result = await inventory.list({
          cluster: query.cluster,
          namespace: query.namespace,
          entities: [matcher, ...others],
          onlyEntityRef: ref,
          userRef,
        });
        const items = await decorate(result.items);
        if (!items.some(v => v.ambiguousOwnership)) return { items, errors: result.errors };
        // A PVC with no owner entity shows its backups only to users who may read them all.
        const history = await access(backupReadPermission, [], credentials);
        return {
          items: history.unconditional
            ? items
            : items.map(v =>
                v.ambiguousOwnership ? { ...v, lastSuccessfulBackup: null, lastStatus: null } : v,
              ),
          errors: result.errors,
        };
      }

      const [decision] = await permissions.authorizeConditional(
        [{ permission: volumeReadPermission }],
        { credentials },
      );
      if (decision.result === AuthorizeResult.DENY) {
        throw new NotAllowedError('You may not see volumes');
      }
      const result = await inventory.list({
        cluster: query.cluster,
        namespace: query.namespace,
        entities: await annotatedEntities(),
        userRef,
      });
      const visible = await access(
        volumeReadPermission,
        result.items.map(v => v.entityRef),
        credentials,
      );
      return {
        items: await decorate(result.items.filter(v => visible.allows(v.entityRef) || visible.unconditional)),
        errors: result.errors,
      };
    },

    async findTarget(cluster, ref, credentials, claimedBy) {
      const entities = await annotatedEntities();
      const claimant = claimedBy ? entities.find(e => e.entityRef === claimedBy) : undefined;
      const labels = claimant ? selectorLabels(claimant.labelSelector) : undefined;
      const result = await inventory.list({
        cluster,
        namespace: ref.namespace,
        entities,
        userRef: userRefOf(credentials),
        fresh: true,
        prospectivePvcs: [{ name: ref.name, labels }],
      });
      const volume = result.items.find(v => v.namespace === ref.namespace && v.name === ref.name);
      // A partial listing could call an existing PVC absent, or miss the pods that decide its owner.
      if (!volume || result.errors.length > 0) {
        throw new InputError(
          `Cannot read namespace '${ref.namespace}' of cluster '${cluster}': ${result.errors.map(e => e.message).join('; ') || 'no answer'}`,
        );
      }
      const exists = volume.phase !== PROSPECTIVE_PVC_PHASE;
      return { volume, exists, ...(!exists && labels && { labels }) };
    },

    async findVolumes(cluster, refs, credentials) {
      const entities = await annotatedEntities();
      const namespaces = [...new Set(refs.map(r => r.namespace))];
      const found = new Map<string, Volume>();
      for (const namespace of namespaces) {
        // Fresh: a backup request must see the PVCs (and their mounting pods) as they are now.
        const result = await inventory.list({ cluster, namespace, entities, userRef: userRefOf(credentials), fresh: true });
        if (result.items.length === 0 && result.errors.length > 0) {
          throw new InputError(
            `Cannot read namespace '${namespace}' of cluster '${cluster}': ${result.errors.map(e => e.message).join('; ')}`,
          );
        }
        for (const v of result.items) found.set(`${v.namespace}/${v.name}`, v);
      }
      const missing = refs.filter(r => !found.has(`${r.namespace}/${r.name}`));
      if (missing.length > 0) {
        throw new InputError(
          `No PVC ${missing.map(m => `'${m.namespace}/${m.name}'`).join(', ')} on cluster '${cluster}'`,
        );
      }
      return refs.map(r => found.get(`${r.namespace}/${r.name}`)!);
    },
  };
}
