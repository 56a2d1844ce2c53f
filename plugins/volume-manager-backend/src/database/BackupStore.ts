/*
 * Persistence of backup runs and items. Items are the unit of work: workers on any backend
 * replica claim queued items atomically (a conditional UPDATE, so two replicas sharing one
 * PostgreSQL database never run the same item), hold a lease while running, and renew it.
 * An item whose lease expires (its replica died) is marked `interrupted` by whoever notices.
 */
import type {
  BackupItem,
  BackupRun,
  BackupStatus,
  LastBackup,
} from '@nkvm/backstage-plugin-volume-manager-common';

export interface NewRunItem {
  namespace: string;
  pvc: string;
  entityRef?: string;
}

export interface NewRun {
  cluster: string;
  /** Destination id, or `adhoc:<type>` for a one-off destination (never its secrets). */
  destination: string;
  requestedBy: string;
  items: NewRunItem[];
  /**
   * For a one-off destination: the worker whose replica holds its credentials. Its items are
   * created claimed by that worker (still `queued`) with a lease, which it renews with
   * `renewHeldQueuedItems`; when the lease runs out they become `interrupted`.
   */
  holder?: { workerId: string; leaseMs: number };
  /**
   * Set by the restore worker on the safety backup it takes of its target before writing: the
   * one run whose items may be claimed while that restore runs on their PVC (see `claimNextItem`).
   */
  forRestoreId?: string;
}

/** A stored item plus what the worker needs that the API does not show. */
export interface StoredItem extends BackupItem {
  entityRef: string | null;
  destination: string;
  claimedBy: string | null;
  leaseExpiresAt: string | null;
}

/** A run with its stored items. */
export type StoredRun = Omit<BackupRun, 'items'> & { items: StoredItem[] };

export interface ItemFilter {
  cluster?: string;
  namespace?: string;
  pvc?: string;
  /** Only items of these entities (after permission filtering). */
  entityRefs?: string[];
  status?: BackupStatus;
  /** Page size; at most 500. */
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface ItemPage {
  items: StoredItem[];
  nextCursor: string | null;
}

export interface ItemResult {
  status: Extract<BackupStatus, 'succeeded' | 'failed' | 'cancelled' | 'interrupted'>;
  bytes?: number;
  sha256?: string;
  archiveUri?: string;
  error?: string;
}

export interface PvcKey {
  cluster: string;
  namespace: string;
  pvc: string;
}

export interface ClaimOptions {
  /**
   * Items of runs with a one-off destination (`adhoc:<type>`) are claimable only when listed
   * here: their secrets live in the memory of one replica. Default: none.
   */
  adHocItemIds?: string[];
}

/**
 * Fair-sharing limits on unfinished (queued or running) items, checked atomically with the
 * creation of a run (also across replicas). Unset: no limit.
 */
export interface QueueLimits {
  /** Per requester (`requestedBy`). */
  maxActivePerUser?: number;
  /** Per catalog entity; items without an entity count only towards their requester. */
  maxActivePerEntity?: number;
}

export interface BackupStore {
  /**
   * Creates a run with one queued item per PVC, in one transaction. ConflictError (409) when
   * it would take the requester or an entity past `limits`.
   */
  createRun(run: NewRun, limits?: QueueLimits): Promise<BackupRun>;
  /** A run with its items (progress from the stored progress columns), or undefined. */
  getRun(runId: string): Promise<StoredRun | undefined>;
  getItem(itemId: string): Promise<StoredItem | undefined>;
  /** Newest first (by queued time, then id), with a stable cursor. */
  listItems(filter: ItemFilter): Promise<ItemPage>;

  /**
   * Atomically claims a queued item whose run is not cancelled: status -> running, started_at,
   * claimed_by = workerId, lease_expires_at = database now + leaseMs. Undefined when none.
   * Requesters take turns (fewest running first, then the one served longest ago), and each
   * requester's items go oldest first, in request order.
   *
   * One operation per PVC: an item whose PVC is the target of a running restore (verifying,
   * preflight or restoring) is skipped, unless its run is that restore's safety backup
   * (`NewRun.forRestoreId`). The check is made under the PVC's lock in the claiming transaction,
   * so a restore claimed by another replica at the same moment cannot slip past it.
   */
  claimNextItem(
    workerId: string,
    leaseMs: number,
    options?: ClaimOptions,
  ): Promise<StoredItem | undefined>;
  /** Extends the lease; false when the item is no longer this worker's (e.g. interrupted). */
  renewLease(itemId: string, workerId: string, leaseMs: number): Promise<boolean>;
  /** Extends the leases of queued items this worker holds (see `NewRun.holder`). */
  renewHeldQueuedItems(workerId: string, itemIds: string[], leaseMs: number): Promise<void>;
  /**
   * Of these items, those this worker still holds (queued or running, claimed by it). The
   * others ended elsewhere (cancelled on another replica, interrupted by lease expiry), so the
   * worker can drop what it keeps in memory for them.
   */
  heldItemIds(workerId: string, itemIds: string[]): Promise<string[]>;
  /** Records helper pod / node and streaming progress while running. */
  updateRunningItem(
    itemId: string,
    workerId: string,
    fields: { helperPod?: string; node?: string | null; progressBytes?: number },
  ): Promise<void>;
  /**
   * Finishes an item this worker holds and recomputes its run's status. False when the worker
   * no longer holds it (its lease expired and it was interrupted): the result is then dropped.
   */
  finishItem(itemId: string, workerId: string, result: ItemResult): Promise<boolean>;

  /**
   * Cancels a run: queued items become `cancelled` at once, and the run is flagged so workers
   * stop its running items. Returns the run, or undefined when it does not exist.
   */
  cancelRun(runId: string): Promise<BackupRun | undefined>;
  /** Whether cancellation was requested for the run of this item. */
  isCancelRequested(runId: string): Promise<boolean>;

  /**
   * Marks running items (and held queued items) whose lease has expired by the database's clock
   * (never a replica's own) as `interrupted` (error says why) and returns them, so their helper
   * pods can be cleaned up.
   */
  interruptExpiredItems(): Promise<StoredItem[]>;
  /** Ids of items that are running with a live lease, by the database's clock (for the janitor). */
  liveItemIds(): Promise<string[]>;

  /** The last successful backup of each PVC, in one query, keyed by `cluster/namespace/pvc`. */
  lastSuccessfulBackups(keys: PvcKey[]): Promise<Map<string, LastBackup>>;
  /** The status of the latest item of each PVC, keyed by `cluster/namespace/pvc`. */
  lastStatuses(keys: PvcKey[]): Promise<Map<string, BackupStatus>>;
}

export const pvcKey = (k: PvcKey) => `${k.cluster}/${k.namespace}/${k.pvc}`;
