import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type {
  BackupItem,
  BackupRun,
  BackupStatus,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerApi } from '../../api';
import { isFinished } from '../StatusChip';
import { itemVolumeKey } from '../VolumesTable/format';

/** How often running backups are polled. */
export const POLL_INTERVAL_MS = 1000;

const runFinished = (run: BackupRun) => run.items.every(i => isFinished(i.status));

/** @internal */
export interface BackupRunsState {
  /** The latest item per PVC ({@link itemVolumeKey}) among the tracked runs. */
  items: ReadonlyMap<string, BackupItem>;
  /** Whether any tracked run still has a queued or running item. */
  active: boolean;
  /** Starts tracking a run (for example the 202 answer of `POST /backups`). */
  track(run: BackupRun): void;
  /** Forgets finished runs, so their rows go back to the inventory's status. */
  clearFinished(): void;
}

/**
 * Tracks backup runs and polls the unfinished ones until every item ends. At mount it also
 * picks up the runs already queued or running for the entity, so a reload does not lose them.
 *
 * @internal
 */
export function useBackupRuns(options: {
  api: VolumeManagerApi;
  entityRef?: string;
  /** Whether the user may read the backup history (otherwise nothing is discovered). */
  discover: boolean;
  /** Called once per run when its last item ends. */
  onRunFinished?: (run: BackupRun) => void;
}): BackupRunsState {
  const { api, entityRef, discover } = options;
  const [runs, setRuns] = useState<ReadonlyMap<string, BackupRun>>(new Map());
  const onRunFinished = useRef(options.onRunFinished);
  onRunFinished.current = options.onRunFinished;

  const track = useCallback((run: BackupRun) => {
    setRuns(prev => new Map(prev).set(run.id, run));
  }, []);

  useEffect(() => {
    if (!discover) {
      return undefined;
    }
    let cancelled = false;
    (async () => {
      const statuses: BackupStatus[] = ['running', 'queued'];
      const pages = await Promise.all(
        statuses.map(status =>
          api.listBackups({ entityRef, status, limit: 100 }).catch(() => undefined),
        ),
      );
      const runIds = new Set(pages.flatMap(p => p?.items.map(i => i.runId) ?? []));
      const found = await Promise.all(
        [...runIds].map(id => api.getBackupRun(id).catch(() => undefined)),
      );
      if (!cancelled) {
        setRuns(prev => {
          const next = new Map(prev);
          for (const run of found) {
            if (run && !next.has(run.id)) next.set(run.id, run);
          }
          return next;
        });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, entityRef, discover]);

  const pending = useMemo(
    () => [...runs.values()].filter(run => !runFinished(run)),
    [runs],
  );

  useEffect(() => {
    if (pending.length === 0) {
      return undefined;
    }
    let cancelled = false;
    const timer = setTimeout(async () => {
      const updated = await Promise.all(
        pending.map(run => api.getBackupRun(run.id).catch(() => run)),
      );
      if (cancelled) return;
      setRuns(prev => {
        const next = new Map(prev);
        for (const run of updated) next.set(run.id, run);
        return next;
      });
      for (const run of updated) {
        if (runFinished(run)) onRunFinished.current?.(run);
      }
    }, POLL_INTERVAL_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, pending]);

  const items = useMemo(() => {
    const byVolume = new Map<string, BackupItem>();
    const ordered = [...runs.values()].sort((a, b) =>
      a.createdAt.localeCompare(b.createdAt),
    );
    for (const run of ordered) {
      for (const item of run.items) byVolume.set(itemVolumeKey(item), item);
    }
    return byVolume;
  }, [runs]);

  const clearFinished = useCallback(() => {
    setRuns(prev => new Map([...prev].filter(([, run]) => !runFinished(run))));
  }, []);

  return { items, active: pending.length > 0, track, clearFinished };
}
