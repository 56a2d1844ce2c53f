/*
 * Dispatch decisions for scheduled backups: pure functions of a policy's schedule, what was
 * dispatched last, whether its PVC has a run in progress, and an injected `now`.
 *
 * A policy's schedule produces slots (instants, see cron.ts). A slot is due when it lies after the
 * last dispatched slot (or after the moment the policy was created or enabled) and at or before
 * `now`. At each tick:
 * - nothing due: nothing happens;
 * - a run of the PVC is active: every due slot is counted missed, none is queued (no overlap);
 * - catchUp `one` (the default): the newest due slot runs, once, however many were due after an
 *   outage; the older ones are counted missed (never a storm);
 * - catchUp `none`: the newest due slot runs only if it is at most `graceMs` old (a tick that is
 *   a little late still runs it); otherwise everything due is counted missed and the policy waits
 *   for its next slot.
 * In every case the returned `lastSlot` moves to the newest due slot, so no slot is ever decided
 * twice. The caller stores it with a compare-and-set on the previous value (and keys the run by
 * policy and slot), which is what makes one slot one run across replicas.
 */
import { type ParsedCron, parseCronCached, runsAfter } from './cron';
import { type ZoneClock, zoneClock } from './timezone';

export type CatchUp = 'none' | 'one';

/** How late a slot may start under catchUp `none`; the dispatcher should pass at least its tick interval. */
export const DEFAULT_GRACE_MS = 5 * 60_000;
/** Missed slots are counted up to this many per decision (an every-minute schedule down for a week). */
export const MAX_COUNTED_MISSED = 10_080;
/**
 * A stored last slot further than this in the future cannot come from a replica's clock drift: it
 * would hold the schedule until then, silently. It is repaired to `now` (see decideDispatch).
 */
export const MAX_FUTURE_LAST_SLOT_MS = 3_600_000;

export interface PolicySchedule {
  /** The effective (concrete) cron expression: `-random` presets already resolved. */
  cron: string;
  /** IANA zone; default UTC. */
  timezone?: string;
  /** The newest slot already decided (run or counted missed); null before the first. */
  lastSlot: Date | null;
  /** When the policy was created or last enabled: slots at or before it are never due. */
  since: Date;
  /** Default `one`. */
  catchUp?: CatchUp;
}

export interface DispatchInput extends PolicySchedule {
  /** A run of this PVC is queued or running now. */
  runActive: boolean;
  now: Date;
  graceMs?: number;
}

export type DispatchOutcome = 'notDue' | 'run' | 'skippedActive' | 'skippedLate';

export interface DispatchDecision {
  outcome: DispatchOutcome;
  /** The slot to start a run for now (outcome `run`), else null. */
  runSlot: Date | null;
  /** Due slots that will never run, decided by this tick. */
  missed: number;
  /** True when `missed` stopped at MAX_COUNTED_MISSED: the real number is at least that. */
  missedCapped: boolean;
  /** The value to store as the policy's last slot: the newest due slot, or the old value. */
  lastSlot: Date | null;
  /** The first slot strictly after `now`, or null when the schedule never fires again. */
  nextRun: Date | null;
  /** The stored last slot was more than MAX_FUTURE_LAST_SLOT_MS ahead of `now` and was reset to `now`. */
  repairedLastSlot?: true;
}

interface DueSlots {
  count: number;
  capped: boolean;
  newest: number | null;
  next: number | null;
}

/** The newest slot in (from, now], searching back from `now` in widening windows. */
function newestSlotUpTo(cron: ParsedCron, clock: ZoneClock, from: number, now: number): number | null {
  for (let window = 3_600_000; ; window *= 4) {
    const start = Math.max(from, now - window);
    let newest: number | null = null;
    for (const slot of runsAfter(cron, clock, start)) {
      if (slot > now) break;
      newest = slot;
    }
    if (newest !== null || start === from) return newest;
  }
}

function dueSlots(cron: ParsedCron, clock: ZoneClock, after: number, now: number): DueSlots {
  let count = 0;
  let newest: number | null = null;
  for (const slot of runsAfter(cron, clock, after)) {
    if (slot > now) return { count, capped: false, newest, next: slot };
    count++;
    newest = slot;
    if (count >= MAX_COUNTED_MISSED) {
      const last = newestSlotUpTo(cron, clock, slot, now) ?? slot;
      const next = runsAfter(cron, clock, Math.max(last, now)).next();
      return { count, capped: true, newest: last, next: next.done ? null : next.value };
    }
  }
  return { count, capped: false, newest, next: null };
}

function referenceOf(schedule: PolicySchedule): number {
  const since = schedule.since.getTime();
  const last = schedule.lastSlot?.getTime();
  return last !== undefined && last > since ? last : since;
}

function validTime(date: Date | null | undefined, field: string, optional = false): void {
  if (optional && (date === null || date === undefined)) return;
  if (!(date instanceof Date && Number.isFinite(date.getTime()))) {
    throw new TypeError(`${field} must be a valid date`);
  }
}

/** Decides what one policy does at `now`. See the file comment for the rules. */
export function decideDispatch(input: DispatchInput): DispatchDecision {
  validTime(input.now, 'now');
  validTime(input.since, 'since');
  validTime(input.lastSlot, 'lastSlot', true);
  const cron = parseCronCached(input.cron);
  const clock = zoneClock(input.timezone);
  const now = input.now.getTime();
  if (input.lastSlot && input.lastSlot.getTime() > now + MAX_FUTURE_LAST_SLOT_MS) {
    // Slots up to `now` count as decided: resume with the next slot, never a catch-up burst.
    const next = runsAfter(cron, clock, now).next();
    return {
      outcome: 'notDue',
      runSlot: null,
      missed: 0,
      missedCapped: false,
      lastSlot: new Date(now),
      nextRun: next.done ? null : new Date(next.value),
      repairedLastSlot: true,
    };
  }
  const due = dueSlots(cron, clock, referenceOf(input), now);
  const nextRun = due.next === null ? null : new Date(due.next);
  if (due.count === 0 || due.newest === null) {
    return { outcome: 'notDue', runSlot: null, missed: 0, missedCapped: false, lastSlot: input.lastSlot, nextRun };
  }
  const lastSlot = new Date(due.newest);
  const base = { lastSlot, nextRun, missedCapped: due.capped };
  if (input.runActive) {
    return { ...base, outcome: 'skippedActive', runSlot: null, missed: due.count };
  }
  const catchUp = input.catchUp ?? 'one';
  const grace = input.graceMs ?? DEFAULT_GRACE_MS;
  if (catchUp === 'none' && now - due.newest > grace) {
    return { ...base, outcome: 'skippedLate', runSlot: null, missed: due.count };
  }
  return { ...base, outcome: 'run', runSlot: lastSlot, missed: due.count - 1 };
}

/** The first slot of a schedule strictly after `after`. */
export function nextSlotAfter(cron: string, timezone: string | undefined, after: Date): Date | null {
  const next = runsAfter(parseCronCached(cron), zoneClock(timezone), after.getTime()).next();
  return next.done ? null : new Date(next.value);
}

/**
 * The longest gap between consecutive slots among the next `samples` slots after `from`: the
 * "interval" of a schedule for staleness (`0 9 * * MON-FRI` gives 3 days, the weekend, not 1).
 */
export function longestInterval(cron: string, timezone: string | undefined, from: Date, samples = 16): number | null {
  let previous: number | null = null;
  let longest: number | null = null;
  let seen = 0;
  for (const slot of runsAfter(parseCronCached(cron), zoneClock(timezone), from.getTime())) {
    if (previous !== null) longest = Math.max(longest ?? 0, slot - previous);
    previous = slot;
    if (++seen > samples) break;
  }
  return longest;
}

/**
 * The default staleness threshold of a PVC under a policy (issue 15: "2x its interval"): twice
 * the longest gap between the schedule's runs after `from`, so a weekday schedule is not stale
 * over a weekend. Null for a schedule with fewer than two future runs.
 */
export function defaultStaleAfterMs(cron: string, timezone: string | undefined, from: Date): number | null {
  const interval = longestInterval(cron, timezone, from);
  return interval === null ? null : 2 * interval;
}

/** A policy as the dispatch tick sees it. */
export interface SchedulablePolicy extends PolicySchedule {
  id: string;
  /** Default true. */
  enabled?: boolean;
  runActive?: boolean;
  /**
   * The stored next slot, if the store keeps one (the indexed column the tick's query filters
   * on). When present and after `now`, the policy is skipped without evaluating its cron.
   */
  nextRunAt?: Date | null;
}

/** What one dispatch tick has to act on. */
export interface DueResult<P> {
  /**
   * Policies with a decision to carry out: a run to start, missed slots to record, a repaired last
   * slot, or (outcome `notDue`) a stored `nextRunAt` to correct to `decision.nextRun`.
   */
  due: Array<{ policy: P; decision: DispatchDecision }>;
  /** Policies whose stored schedule could not be evaluated; the others are not held up by them. */
  failed: Array<{ policy: P; error: Error }>;
}

/**
 * The policies that have something to decide at `now` (a slot to run, or slots to count missed),
 * with their decisions. A "policy" here is one schedule: for an entity policy, one per PVC, each
 * with its own effective cron. Disabled policies and policies whose next slot is still ahead are
 * left out. Linear in the number of policies; the cron work is done only for policies with a due
 * slot when `nextRunAt` is known, and is one slot lookup per policy otherwise. One broken row (a
 * cron or zone that no longer parses) lands in `failed` and never stops the tick.
 */
export function dueAmong<P extends SchedulablePolicy>(
  policies: Iterable<P>,
  now: Date,
  options: { graceMs?: number } = {},
): DueResult<P> {
  const nowMs = now.getTime();
  const result: DueResult<P> = { due: [], failed: [] };
  for (const policy of policies) {
    if (policy.enabled === false) continue;
    if (policy.nextRunAt && policy.nextRunAt.getTime() > nowMs) continue;
    try {
      const decision = decideDispatch({
        ...policy,
        runActive: policy.runActive ?? false,
        now,
        graceMs: options.graceMs,
      });
      // A stored nextRunAt at or before now that turns out not due is stale: hand it back so the
      // caller stores the corrected next run, or the indexed query would select it every tick.
      const staleNextRunAt = Boolean(policy.nextRunAt);
      if (decision.outcome !== 'notDue' || decision.repairedLastSlot || staleNextRunAt) {
        result.due.push({ policy, decision });
      }
    } catch (error) {
      result.failed.push({ policy, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }
  return result;
}
