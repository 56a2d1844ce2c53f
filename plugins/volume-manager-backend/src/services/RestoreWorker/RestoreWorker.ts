/*
 * RestoreWorker: claims queued restores (atomically; the store also keeps one operation per PVC
 * at a time), runs up to `concurrency` at once through the RestoreExecutor, renews each
 * restore's lease and polls its cancel flag (the shared LeasedWorkLoop), stores progress at most
 * every 2 s, and records the outcome. A sweep marks restores whose lease expired (their replica
 * died) `interrupted` and has the executor remove what they left (helper pod, a PVC they
 * created). On shutdown, running restores are interrupted and cleaned up.
 */
import { randomUUID } from 'node:crypto';
import type { LoggerService } from '@backstage/backend-plugin-api';
import type { BackupStore } from '../../database/BackupStore';
import type { RestoreProgress, RestoreResult, RestoreStore, StoredRestore } from '../../database/RestoreStore';
import type { ArchiveSink } from '../ArchiveSinks/types';
import { LeasedWorkLoop, type LeasedJobContext } from '../LeasedWork/LeasedWorkLoop';
import { RestoreCancelledError, RestoreRefusedError, type RestoreExecutor } from '../RestoreExecutor/types';

const PROGRESS_WRITE_MS = 2000;
const SAFETY_BACKUP_POLL_MS = 500;

export interface RestoreWorkerOptions {
  store: RestoreStore;
  executor: RestoreExecutor;
  /** The sink of the source item's destination; throws when this replica has none. */
  sinkFor(restore: StoredRestore): ArchiveSink;
  /** The backup path, for the safety backup a `replace` takes first. */
  backups: {
    store: BackupStore;
    /** Claim the safety backup's item now. */
    kick(): void;
    /** Abort a backup item this replica runs. */
    abort(itemId: string): boolean;
  };
  logger: LoggerService;
  concurrency: number;
  leaseMs?: number;
  pollMs?: number;
}

export class RestoreWorker {
  readonly workerId = `restore-worker-${randomUUID()}`;
  readonly leaseMs: number;
  private readonly loop: LeasedWorkLoop<StoredRestore>;

  constructor(private readonly options: RestoreWorkerOptions) {
    this.leaseMs = options.leaseMs ?? 60_000;
    const { store } = options;
    this.loop = new LeasedWorkLoop<StoredRestore>({
      what: 'restore',
      logger: options.logger,
      concurrency: options.concurrency,
      leaseMs: this.leaseMs,
      pollMs: options.pollMs ?? 1000,
      claim: () => store.claimNextRestore(this.workerId, this.leaseMs),
      renew: restore => store.renewRestoreLease(restore.id, this.workerId, this.leaseMs),
      isCancelRequested: restore => store.isRestoreCancelRequested(restore.id),
      sweep: () => this.sweep(),
      run: (restore, context) => this.runRestore(restore, context),
    });
  }

  start() {
    this.loop.start();
  }

  kick() {
    this.loop.kick();
  }

  /** Aborts the restore if this replica runs it (cancellation). */
  abort(id: string): boolean {
    return this.loop.abort(id);
  }

  async stop() {
    await this.loop.stop();
  }

  private async sweep() {
    const interrupted = await this.options.store.interruptExpiredRestores();
    for (const restore of interrupted) {
      this.options.logger.warn('Restore interrupted: its replica stopped', { restoreId: restore.id });
      await this.options.executor
        .cleanup(restore)
        .catch(e => this.options.logger.warn(`Cleanup of interrupted restore ${restore.id} failed: ${e}`));
    }
  }

  /** Creates a backup of the target PVC to the source's destination and waits for its end. */
  private async safetyBackup(restore: StoredRestore, signal: AbortSignal): Promise<string> {
    const { store: backups } = this.options.backups;
    const target = restore.targetPvc!;
    const run = await backups.createRun({
      cluster: target.cluster,
      destination: restore.source.destination,
      requestedBy: restore.requestedBy,
      items: [{ namespace: target.namespace, pvc: target.name, entityRef: restore.entityRef ?? undefined }],
      forRestoreId: restore.id,
    });
    await this.options.store.updateRestore(restore.id, this.workerId, { safetyBackupRunId: run.id });
    this.options.backups.kick();
    const itemId = run.items[0].id;
    for (;;) {
      if (signal.aborted) {
        await backups.cancelRun(run.id).catch(() => {});
        this.options.backups.abort(itemId);
        throw new RestoreCancelledError();
      }
      const item = await backups.getItem(itemId);
      if (item?.status === 'succeeded') return run.id;
      if (item && !['queued', 'running'].includes(item.status)) {
        throw new RestoreRefusedError(
          `The safety backup of '${target.namespace}/${target.name}' (run ${run.id}) ended ${item.status}${item.error ? `: ${item.error}` : ''}; nothing was written`,
        );
      }
      await new Promise(resolve => {
        const timer = setTimeout(resolve, SAFETY_BACKUP_POLL_MS);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(undefined);
        }, { once: true });
      });
    }
  }

  private async runRestore(restore: StoredRestore, context: LeasedJobContext) {
    const { store, executor, logger } = this.options;
    let lastWrite = 0;
    const write = (progress: RestoreProgress) => {
      store.updateRestore(restore.id, this.workerId, progress).catch(e => logger.warn(`Restore progress write failed: ${e}`));
    };
    let result: RestoreResult;
    try {
      const sink = this.options.sinkFor(restore);
      await executor.run(restore, sink, {
        signal: context.signal,
        onPhase: phase => write({ phase }),
        onProgress: (bytesDone, bytesTotal) => {
          if (Date.now() - lastWrite < PROGRESS_WRITE_MS) return;
          lastWrite = Date.now();
          write({ bytesDone, bytesTotal });
        },
        onScan: ({ entries, uncompressedBytes }) => write({ entries, uncompressedBytes }),
        onChecks: checks => write({ checks }),
        onHelperPod: helperPod => write({ helperPod }),
        onCreatedPvc: () => write({ createdPvc: true }),
        safetyBackup: () => this.safetyBackup(restore, context.signal),
      });
      result = { phase: 'succeeded' };
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      const cancelled =
        !context.lost() &&
        !context.stopping() &&
        (error instanceof RestoreCancelledError || context.signal.aborted) &&
        (await store.isRestoreCancelRequested(restore.id).catch(() => false));
      if (context.stopping()) {
        result = { phase: 'interrupted', error: 'The backend stopped while this restore ran' };
      } else if (cancelled) {
        result = { phase: 'canceled', error: 'Canceled before the restore completed' };
      } else {
        result = { phase: 'failed', error: message };
      }
    }
    if (context.lost()) {
      logger.warn('Restore lost its lease; another replica interrupted it', { restoreId: restore.id });
      return;
    }
    await store.finishRestore(restore.id, this.workerId, result);
    if (result.phase === 'interrupted') {
      // What the aborted run may have left (its own cleanup normally removed it already).
      const latest = (await store.getRestore(restore.id).catch(() => undefined)) ?? restore;
      await executor.cleanup(latest).catch(e => logger.warn(`Cleanup of restore ${restore.id} failed: ${e}`));
    }
    const log = result.phase === 'succeeded' ? logger.info.bind(logger) : logger.warn.bind(logger);
    log(`Restore ${result.phase}`, {
      restoreId: restore.id,
      target: `${restore.targetPvc?.namespace}/${restore.targetPvc?.name}`,
      ...(result.error && { error: result.error }),
    });
  }
}
