import type { Volume } from '@nkvm/backstage-plugin-volume-manager-common';
import { pvcKey, type BackupStore } from '../../database/BackupStore';

/** Fills each volume's last successful backup and last status from the store: two queries. */
export function decorateWithBackups(store: BackupStore) {
  return async (volumes: Volume[]): Promise<Volume[]> => {
    if (volumes.length === 0) return volumes;
    const keys = volumes.map(v => ({ cluster: v.cluster, namespace: v.namespace, pvc: v.name }));
    const [last, statuses] = await Promise.all([
      store.lastSuccessfulBackups(keys),
      store.lastStatuses(keys),
    ]);
    return volumes.map((v, i) => ({
      ...v,
      lastSuccessfulBackup: last.get(pvcKey(keys[i])) ?? null,
      lastStatus: statuses.get(pvcKey(keys[i])) ?? null,
    }));
  };
}
