import { resolveCron } from '../plugins/volume-manager-backend/src/services/Policies/cron';
import {
  dueAmong,
  nextSlotAfter,
  type SchedulablePolicy,
} from '../plugins/volume-manager-backend/src/services/Policies/dispatch';
import type { Benchmark } from './types';
import { median } from './support';

const POLICIES = 5_000;
const DUE = 500;
const ROUNDS = 5;
const BUDGET_S = 2;
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe'];
const SPECS = ['@daily-random', '@hourly-random', '@weekly-random', '*/15 * * * *', '0 9 * * MON-FRI'];

/**
 * 5,000 policies over 500 namespaces (mixed zones, -random schedules resolved per PVC, as stored),
 * of which 500 have a slot due at `now`; some of those after a 3-hour outage, some with a run
 * active. `withoutIndex`: every policy's cron is evaluated (no stored next run); `withIndex`: the
 * stored next run filters first, as the tick's indexed query will.
 */
function fixture(now: Date): Array<SchedulablePolicy & { namespace: string }> {
  const policies: Array<SchedulablePolicy & { namespace: string }> = [];
  for (let i = 0; i < POLICIES; i++) {
    const namespace = `ns-${i % 500}`;
    const timezone = ZONES[i % ZONES.length];
    const cron = resolveCron(SPECS[i % SPECS.length], { policyId: `policy-${i}`, pvcKey: `scale/${namespace}/data-${i}` });
    const due = i % 10 === Math.floor(i / 10) % 10; // 1 in 10, spread over specs and zones
    // A due policy last ran some slots ago (up to a 3-hour outage); the others just ran.
    const lookBack = due ? (1 + (i % 3)) * 3_600_000 * (SPECS[i % SPECS.length].includes('15') ? 1 : 24 * 8) : 0;
    const probe = new Date(now.getTime() - lookBack);
    const lastSlot = due ? probe : now;
    const nextRunAt = nextSlotAfter(cron, timezone, lastSlot);
    policies.push({
      id: `policy-${i}`,
      namespace,
      cron,
      timezone,
      lastSlot,
      since: new Date(now.getTime() - 365 * 86_400_000),
      catchUp: i % 2 ? 'one' : 'none',
      runActive: i % 7 === 0,
      nextRunAt,
    });
  }
  return policies;
}

function timeS(fn: () => unknown): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export const dispatchDueAmong: Benchmark = {
  name: 'dispatch-due-among',
  description: 'pure dispatch decisions: dueAmong over 5,000 policies with 500 due (no database)',
  async run() {
    const now = new Date('2026-10-25T01:30:00Z'); // inside Berlin's repeated hour, for good measure
    const policies = fixture(now);
    const withoutIndex = policies.map(p => ({ ...p, nextRunAt: undefined }));
    const { due, failed } = dueAmong(withoutIndex, now);
    const dueIndexed = dueAmong(policies, now).due;
    if (due.length !== DUE || dueIndexed.length !== DUE || failed.length > 0) {
      throw new Error(`expected ${DUE} due policies, saw ${due.length} and ${dueIndexed.length} (indexed), ${failed.length} failed`);
    }
    const full: number[] = [];
    const indexed: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      full.push(timeS(() => dueAmong(withoutIndex, now)));
      indexed.push(timeS(() => dueAmong(policies, now)));
    }
    const value = median(full);
    return {
      bench: 'dispatch-due-among',
      value: Number(value.toFixed(4)),
      unit: 's',
      baseline: BUDGET_S,
      ratio: Number((value / BUDGET_S).toFixed(4)),
      target: `every cron evaluated, value < ${BUDGET_S} s (the budget of a whole dispatch tick; baseline is that budget)`,
      pass: value < BUDGET_S,
      details: {
        policies: POLICIES,
        due: due.length,
        toRun: due.filter(d => d.decision.outcome === 'run').length,
        withStoredNextRunS: Number(median(indexed).toFixed(4)),
        rounds: ROUNDS,
      },
    };
  },
};
