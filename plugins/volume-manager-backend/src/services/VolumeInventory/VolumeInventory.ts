/*
 * VolumeInventory: PVCs + pods (+ the workloads that own them) -> Volume[] for one or every
 * cluster. Each cluster gets `discovery.timeoutSeconds`; a cluster that is down, too slow or
 * forbidden becomes an entry in `errors` while the others still answer.
 *
 * What a cluster listed is cached per cluster and namespace scope for
 * `discovery.cacheTtlSeconds`, with one listing in flight at a time (clusterObjectsCache.ts),
 * so concurrent `GET /volumes` share one list per resource. Entity matching runs on the cached
 * objects per request. A request with `fresh: true` (backup creation) always lists anew.
 */
import { InputError } from '@backstage/errors';
import type {
  InventoryError,
  Volume,
  VolumesResponse,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerConfig } from '../../config/readVolumeManagerConfig';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';
import { buildVolumes } from './buildVolumes';
import { createClusterObjectsCache } from './clusterObjectsCache';
import { collectClusterObjects, toInventoryError, type ClusterObjects } from './collectClusterObjects';
import type { EntityMatcher } from './entityMatch';
import { namespaceOwners } from './namespaceOwnership';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export interface InventoryRequest {
  /** One cluster; every cluster the user can use when unset. */
  cluster?: string;
  namespace?: string;
  /**
   * Every catalog entity that may claim PVCs: a PVC that more than one of them matches has no
   * owner entity, so this must not depend on who asks.
   */
  entities: EntityMatcher[];
  /** Keep only the PVCs of this entity (entity-scoped inventory). */
  onlyEntityRef?: string;
  /** The user, for pasted-kubeconfig sessions. */
  userRef?: string;
  /** List the cluster now rather than serve a cached listing (backup creation). */
  fresh?: boolean;
  /**
   * PVC names in `namespace` to report as if they existed (when they do not), matched to
   * entities by the same rules as real PVCs: which entity a PVC of that name would belong to
   * (restore into a new PVC). Such entries have phase {@link PROSPECTIVE_PVC_PHASE}.
   */
  prospectivePvcs?: Array<{ name: string; labels?: Record<string, string> }>;
}

/** The phase of an inventory entry for a PVC that does not exist (see `prospectivePvcs`). */
export const PROSPECTIVE_PVC_PHASE = 'Absent';

export interface VolumeInventory {
  list(request: InventoryRequest): Promise<VolumesResponse>;
}

export function assertDns1123Namespace(namespace: string) {
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) {
    throw new InputError(
      `Namespace '${namespace}' is not a valid DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)`,
    );
  }
}

function intersect(...sets: Array<string[] | undefined>): string[] | undefined {
  let result: string[] | undefined;
  for (const set of sets) {
    if (!set) continue;
    result = result ? result.filter(n => set.includes(n)) : [...set];
  }
  return result;
}

class DiscoveryTimeout extends Error {}

export function createVolumeInventory(options: {
  registry: ClusterRegistry;
  config: VolumeManagerConfig;
}): VolumeInventory {
  const { registry, config } = options;
  const cache = createClusterObjectsCache<ClusterObjects>({
    ttlMs: config.discovery.cacheTtlSeconds * 1000,
  });

  /** One listing, with its own time budget (shared by every request that waits for it). */
  async function listCluster(
    client: Parameters<typeof collectClusterObjects>[0],
    namespaces: string[] | undefined,
  ): Promise<ClusterObjects> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), config.discovery.timeoutSeconds * 1000);
    try {
      return await collectClusterObjects(client, {
        namespaces,
        maxNamespaceScan: config.discovery.maxNamespaceScan,
        signal: controller.signal,
        readNamespaces: Boolean(config.ownership?.namespaceLabel),
      });
    } catch (error) {
      throw controller.signal.aborted ? new DiscoveryTimeout() : error;
    } finally {
      clearTimeout(timer);
    }
  }

  async function inventoryCluster(
    cluster: string,
    request: InventoryRequest,
    namespaces: string[] | undefined,
  ): Promise<{ items: Volume[]; errors: InventoryError[] }> {
    try {
      const client = await registry.getClient(cluster, request.userRef);
      const objects = request.fresh
        ? await listCluster(client, namespaces)
        : await cache.get(client, namespaces ? [...namespaces].sort().join(',') : '*', () =>
            listCluster(client, namespaces),
          );
      const prospective = (request.namespace ? (request.prospectivePvcs ?? []) : [])
        .filter(({ name }) => !objects.pvcs.some(p => p.metadata?.namespace === request.namespace && p.metadata?.name === name))
        .map(({ name, labels }) => ({
          metadata: { name, namespace: request.namespace, labels },
          status: { phase: PROSPECTIVE_PVC_PHASE },
        }));
      let items = buildVolumes(prospective.length ? { ...objects, pvcs: [...objects.pvcs, ...prospective] } : objects, {
        cluster,
        entities: request.entities,
        ownerOfNamespace: config.ownership && namespaceOwners(config.ownership, objects.namespaces ?? []),
      });
      if (request.onlyEntityRef) {
        // The entity's own PVCs, and those it claims with other entities (shown with a notice).
        const only = request.onlyEntityRef;
        items = items.filter(v => v.entityRef === only || v.ambiguousOwnership?.entityRefs.includes(only));
      }
      return { items, errors: objects.errors };
    } catch (error) {
      if (error instanceof DiscoveryTimeout) {
        return {
          items: [],
          errors: [
            {
              cluster,
              errorType: 'TIMEOUT',
              message: `Cluster '${cluster}' did not answer within ${config.discovery.timeoutSeconds}s (discovery.timeoutSeconds)`,
            },
          ],
        };
      }
      return { items: [], errors: [toInventoryError(cluster, error)] };
    }
  }

  return {
    async list(request) {
      if (request.namespace) {
        assertDns1123Namespace(request.namespace);
        if (config.allowedNamespaces && !config.allowedNamespaces.includes(request.namespace)) {
          throw new InputError(
            `Namespace '${request.namespace}' is outside volumeManager.allowedNamespaces`,
          );
        }
      }
      const clusters = request.cluster
        ? [request.cluster]
        : registry.clusterNames(request.userRef);
      if (request.cluster && !registry.clusterNames(request.userRef).includes(request.cluster)) {
        // Unknown cluster names are bad input, not a partial failure.
        throw new InputError(`Unknown cluster '${request.cluster}'`);
      }
      const onlyEntity = request.onlyEntityRef
        ? request.entities.find(e => e.entityRef === request.onlyEntityRef)
        : undefined;
      const namespaces = intersect(
        config.allowedNamespaces,
        request.namespace ? [request.namespace] : undefined,
        onlyEntity?.namespace ? [onlyEntity.namespace] : undefined,
      );
      if (namespaces && namespaces.length === 0) return { items: [], errors: [] };

      const results = await Promise.all(
        clusters.map(c => inventoryCluster(c, request, namespaces)),
      );
      const items = results
        .flatMap(r => r.items)
        .sort(
          (a, b) =>
            a.cluster.localeCompare(b.cluster) ||
            a.namespace.localeCompare(b.namespace) ||
            a.name.localeCompare(b.name),
        );
      return { items, errors: results.flatMap(r => r.errors) };
    },
  };
}
