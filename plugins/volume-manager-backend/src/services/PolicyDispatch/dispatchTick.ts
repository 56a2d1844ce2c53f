/*
 * One dispatch tick of backup policies: the composition of the store's due query, the pure
 * decisions of services/Policies/dispatch.ts, the slot ledger and the compare-and-set record.
 * See PolicyStore.ts for why this starts each due slot exactly once across replicas. Starting a
 * run is the caller's (`startRun`, the backup service); the scheduler wiring is a later step.
 */
import type { DueTarget, DispatchRecord, PolicyStore } from '../../database/PolicyStore';
import { dueAmong, type DispatchDecision } from '../Policies';

export interface DispatchTickOptions {
  store: PolicyStore;
  /** This dispatcher's id (a replica's worker id), at most 64 characters. */
  dispatcherId: string;
  /** Starts the backup run of a claimed slot; returns its run id. */
  startRun(target: DueTarget, slot: Date): Promise<string>;
  /** Default: the database's clock. */
  now?: Date;
  /** Targets handled per tick; the rest are due next tick. Default 1,000. */
  limit?: number;
  graceMs?: number;
}

export interface DispatchTickResult {
  now: Date;
  /** Targets the due query returned. */
  due: number;
  started: Array<{ target: DueTarget; slot: Date; runId: string }>;
  /** Due slots another dispatcher holds (it decides them). */
  lostClaims: number;
  /** Claims taken over from a dispatcher that stopped before recording (counted missed). */
  recovered: number;
  /** Run slots claimed whose run could not start (counted missed). */
  startFailures: Array<{ target: DueTarget; error: Error }>;
  /** Decisions stored (the rest were stored by another dispatcher first). */
  recorded: number;
  /** Targets whose schedule could not be evaluated. */
  failed: Array<{ target: DueTarget; error: Error }>;
}

export async function dispatchTick(options: DispatchTickOptions): Promise<DispatchTickResult> {
  const { store } = options;
  const now = options.now ?? (await store.databaseTime());
  const targets = await store.dueTargets(now, options.limit ?? 1_000);
  const { due, failed } = dueAmong(
    targets.map(target => ({ ...target, id: target.policyId, target })),
    now,
    { graceMs: options.graceMs },
  );

  // Every decision with a due slot is claimed; only the holder of a slot decides it.
  const withSlot = due.filter(d => d.decision.outcome !== 'notDue');
  const claims = await store.claimSlots(
    withSlot.map(({ policy: { target }, decision }) => ({ ...pvcOf(target), policyId: target.policyId, slot: decision.lastSlot! })),
    options.dispatcherId,
  );
  const claimOf = new Map(withSlot.map((d, i) => [d.policy.target, claims[i]]));

  const result: DispatchTickResult = {
    now,
    due: targets.length,
    started: [],
    lostClaims: claims.filter(c => !c.held).length,
    recovered: claims.filter(c => c.recovered).length,
    startFailures: [],
    recorded: 0,
    failed: failed.map(f => ({ target: f.policy.target, error: f.error })),
  };
  const records: DispatchRecord[] = [];
  for (const { policy: { target }, decision } of due) {
    const record = recordOf(target, decision);
    const claim = claimOf.get(target);
    if (claim && !claim.held) continue; // another dispatcher decides this slot
    if (claim) record.claimedBy = options.dispatcherId;
    if (decision.outcome === 'run' && claim?.recovered) {
      record.missed += 1; // its first holder may have started it: never twice
    } else if (decision.outcome === 'run') {
      const slot = decision.runSlot!;
      try {
        const runId = await options.startRun(target, slot);
        result.started.push({ target, slot, runId });
        record.runId = runId;
      } catch (error) {
        result.startFailures.push({ target, error: error instanceof Error ? error : new Error(String(error)) });
        record.missed += 1;
      }
    }
    records.push(record);
  }
  const applied = await store.recordDispatches(records);
  result.recorded = applied.filter(Boolean).length;
  for (const failure of result.startFailures) {
    await store.recordOutcome(failure.target.policyId, {
      status: 'failed',
      at: now,
      error: `The scheduled backup of ${failure.target.namespace}/${failure.target.pvc} could not start: ${failure.error.message}`,
    });
  }
  return result;
}

function pvcOf(target: DueTarget) {
  return { cluster: target.cluster, namespace: target.namespace, pvc: target.pvc };
}

function recordOf(target: DueTarget, decision: DispatchDecision): DispatchRecord {
  return {
    ...pvcOf(target),
    policyId: target.policyId,
    expectedLastSlot: target.lastSlot,
    lastSlot: decision.lastSlot,
    nextRunAt: decision.nextRun,
    missed: decision.missed,
  };
}
