import {
  type CatchUp,
  decideDispatch,
  defaultStaleAfterMs,
  type DispatchDecision,
  dueAmong,
  longestInterval,
  MAX_COUNTED_MISSED,
  nextSlotAfter,
  type PolicySchedule,
} from './dispatch';

const at = (s: string) => new Date(s);
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const brief = (d: DispatchDecision) => ({
  outcome: d.outcome,
  runSlot: iso(d.runSlot),
  missed: d.missed,
  lastSlot: iso(d.lastSlot),
  nextRun: iso(d.nextRun),
});

const hourly: PolicySchedule = { cron: '0 * * * *', lastSlot: at('2026-05-01T09:00:00Z'), since: at('2026-04-01T00:00:00Z') };

describe('decideDispatch', () => {
  it('runs a slot that just came due', () => {
    expect(brief(decideDispatch({ ...hourly, lastSlot: at('2026-05-01T10:00:00Z'), runActive: false, now: at('2026-05-01T11:00:20Z') }))).toEqual({
      outcome: 'run',
      runSlot: '2026-05-01T11:00:00.000Z',
      missed: 0,
      lastSlot: '2026-05-01T11:00:00.000Z',
      nextRun: '2026-05-01T12:00:00.000Z',
    });
  });

  it('does nothing between slots, and keeps the last slot', () => {
    expect(brief(decideDispatch({ ...hourly, lastSlot: at('2026-05-01T11:00:00Z'), runActive: false, now: at('2026-05-01T11:59:59Z') }))).toEqual({
      outcome: 'notDue',
      runSlot: null,
      missed: 0,
      lastSlot: '2026-05-01T11:00:00.000Z',
      nextRun: '2026-05-01T12:00:00.000Z',
    });
  });

  it.each<[CatchUp, string, ReturnType<typeof brief>]>([
    // 3-hour outage: the 10:00, 11:00 and 12:00 slots passed without a tick.
    ['one', '2026-05-01T12:30:00Z', { outcome: 'run', runSlot: '2026-05-01T12:00:00.000Z', missed: 2, lastSlot: '2026-05-01T12:00:00.000Z', nextRun: '2026-05-01T13:00:00.000Z' }],
    ['none', '2026-05-01T12:30:00Z', { outcome: 'skippedLate', runSlot: null, missed: 3, lastSlot: '2026-05-01T12:00:00.000Z', nextRun: '2026-05-01T13:00:00.000Z' }],
    // Back within the grace period of the newest slot: `none` still runs it.
    ['none', '2026-05-01T12:04:00Z', { outcome: 'run', runSlot: '2026-05-01T12:00:00.000Z', missed: 2, lastSlot: '2026-05-01T12:00:00.000Z', nextRun: '2026-05-01T13:00:00.000Z' }],
  ])('after a 3-hour outage, catchUp %s at %s', (catchUp, now, expected) => {
    expect(brief(decideDispatch({ ...hourly, catchUp, runActive: false, now: at(now) }))).toEqual(expected);
  });

  it('counts a due slot as missed while a run of the PVC is active, and does not queue it', () => {
    const busy = decideDispatch({ ...hourly, lastSlot: at('2026-05-01T10:00:00Z'), runActive: true, now: at('2026-05-01T11:00:30Z') });
    expect(brief(busy)).toEqual({
      outcome: 'skippedActive',
      runSlot: null,
      missed: 1,
      lastSlot: '2026-05-01T11:00:00.000Z',
      nextRun: '2026-05-01T12:00:00.000Z',
    });
    // The run finishes at 11:20: the 11:00 slot is not run late.
    const after = decideDispatch({ ...hourly, lastSlot: busy.lastSlot, runActive: false, now: at('2026-05-01T11:20:00Z') });
    expect(after.outcome).toBe('notDue');
  });

  it('never runs slots from before the policy existed', () => {
    const fresh: PolicySchedule = { cron: '0 * * * *', lastSlot: null, since: at('2026-05-01T10:30:00Z') };
    expect(decideDispatch({ ...fresh, runActive: false, now: at('2026-05-01T10:45:00Z') }).outcome).toBe('notDue');
    expect(brief(decideDispatch({ ...fresh, runActive: false, now: at('2026-05-01T11:00:05Z') }))).toMatchObject({
      outcome: 'run',
      runSlot: '2026-05-01T11:00:00.000Z',
      missed: 0,
    });
    // Created exactly on a slot: that slot is not due.
    const onSlot = { ...fresh, since: at('2026-05-01T11:00:00Z') };
    expect(decideDispatch({ ...onSlot, runActive: false, now: at('2026-05-01T11:00:05Z') }).outcome).toBe('notDue');
    // Re-enabled after a month: `since` bounds what counts as missed.
    const reenabled = { ...hourly, lastSlot: at('2026-04-01T00:00:00Z'), since: at('2026-05-01T11:10:00Z') };
    expect(decideDispatch({ ...reenabled, runActive: false, now: at('2026-05-01T11:20:00Z') }).outcome).toBe('notDue');
  });

  it('caps the missed count of a very long outage and still finds the newest slot quickly', () => {
    const started = Date.now();
    const d = decideDispatch({
      cron: '* * * * *',
      lastSlot: at('2026-01-01T00:00:00Z'),
      since: at('2025-01-01T00:00:00Z'),
      runActive: false,
      now: at('2026-03-01T12:34:56Z'),
    });
    expect(d).toMatchObject({ outcome: 'run', missed: MAX_COUNTED_MISSED - 1, missedCapped: true });
    expect(iso(d.runSlot)).toBe('2026-03-01T12:34:00.000Z');
    expect(iso(d.nextRun)).toBe('2026-03-01T12:35:00.000Z');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('repairs a last slot far in the future instead of silently holding the schedule', () => {
    const d = decideDispatch({ ...hourly, lastSlot: at('2999-01-01T00:00:00Z'), runActive: false, now: at('2026-05-01T11:30:00Z') });
    expect(brief(d)).toEqual({
      outcome: 'notDue',
      runSlot: null,
      missed: 0,
      lastSlot: '2026-05-01T11:30:00.000Z',
      nextRun: '2026-05-01T12:00:00.000Z',
    });
    expect(d.repairedLastSlot).toBe(true);
    expect(dueAmong([{ ...hourly, id: 'p', lastSlot: at('2999-01-01T00:00:00Z') }], at('2026-05-01T11:30:00Z')).due).toHaveLength(1);
    // A replica clock a few minutes ahead is not "far": that slot stays decided, nothing doubles.
    const skew = decideDispatch({ ...hourly, lastSlot: at('2026-05-01T12:00:00Z'), runActive: false, now: at('2026-05-01T11:58:00Z') });
    expect(brief(skew)).toMatchObject({ outcome: 'notDue', lastSlot: '2026-05-01T12:00:00.000Z', nextRun: '2026-05-01T13:00:00.000Z' });
    expect(decideDispatch({ ...hourly, lastSlot: at('2026-05-01T12:00:00Z'), runActive: false, now: at('2026-05-01T12:00:30Z') }).outcome).toBe('notDue');
  });

  it('refuses invalid dates rather than deciding on NaN', () => {
    expect(() => decideDispatch({ ...hourly, runActive: false, now: new Date('nope') })).toThrow('now must be a valid date');
    expect(() => decideDispatch({ ...hourly, since: new Date(Number.NaN), runActive: false, now: new Date() })).toThrow(
      'since must be a valid date',
    );
    expect(() => decideDispatch({ ...hourly, since: undefined as unknown as Date, runActive: false, now: new Date() })).toThrow(
      'since must be a valid date',
    );
  });

  it('follows the time zone across a DST change (Europe/Berlin, spring forward)', () => {
    const d = decideDispatch({
      cron: '30 2 * * *',
      timezone: 'Europe/Berlin',
      lastSlot: at('2026-03-28T01:30:00Z'),
      since: at('2026-01-01T00:00:00Z'),
      runActive: false,
      now: at('2026-03-29T01:00:30Z'),
    });
    expect(brief(d)).toEqual({
      outcome: 'run',
      runSlot: '2026-03-29T01:00:00.000Z', // 02:30 was skipped: 03:00 CEST
      missed: 0,
      lastSlot: '2026-03-29T01:00:00.000Z',
      nextRun: '2026-03-30T00:30:00.000Z',
    });
  });
});

/**
 * Drives a policy with a controllable clock: a tick every `tickMs` (none during `outages`), runs
 * that last `runMs`. Returns the slots started, with their start and end, and the missed total.
 */
function simulate(opts: {
  schedule: Omit<PolicySchedule, 'lastSlot'>;
  from: string;
  to: string;
  tickMs: number;
  runMs: number;
  outages?: Array<[string, string]>;
}) {
  let lastSlot: Date | null = null;
  let missed = 0;
  const runs: Array<{ slot: string; start: number; end: number }> = [];
  const outages = (opts.outages ?? []).map(([a, b]) => [Date.parse(a), Date.parse(b)]);
  for (let t = Date.parse(opts.from); t <= Date.parse(opts.to); t += opts.tickMs) {
    if (outages.some(([a, b]) => t >= a && t < b)) continue;
    const active = runs.some(r => r.start <= t && t < r.end);
    const d = decideDispatch({ ...opts.schedule, lastSlot, runActive: active, now: new Date(t) });
    lastSlot = d.lastSlot;
    missed += d.missed;
    if (d.runSlot) runs.push({ slot: d.runSlot.toISOString(), start: t, end: t + opts.runMs });
  }
  return { runs, missed };
}

describe('dispatch with a controllable clock', () => {
  const schedule = { cron: '0 * * * *', since: at('2026-05-01T00:00:00Z') };

  it('catchUp one: a 3-hour outage gives one catch-up run, not a storm', () => {
    const { runs, missed } = simulate({
      schedule: { ...schedule, catchUp: 'one' },
      from: '2026-05-01T00:00:30Z',
      to: '2026-05-01T23:59:30Z',
      tickMs: 30_000,
      runMs: 10 * 60_000,
      outages: [['2026-05-01T08:30:00Z', '2026-05-01T11:40:00Z']],
    });
    const slots = runs.map(r => r.slot.slice(11, 16));
    expect(slots).toEqual([
      '01:00', '02:00', '03:00', '04:00', '05:00', '06:00', '07:00', '08:00',
      '11:00', // 09:00 and 10:00 missed; 11:00 runs once at 11:40
      '12:00', '13:00', '14:00', '15:00', '16:00', '17:00', '18:00', '19:00', '20:00', '21:00', '22:00', '23:00',
    ]);
    expect(new Date(runs[8].start).toISOString()).toBe('2026-05-01T11:40:00.000Z');
    expect(missed).toBe(2);
  });

  it('catchUp none: the same outage runs nothing until the next slot', () => {
    const { runs, missed } = simulate({
      schedule: { ...schedule, catchUp: 'none' },
      from: '2026-05-01T00:00:30Z',
      to: '2026-05-01T23:59:30Z',
      tickMs: 30_000,
      runMs: 10 * 60_000,
      outages: [['2026-05-01T08:30:00Z', '2026-05-01T11:40:00Z']],
    });
    const slots = runs.map(r => r.slot.slice(11, 16));
    expect(slots).not.toContain('11:00');
    expect(slots).toContain('12:00');
    expect(slots).toHaveLength(23 - 3);
    expect(missed).toBe(3);
  });

  it('no overlap per PVC: a run longer than the interval makes the next slot missed', () => {
    const { runs, missed } = simulate({
      schedule: { cron: '*/10 * * * *', since: at('2026-05-01T00:00:00Z') },
      from: '2026-05-01T00:00:20Z',
      to: '2026-05-01T01:59:20Z',
      tickMs: 60_000,
      runMs: 15 * 60_000,
    });
    for (let i = 1; i < runs.length; i++) expect(runs[i].start).toBeGreaterThanOrEqual(runs[i - 1].end);
    // Slots 00:10 … 01:50 (11 of them): every other one falls inside a 15-minute run.
    expect(runs.map(r => r.slot.slice(11, 16))).toEqual(['00:10', '00:30', '00:50', '01:10', '01:30', '01:50']);
    expect(missed).toBe(5);
  });

  it('hourly in Europe/Berlin across fall back: one run per distinct wall-clock hour, none doubled', () => {
    const { runs, missed } = simulate({
      schedule: { cron: '0 * * * *', timezone: 'Europe/Berlin', since: at('2026-10-24T22:30:00Z') },
      from: '2026-10-24T22:30:00Z',
      to: '2026-10-25T04:30:00Z',
      tickMs: 60_000,
      runMs: 5 * 60_000,
    });
    expect(runs.map(r => r.slot)).toEqual([
      '2026-10-24T23:00:00.000Z', // 01:00 CEST
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T02:00:00.000Z', // 03:00 CET (02:00 CET at 01:00Z repeats 02:00)
      '2026-10-25T03:00:00.000Z',
      '2026-10-25T04:00:00.000Z',
    ]);
    expect(missed).toBe(0);
  });

  it('one run per day across both DST changes (America/New_York, 01:30 daily)', () => {
    for (const [from, to, expected] of [
      ['2026-03-07T00:00:00Z', '2026-03-10T00:00:00Z', ['2026-03-07T06:30:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-09T05:30:00.000Z']],
      ['2026-10-31T00:00:00Z', '2026-11-03T00:00:00Z', ['2026-10-31T05:30:00.000Z', '2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']],
    ] as const) {
      const { runs, missed } = simulate({
        schedule: { cron: '30 1 * * *', timezone: 'America/New_York', since: at(from) },
        from,
        to,
        tickMs: 60_000,
        runMs: 5 * 60_000,
      });
      expect(runs.map(r => r.slot)).toEqual(expected);
      expect(missed).toBe(0);
    }
  });
});

describe('dueAmong', () => {
  it('picks the policies with something to decide, and skips disabled and not-yet-due ones cheaply', () => {
    const now = at('2026-05-01T12:00:30Z');
    const policies = Array.from({ length: 200 }, (_, i) => ({
      id: `p${i}`,
      cron: i % 2 ? '0 * * * *' : '30 * * * *',
      timezone: i % 3 ? 'UTC' : 'Europe/Berlin',
      lastSlot: at(i % 2 ? '2026-05-01T11:00:00Z' : '2026-05-01T11:30:00Z'),
      since: at('2026-04-01T00:00:00Z'),
      enabled: i % 10 !== 0,
      runActive: i % 7 === 0,
    }));
    const { due, failed } = dueAmong(policies, now);
    expect(failed).toEqual([]);
    const expectedIds = policies.filter((p, i) => i % 2 === 1 && p.enabled).map(p => p.id);
    expect(due.map(d => d.policy.id)).toEqual(expectedIds);
    for (const { policy, decision } of due) {
      expect(decision.outcome).toBe(policy.runActive ? 'skippedActive' : 'run');
    }
    // A stored nextRunAt in the future short-circuits the cron work, even for a broken cron.
    const cached = [{ ...policies[1], cron: 'not a cron', nextRunAt: at('2026-05-01T13:00:00Z') }];
    expect(dueAmong(cached, now)).toEqual({ due: [], failed: [] });
  });

  it('hands back a stale stored nextRunAt so the caller can correct it', () => {
    const now = at('2026-05-01T12:10:00Z');
    const stale = { id: 's', cron: '0 * * * *', lastSlot: at('2026-05-01T12:00:00Z'), since: at('2026-04-01T00:00:00Z'), nextRunAt: at('2026-05-01T12:00:00Z') };
    const { due } = dueAmong([stale], now);
    expect(due.map(d => [d.policy.id, d.decision.outcome, iso(d.decision.nextRun)])).toEqual([
      ['s', 'notDue', '2026-05-01T13:00:00.000Z'],
    ]);
    // Without a stored next run there is nothing to correct, and nothing to report.
    expect(dueAmong([{ ...stale, nextRunAt: undefined }], now).due).toEqual([]);
  });

  it('isolates a policy whose stored cron or zone no longer parses', () => {
    const now = at('2026-05-01T12:00:30Z');
    const ok = { id: 'ok', cron: '0 * * * *', lastSlot: at('2026-05-01T11:00:00Z'), since: at('2026-04-01T00:00:00Z') };
    const { due, failed } = dueAmong(
      [{ ...ok, id: 'bad-cron', cron: '0 25 * * *' }, { ...ok, id: 'bad-zone', timezone: 'Europe/Atlantis' }, ok],
      now,
    );
    expect(due.map(d => d.policy.id)).toEqual(['ok']);
    expect(failed.map(f => [f.policy.id, f.error.message])).toEqual([
      ['bad-cron', "cron: hour field '25' is out of range 0-23"],
      ['bad-zone', "timezone: unknown time zone 'Europe/Atlantis' (use an IANA name such as Europe/Berlin or UTC)"],
    ]);
  });
});

describe('schedule helpers', () => {
  it('nextSlotAfter and longestInterval', () => {
    expect(iso(nextSlotAfter('0 9 * * MON-FRI', 'UTC', at('2026-05-01T10:00:00Z')))).toBe('2026-05-04T09:00:00.000Z');
    expect(longestInterval('0 9 * * MON-FRI', 'UTC', at('2026-05-01T00:00:00Z'))).toBe(3 * 86_400_000);
    expect(longestInterval('@hourly', 'UTC', at('2026-05-01T00:00:00Z'))).toBe(3_600_000);
    // Across the fall-back change, hourly in Berlin has one 2-hour gap (the repeated hour is skipped).
    expect(longestInterval('@hourly', 'Europe/Berlin', at('2026-10-24T23:30:00Z'))).toBe(2 * 3_600_000);
    expect(defaultStaleAfterMs('@daily', 'UTC', at('2026-05-01T00:00:00Z'))).toBe(2 * 86_400_000);
    expect(defaultStaleAfterMs('0 9 * * MON-FRI', 'UTC', at('2026-05-01T00:00:00Z'))).toBe(6 * 86_400_000);
    expect(defaultStaleAfterMs('0 0 29 2 *', 'UTC', at('2026-05-01T00:00:00Z'))).toBe(2 * 1461 * 86_400_000);
    // 2096 to 2104: no 29 February in 2100.
    expect(iso(nextSlotAfter('0 0 29 2 *', 'UTC', at('2096-03-01T00:00:00Z')))).toBe('2104-02-29T00:00:00.000Z');
  });
});
