/*
 * The helper-pod janitor: deletes helper pods that no live backup item or restore owns, so no helper
 * outlives its item whatever failed (the backend process included). Runs as a global
 * `coreServices.scheduler` task (one replica at a time); also cleans up after items another
 * replica left interrupted.
 *
 * It only ever touches helpers of its own installation (the `installation-id` label): another
 * Backstage installation backing up the same cluster keeps its helpers. And it never deletes the
 * helper of an item claimed while it listed: which items are live is read after the list, so
 * every item whose helper the list can contain was claimed before that read.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';
import {
  HELPER_POD_MANAGED_BY_LABEL,
  HELPER_POD_MANAGED_BY_VALUE,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { BackupStore, StoredItem } from '../../database/BackupStore';
import type { RestoreStore } from '../../database/RestoreStore';
import { KubernetesApiError } from '../../kubernetes/errors';
import { deletePod, listPods } from '../../kubernetes/pods';
import {
  helperPodName,
  INSTALLATION_ID_LABEL,
  ITEM_ID_LABEL,
  RESTORE_ID_LABEL,
} from '../BackupExecutor/helperPodSpec';
import type { ClusterRegistry } from '../ClusterRegistry/ClusterRegistry';

export function createHelperJanitor(options: {
  registry: ClusterRegistry;
  store: BackupStore;
  /**
   * Restores, whose helpers carry a restore id instead of an item id. Without it every restore
   * helper counts as orphaned (only for tests of backups alone).
   */
  restores?: Pick<RestoreStore, 'liveRestoreIds'>;
  logger: LoggerService;
  /** Only helpers carrying this installation id are candidates. */
  installationId: () => Promise<string>;
  allowedNamespaces?: string[];
}) {
  const { registry, store, logger } = options;

  async function helperPodsOf(cluster: string, userRef: string | undefined, signal?: AbortSignal) {
    const selector = `${HELPER_POD_MANAGED_BY_LABEL}=${HELPER_POD_MANAGED_BY_VALUE},${INSTALLATION_ID_LABEL}=${await options.installationId()}`;
    const client = await registry.getClient(cluster, userRef);
    if (!options.allowedNamespaces) {
      return { client, pods: await listPods(client, { labelSelector: selector, signal }) };
    }
    const pods = [];
    for (const namespace of options.allowedNamespaces) {
      try {
        pods.push(...(await listPods(client, { namespace, labelSelector: selector, signal })));
      } catch (error) {
        if (!(error instanceof KubernetesApiError && error.clusterStatusCode === 403)) throw error;
      }
    }
    return { client, pods };
  }

  return {
    /**
     * Deletes orphaned helper pods of this installation on every cluster this replica reaches
     * (configured ones and users' pasted sessions); returns how many.
     */
    async sweep(signal?: AbortSignal): Promise<number> {
      let deleted = 0;
      for (const { name: cluster, userRef } of registry.housekeepingTargets()) {
        if (signal?.aborted) break;
        try {
          const { client, pods } = await helperPodsOf(cluster, userRef, signal);
          if (pods.length === 0) continue;
          // Read after the list: an item or restore claimed while the list ran is live here.
          const live = new Set(await store.liveItemIds());
          const liveRestores = new Set((await options.restores?.liveRestoreIds()) ?? []);
          for (const pod of pods) {
            const itemId = pod.metadata?.labels?.[ITEM_ID_LABEL];
            if (itemId && live.has(itemId)) continue;
            const restoreId = pod.metadata?.labels?.[RESTORE_ID_LABEL];
            if (restoreId && liveRestores.has(restoreId)) continue;
            await deletePod(client, pod.metadata!.namespace!, pod.metadata!.name!, signal);
            deleted++;
            logger.info('Deleted an orphaned helper pod', {
              cluster,
              pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
              itemId: itemId ?? 'none',
              restoreId: restoreId ?? 'none',
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
