/*
 * The machinery shared by the backup and restore workers: claim units of work from the store
 * (atomically, so replicas sharing a database never run one twice) up to `concurrency` at once,
 * renew each one's lease while it runs and poll whether it was cancelled (aborting it then, or
 * when the lease was lost), sweep on every poll, and on shutdown abort what still runs and wait
 * (bounded) for it to end. What a unit of work *is* and how its outcome is recorded stays with
 * each worker.
 */
import type { LoggerService } from '@backstage/backend-plugin-api';

export interface LeasedJobContext {
  signal: AbortSignal;
  /** The lease was lost (another replica interrupted this job): record nothing. */
  lost(): boolean;
  /** The worker is stopping (backend shutdown): the job ends `interrupted`. */
  stopping(): boolean;
}

export interface LeasedWorkLoopOptions<T extends { id: string }> {
  /** What the loop runs, for logs: `backup item`, `restore`. */
  what: string;
  logger: LoggerService;
  concurrency: number;
  leaseMs: number;
  pollMs: number;
  claim(): Promise<T | undefined>;
  /** False when the job is no longer this worker's. */
  renew(job: T): Promise<boolean>;
  isCancelRequested(job: T): Promise<boolean>;
  /** Runs on every poll (expired leases, held work); errors are logged. */
  sweep(): Promise<void>;
  /** Runs the job and records its outcome; the loop only keeps the lease and the abort. */
  run(job: T, context: LeasedJobContext): Promise<void>;
}

export class LeasedWorkLoop<T extends { id: string }> {
  private readonly running = new Map<string, AbortController>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private claiming = false;

  constructor(private readonly options: LeasedWorkLoopOptions<T>) {}

  get isStopped(): boolean {
    return this.stopped;
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  get runningCount(): number {
    return this.running.size;
  }

  start() {
    const tick = () => {
      if (this.stopped) return;
      this.kick();
      this.options.sweep().catch(e => this.options.logger.warn(`Lease sweep (${this.options.what}) failed: ${e}`));
      this.timer = setTimeout(tick, this.options.pollMs);
    };
    tick();
  }

  /** Claims work now rather than at the next poll. */
  kick() {
    if (this.stopped || this.claiming) return;
    this.claiming = true;
    this.claimAvailable()
      .catch(e => this.options.logger.error(`Claiming ${this.options.what}s failed`, e))
      .finally(() => {
        this.claiming = false;
      });
  }

  /** Aborts the job if this replica runs it. */
  abort(id: string): boolean {
    const abort = this.running.get(id);
    abort?.abort();
    return Boolean(abort);
  }

  /** Aborts every running job (they end `interrupted`) and waits up to 10 s for them. */
  async stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const abort of this.running.values()) abort.abort();
    const deadline = Date.now() + 10_000;
    while (this.running.size > 0 && Date.now() < deadline) {
      await new Promise(r => setTimeout(r, 50));
    }
  }

  private async claimAvailable() {
    while (!this.stopped && this.running.size < this.options.concurrency) {
      const job = await this.options.claim();
      if (!job) return;
      this.runJob(job).catch(e => this.options.logger.error(`${this.options.what} crashed`, e));
    }
  }

  private async runJob(job: T) {
    const { logger } = this.options;
    const abort = new AbortController();
    this.running.set(job.id, abort);
    let lost = false;
    const renew = setInterval(async () => {
      try {
        const held = await this.options.renew(job);
        const cancelled = await this.options.isCancelRequested(job);
        if (!held) lost = true;
        if (!held || cancelled) abort.abort();
      } catch (e) {
        logger.warn(`Lease renewal failed for ${this.options.what} ${job.id}: ${e}`);
      }
    }, Math.max(500, Math.floor(this.options.leaseMs / 4)));
    try {
      await this.options.run(job, {
        signal: abort.signal,
        lost: () => lost,
        stopping: () => this.stopped,
      });
    } finally {
      clearInterval(renew);
      this.running.delete(job.id);
      this.kick();
    }
  }
}
