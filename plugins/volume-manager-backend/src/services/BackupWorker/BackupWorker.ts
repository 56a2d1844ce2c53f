/*
 * BackupWorker: claims queued items from the store (atomically, so replicas sharing a database
 * never run one item twice), runs up to `concurrency` at once, renews each item's lease while
 * it runs, records progress, and writes the outcome. A sweep marks items whose lease expired
 * (their replica died) as `interrupted`. On shutdown, items still running are interrupted
 * explicitly and their helper pods deleted.
 */
import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { BackupStore, StoredItem } from '../../database/BackupStore';
import type { ArchiveSink } from '../ArchiveSinks/types';
import type { BackupExecutor } from '../BackupExecutor/BackupExecutor';

export interface BackupWorkerOptions {
  store: BackupStore;
  executor: BackupExecutor;
  /** The sink for an item's destination; throws for an unknown destination. */
  sinkFor(item: StoredItem): ArchiveSink;
  /**
   * Items with a one-off (`adhoc:*`) destination this replica may run: only those whose spec it
   * holds in memory. Other replicas' ad-hoc items are never claimed here.
   */
  adHocItemIds?(): string[];
  /**
   * The error text to record when an item failed, if not the error's own message: a one-off
   * destination's failure reads the same whatever went wrong (ArchiveSinkRegistry).
   */
  publicFailure?(item: StoredItem, error: unknown): string | undefined;
  /** Called once an item this worker claimed has ended, whatever the outcome. */
  onItemDone?(item: StoredItem): void;
  /**
   * Called for a held one-off item (see `adHocItemIds`) that ended without this worker running
   * it: cancelled on another replica, or interrupted after its lease ran out. Its secrets can go.
   */
  onHeldItemGone?(itemId: string): void;
  /** Called when an interrupted item's helper pod may be left behind. */
  cleanupHelper(item: StoredItem): Promise<void>;
  logger: LoggerService;
  concurrency: number;
  leaseMs?: number;
  pollMs?: number;
}

export interface RunningProgress {
  bytes: number;
  bytesPerSecond: number;
}

const PROGRESS_WRITE_MS = 2000;

export class BackupWorker {
  readonly workerId = `worker-${randomUUID()}`;
  readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly running = new Map<string, { abort: AbortController; progress: RunningProgress; started: number }>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private claiming = false;

  constructor(private readonly options: BackupWorkerOptions) {
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 1000;
  }

  start() {
    const tick = () => {
      if (this.stopped) return;
      this.kick();
      this.sweep().catch(e => this.options.logger.warn(`Lease sweep failed: ${e}`));
      this.timer = setTimeout(tick, this.pollMs);
    };
    tick();
  }

  /** Claims work now rather than at the next poll (after a run is created). */
  kick() {
    if (this.stopped || this.claiming) return;
    this.claiming = true;
    this.claimAvailable()
      .catch(e => this.options.logger.error('Claiming backup items failed', e))
      .finally(() => {
        this.claiming = false;
      });
  }

  /** Live progress of an item this replica runs. */
  progressOf(itemId: string): RunningProgress | undefined {
    return this.running.get(itemId)?.progress;
  }

  /** Aborts the item if this replica runs it (cancellation). */
  abort(itemId: string): boolean {
    const entry = this.running.get(itemId);
    entry?.abort.abort();
    return Boolean(entry);
  }

  async stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const entry of this.running.values()) entry.abort.abort();
    const deadline = Date.now() + 10_000;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 50));
    }
  }

  private lastHeldRenewal = 0;

  private async sweep() {
    const held = (this.options.adHocItemIds?.() ?? []).filter(id => !this.running.has(id));
    if (held.length > 0 && Date.now() - this.lastHeldRenewal > this.leaseMs / 4) {
      this.lastHeldRenewal = Date.now();
      await this.options.store.renewHeldQueuedItems(this.workerId, held, this.leaseMs);
      // Items that ended elsewhere never reach runItem: release what is held for them. An item
      // this worker claimed meanwhile is `running` under its id, so it still counts as held.
      const still = new Set(await this.options.store.heldItemIds(this.workerId, held));
      for (const id of held) {
        if (!still.has(id) && !this.running.has(id)) this.options.onHeldItemGone?.(id);
      }
    }
    const interrupted = await this.options.store.interruptExpiredItems();
    for (const item of interrupted) {
      this.options.logger.warn('Backup interrupted: its replica stopped', {
        itemId: item.id,
        pvc: `${item.namespace}/${item.pvc}`,
      });
      await this.options.cleanupHelper(item).catch(() => {});
    }
  }

  private async claimAvailable() {
    while (!this.stopped && this.running.size < this.options.concurrency) {
      const item = await this.options.store.claimNextItem(this.workerId, this.leaseMs, {
        adHocItemIds: this.options.adHocItemIds?.() ?? [],
      });
      if (!item) return;
      this.runItem(item).catch(e => this.options.logger.error('Backup item crashed', e));
    }
  }

  private async runItem(item: StoredItem) {
    const { store, executor, logger } = this.options;
    const abort = new AbortController();
    const entry = { abort, progress: { bytes: 0, bytesPerSecond: 0 }, started: Date.now() };
    this.running.set(item.id, entry);
    let lastWrite = 0;
    let lost = false;
    const renew = setInterval(async () => {
      try {
        const held = await store.renewLease(item.id, this.workerId, this.leaseMs);
        const cancelled = await store.isCancelRequested(item.runId);
        if (!held) lost = true;
        if (!held || cancelled) abort.abort();
      } catch (e) {
        logger.warn(`Lease renewal failed for ${item.id}: ${e}`);
      }
    }, Math.max(500, Math.floor(this.leaseMs / 4)));
    try {
      const outcome = await executor.run(
        { ...item, itemId: item.id },
        this.options.sinkFor(item),
        {
          signal: abort.signal,
          onHelperPod: (helperPod, node) => {
            store.updateRunningItem(item.id, this.workerId, { helperPod, node }).catch(() => {});
          },
          onProgress: bytes => {
            const seconds = (Date.now() - entry.started) / 1000;
            entry.progress = { bytes, bytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : 0 };
            if (Date.now() - lastWrite > PROGRESS_WRITE_MS) {
              lastWrite = Date.now();
              store.updateRunningItem(item.id, this.workerId, { progressBytes: bytes }).catch(() => {});
            }
          },
        },
      );
      await store.finishItem(item.id, this.workerId, { status: 'succeeded', ...outcome });
      logger.info('Backup succeeded', { itemId: item.id, pvc: `${item.namespace}/${item.pvc}`, bytes: outcome.bytes });
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      const cancelled = !lost && !this.stopped && (await store.isCancelRequested(item.runId).catch(() => false));
      let status: 'interrupted' | 'cancelled' | 'failed' = 'failed';
      let reason = this.options.publicFailure?.(item, error) ?? message;
      if (this.stopped) {
        status = 'interrupted';
        reason = 'The backend stopped while this backup ran; the archive was not completed';
      } else if (cancelled) {
        status = 'cancelled';
        reason = 'Cancelled; the archive was not completed';
      }
      if (!lost) await store.finishItem(item.id, this.workerId, { status, error: reason });
      logger.warn(`Backup ${status}`, { itemId: item.id, pvc: `${item.namespace}/${item.pvc}`, error: reason });
    } finally {
      clearInterval(renew);
      this.options.onItemDone?.(item);
      this.running.delete(item.id);
      this.kick();
    }
  }
}
