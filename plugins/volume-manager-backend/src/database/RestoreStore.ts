/*
 * Persistence of restores. A restore is one unit of work, claimed by the same kind of
 * replica-safe worker as backup items: an atomic conditional UPDATE claims it, a lease (by the
 * database's clock) is renewed while it runs, and a restore whose lease expired (its replica
 * died) ends `interrupted`.
 *
 * One operation per PVC at a time, across replicas: a restore holds its *target* PVC, and a
 * `replace`/`merge` into an existing PVC excludes backups of that PVC. `claimNextRestore` skips a
 * restore whose target PVC has a running backup item or another running restore, and the backup
 * store's `claimNextItem` skips an item whose PVC has a running restore (see
 * `DatabaseBackupStore`). Both checks happen in the claiming statement's transaction.
 */
import type {
  Restore,
  RestoreCheck,
  RestoreOwnership,
  RestorePhase,
  RestoreTarget,
} from '@nkvm/backstage-plugin-volume-manager-common';
import type { PvcKey, StoredItem } from './BackupStore';

/** Phases of a claimed, unfinished restore: it holds its target PVC against backups. */
export const RUNNING_RESTORE_PHASES = ['verifying', 'preflight', 'restoring'] as const;

export interface NewRestore {
  /** The id to use (the service names a new PVC after it); a new UUID when unset. */
  id?: string;
  /** The succeeded backup item restored from (already resolved and authorized). */
  item: StoredItem;
  target: RestoreTarget;
  /** The PVC written to; for `newPvc` with the name chosen by the service. */
  targetPvc: PvcKey;
  ownership: RestoreOwnership;
  /** The catalog entity of the target PVC, when one matched. */
  entityRef: string | null;
  requestedBy: string;
}

/** A stored restore plus what the worker needs that the API does not show. */
export interface StoredRestore extends Restore {
  claimedBy: string | null;
  leaseExpiresAt: string | null;
  cancelRequested: boolean;
  /** Whether this restore created its target PVC (then a failure deletes it). */
  createdPvc: boolean;
}

export interface RestoreFilter {
  /** Restores whose target or source belongs to these entities (after permission filtering). */
  entityRefs?: string[];
  cluster?: string;
  namespace?: string;
  pvc?: string;
  /** Page size; at most 500. */
  limit: number;
  cursor?: string;
}

export interface RestorePage {
  items: StoredRestore[];
  nextCursor: string | null;
}

/** Fields a running restore updates as it goes. */
export interface RestoreProgress {
  phase?: Extract<RestorePhase, 'verifying' | 'preflight' | 'restoring'>;
  bytesDone?: number;
  bytesTotal?: number | null;
  entries?: number;
  uncompressedBytes?: number;
  checks?: RestoreCheck[];
  helperPod?: string | null;
  createdPvc?: boolean;
  safetyBackupRunId?: string;
}

export interface RestoreResult {
  phase: Extract<RestorePhase, 'succeeded' | 'failed' | 'canceled' | 'interrupted'>;
  error?: string;
}

export interface RestoreStore {
  /**
   * Creates a queued restore. ConflictError (409) when the target PVC already has a queued or
   * running restore, or (for an existing PVC) a queued or running backup item.
   */
  createRestore(restore: NewRestore): Promise<StoredRestore>;
  getRestore(id: string): Promise<StoredRestore | undefined>;
  /** Newest first (by created time, then id), with a stable cursor. */
  listRestores(filter: RestoreFilter): Promise<RestorePage>;

  /**
   * Atomically claims the oldest queued restore that is not cancelled and whose target PVC has
   * no running backup item or restore: phase -> verifying, started_at, claimed_by, lease.
   */
  claimNextRestore(workerId: string, leaseMs: number): Promise<StoredRestore | undefined>;
  /** False when the restore is no longer this worker's (interrupted). */
  renewRestoreLease(id: string, workerId: string, leaseMs: number): Promise<boolean>;
  updateRestore(id: string, workerId: string, progress: RestoreProgress): Promise<void>;
  /** False when the worker no longer holds it; the result is then dropped. */
  finishRestore(id: string, workerId: string, result: RestoreResult): Promise<boolean>;

  /** Queued: `canceled` at once. Running: flagged, the worker stops it. Undefined if unknown. */
  cancelRestore(id: string): Promise<StoredRestore | undefined>;
  isRestoreCancelRequested(id: string): Promise<boolean>;

  /** Running restores whose lease expired (database clock) become `interrupted`; returned. */
  interruptExpiredRestores(): Promise<StoredRestore[]>;
  /** Ids of running restores with a live lease (for the helper janitor). */
  liveRestoreIds(): Promise<string[]>;

  /**
   * The newest succeeded backup item of one PVC finished at or before `asOf` (default now), or
   * undefined. Only that PVC's items: never another PVC's newer archive.
   */
  newestSucceededItem(pvc: PvcKey, asOf?: Date): Promise<StoredItem | undefined>;
}
