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
import { LeasedWorkLoop, type LeasedJobContext } from '../LeasedWork/LeasedWorkLoop';

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
  private readonly progress = new Map<string, { progress: RunningProgress; started: number }>();
  private readonly loop: LeasedWorkLoop<StoredItem>;

  constructor(private readonly options: BackupWorkerOptions) {
    this.leaseMs = options.leaseMs ?? 60_000;
    const { store } = options;
    this.loop = new LeasedWorkLoop<StoredItem>({
      what: 'backup item',
      logger: options.logger,
      concurrency: options.concurrency,
      leaseMs: this.leaseMs,
      pollMs: options.pollMs ?? 1000,
      claim: () =>
        store.claimNextItem(this.workerId, this.leaseMs, { adHocItemIds: this.options.adHocItemIds?.() ?? [] }),
      renew: item => store.renewLease(item.id, this.workerId, this.leaseMs),
      isCancelRequested: item => store.isCancelRequested(item.runId),
      sweep: () => this.sweep(),
      run: (item, context) => this.runItem(item, context),
    });
  }

  start() {
    this.loop.start();
  }

  /** Claims work now rather than at the next poll (after a run is created). */
  kick() {
    this.loop.kick();
  }

  /** Live progress of an item this replica runs. */
  progressOf(itemId: string): RunningProgress | undefined {
    return this.progress.get(itemId)?.progress;
  }

  /** Aborts the item if this replica runs it (cancellation). */
  abort(itemId: string): boolean {
    return this.loop.abort(itemId);
  }

  async stop() {
    await this.loop.stop();
  }

  private lastHeldRenewal = 0;

  private async sweep() {
    const held = (this.options.adHocItemIds?.() ?? []).filter(id => !this.loop.isRunning(id));
    if (held.length > 0 && Date.now() - this.lastHeldRenewal > this.leaseMs / 4) {
      this.lastHeldRenewal = Date.now();
      await this.options.store.renewHeldQueuedItems(this.workerId, held, this.leaseMs);
      // Items that ended elsewhere never reach runItem: release what is held for them. An item
      // this worker claimed meanwhile is `running` under its id, so it still counts as held.
      const still = new Set(await this.options.store.heldItemIds(this.workerId, held));
      for (const id of held) {
        if (!still.has(id) && !this.loop.isRunning(id)) this.options.onHeldItemGone?.(id);
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

  private async runItem(item: StoredItem, context: LeasedJobContext) {
    const { store, executor, logger } = this.options;
    const entry = { progress: { bytes: 0, bytesPerSecond: 0 }, started: Date.now() };
    this.progress.set(item.id, entry);
    let lastWrite = 0;
    try {
      const outcome = await executor.run(
        { ...item, itemId: item.id },
        this.options.sinkFor(item),
        {
          signal: context.signal,
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
      const lost = context.lost();
      const stopping = context.stopping();
      const cancelled = !lost && !stopping && (await store.isCancelRequested(item.runId).catch(() => false));
      let status: 'interrupted' | 'cancelled' | 'failed' = 'failed';
      let reason = this.options.publicFailure?.(item, error) ?? message;
      if (stopping) {
        status = 'interrupted';
        reason = 'The backend stopped while this backup ran; the archive was not completed';
      } else if (cancelled) {
        status = 'cancelled';
        reason = 'Cancelled; the archive was not completed';
      }
      if (!lost) await store.finishItem(item.id, this.workerId, { status, error: reason });
      logger.warn(`Backup ${status}`, { itemId: item.id, pvc: `${item.namespace}/${item.pvc}`, error: reason });
    } finally {
      this.options.onItemDone?.(item);
      this.progress.delete(item.id);
    }
  }
}
