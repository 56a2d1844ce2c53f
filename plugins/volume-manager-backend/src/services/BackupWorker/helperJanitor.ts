/*
 * The helper-pod janitor: deletes helper pods that no live backup item owns, so no helper
 * outlives its item whatever failed (the backend process included). Runs at start-up and then
 * periodically; also cleans up after items another replica left interrupted.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  HELPER_POD_MANAGED_BY_LABEL,
  HELPER_POD_MANAGED_BY_VALUE,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { BackupStore, StoredItem } from '../../database/BackupStore';
import { KubernetesApiError } from '../../kubernetes/errors';
import { deletePod, listPods } from '../../kubernetes/pods';
import { helperPodName, ITEM_ID_LABEL } from '../BackupExecutor/helperPodSpec';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';

const SELECTOR = `${HELPER_POD_MANAGED_BY_LABEL}=${HELPER_POD_MANAGED_BY_VALUE}`;

export function createHelperJanitor(options: {
  registry: ClusterRegistry;
  store: BackupStore;
  logger: LoggerService;
  allowedNamespaces?: string[];
}) {
  const { registry, store, logger } = options;

  async function helperPodsOf(cluster: string) {
    const client = await registry.getClient(cluster);
    if (!options.allowedNamespaces) {
      return { client, pods: await listPods(client, { labelSelector: SELECTOR }) };
    }
    const pods = [];
    for (const namespace of options.allowedNamespaces) {
      try {
        pods.push(...(await listPods(client, { namespace, labelSelector: SELECTOR })));
      } catch (error) {
        if (!(error instanceof KubernetesApiError && error.clusterStatusCode === 403)) throw error;
      }
    }
    return { client, pods };
  }

  return {
    /** Deletes orphaned helper pods on every configured cluster; returns how many. */
    async sweep(): Promise<number> {
      let deleted = 0;
      const live = new Set(await store.liveItemIds());
      for (const cluster of registry.clusterNames()) {
        try {
          const { client, pods } = await helperPodsOf(cluster);
          for (const pod of pods) {
            const itemId = pod.metadata?.labels?.[ITEM_ID_LABEL];
            if (itemId && live.has(itemId)) continue;
            await deletePod(client, pod.metadata!.namespace!, pod.metadata!.name!);
            deleted++;
            logger.info('Deleted an orphaned helper pod', {
              cluster,
              pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
              itemId: itemId ?? 'none',
            });
          }
        } catch (error) {
          logger.warn(`Helper-pod janitor could not clean cluster '${cluster}': ${(error as Error).message}`);
        }
      }
      return deleted;
    },

    /** Deletes the helper pod of one item (after it was interrupted). */
    async cleanupItem(item: StoredItem): Promise<void> {
      const client = await registry.getClient(item.cluster, item.requestedBy);
      await deletePod(client, item.namespace, item.helperPod ?? helperPodName(item.id));
    },
  };
}
