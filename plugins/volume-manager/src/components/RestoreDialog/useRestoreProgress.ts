import { useCallback, useEffect, useRef, useState } from 'react';
import type {
  Restore,
  RestorePhase,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { VolumeManagerApi } from '../../api';
import { POLL_INTERVAL_MS } from '../hooks/useBackupRuns';
import { isRestoreFinished } from '../StatusChip';

/** The phases a restore passes through before it ends, in order. */
export const RUNNING_PHASES: RestorePhase[] = ['queued', 'verifying', 'preflight', 'restoring'];

/** @internal */
export interface RestoreProgressState {
  restore: Restore | undefined;
  /** The last phase seen before the restore ended: where a failure or cancel stopped it. */
  lastRunningPhase: RestorePhase;
  /** The last poll failed (the restore goes on in the backend; polling continues). */
  pollError?: Error;
  /** Starts following a restore (the 202 answer of `POST /restores`). */
  track(restore: Restore): void;
  /** Replaces the restore with a fresher copy (for example the answer of cancel). */
  update(restore: Restore): void;
}

/**
 * Follows one restore: polls `GET /restores/:id` until its phase is final, and remembers the
 * last running phase so that a failure can be shown at the step where it happened.
 *
 * @internal
 */
export function useRestoreProgress(
  api: VolumeManagerApi,
  onFinished?: (restore: Restore) => void,
): RestoreProgressState {
  const [restore, setRestore] = useState<Restore>();
  const [lastRunningPhase, setLastRunningPhase] = useState<RestorePhase>('queued');
  const [pollError, setPollError] = useState<Error>();
  const finishedCallback = useRef(onFinished);
  finishedCallback.current = onFinished;
  const reported = useRef<string>();

  const update = useCallback((next: Restore) => {
    setRestore(next);
    if (RUNNING_PHASES.includes(next.phase)) {
      setLastRunningPhase(next.phase);
    }
    if (isRestoreFinished(next.phase) && reported.current !== next.id) {
      reported.current = next.id;
      finishedCallback.current?.(next);
    }
  }, []);

  const id = restore?.id;
  const finished = restore ? isRestoreFinished(restore.phase) : true;
  // A new timer after every answer, so a slow backend is never asked twice at once.
  const generation = restore;
  useEffect(() => {
    if (!id || finished) {
      return undefined;
    }
    let cancelled = false;
    const timer = setTimeout(async () => {
      try {
        const next = await api.getRestore(id);
        if (cancelled) return;
        setPollError(undefined);
        update(next);
      } catch (error) {
        if (cancelled) return;
        setPollError(error as Error);
        // Ask again after the interval: a new object re-arms the effect.
        setRestore(prev => (prev ? { ...prev } : prev));
      }
    }, POLL_INTERVAL_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, id, finished, generation, update]);

  return { restore, lastRunningPhase, pollError, track: update, update };
}
