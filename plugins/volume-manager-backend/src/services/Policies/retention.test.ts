import { InputError } from '@backstage/errors';
import { DateTime } from 'luxon';
import { isoWeekOf, planRetention, type RetentionBackup, type RetentionRules } from './retention';

interface B extends RetentionBackup {}

const b = (id: string, at: string, extra: Partial<B> = {}): B => ({
  id,
  createdAt: new Date(at),
  status: 'succeeded',
  ...extra,
});

/** One backup a day at `time` UTC from `from` to `to` (inclusive), ids = the date. */
function daily(from: string, to: string, time = '03:00'): B[] {
  const out: B[] = [];
  for (let t = Date.parse(`${from}T${time}:00Z`); t <= Date.parse(`${to}T${time}:00Z`); t += 86_400_000) {
    const id = new Date(t).toISOString().slice(0, 10);
    out.push(b(id, new Date(t).toISOString()));
  }
  return out;
}

/** `id: kind[@bucket][!oldest], ...` for compact expectations. */
function summarize(plan: ReturnType<typeof planRetention<B>>) {
  return {
    keep: Object.fromEntries(
      plan.keep.map(k => [
        k.backup.id,
        k.reasons.map(r => `${r.kind}${r.bucket ? `@${r.bucket}` : ''}${r.oldest ? '!oldest' : ''}`),
      ]),
    ),
    remove: plan.remove.map(x => x.id),
    ignored: plan.ignored.map(x => x.id),
  };
}

const NOW = '2027-06-01T00:00:00Z';

interface Case {
  name: string;
  backups: B[];
  rules: RetentionRules | undefined;
  now?: string;
  timezone?: string;
  includeManual?: boolean;
  keep: Record<string, string[]>;
  remove: string[];
  ignored?: string[];
}

const cases: Case[] = [
  {
    name: 'keepLast 3 keeps the three newest',
    backups: daily('2026-03-01', '2026-03-05'),
    rules: { keepLast: 3 },
    keep: {
      '2026-03-05': ['keepLast', 'newestSucceeded'],
      '2026-03-04': ['keepLast'],
      '2026-03-03': ['keepLast'],
    },
    remove: ['2026-03-02', '2026-03-01'],
  },
  {
    name: 'keepDaily 4 across a month boundary keeps the newest backup of each of the 4 newest days',
    backups: [...daily('2026-01-29', '2026-02-02', '02:00'), ...daily('2026-01-29', '2026-02-02', '14:00')].map(
      x => ({ ...x, id: x.createdAt.toISOString().slice(5, 13) }),
    ),
    rules: { keepDaily: 4 },
    keep: {
      '02-02T14': ['keepDaily@2026-02-02', 'newestSucceeded'],
      '02-01T14': ['keepDaily@2026-02-01'],
      '01-31T14': ['keepDaily@2026-01-31'],
      '01-30T14': ['keepDaily@2026-01-30'],
    },
    remove: ['02-02T02', '02-01T02', '01-31T02', '01-30T02', '01-29T14', '01-29T02'],
  },
  {
    name: 'keepDaily with count left also keeps the oldest backup (restic 0.17)',
    backups: [...daily('2026-01-31', '2026-02-02', '02:00'), ...daily('2026-01-31', '2026-02-02', '14:00')].map(
      x => ({ ...x, id: x.createdAt.toISOString().slice(5, 13) }),
    ),
    rules: { keepDaily: 5 },
    keep: {
      '02-02T14': ['keepDaily@2026-02-02', 'newestSucceeded'],
      '02-01T14': ['keepDaily@2026-02-01'],
      '01-31T14': ['keepDaily@2026-01-31'],
      '01-31T02': ['keepDaily@2026-01-31!oldest'],
    },
    remove: ['02-02T02', '02-01T02'],
  },
  {
    // ISO weeks: 28 Dec 2026 (Mon) - 3 Jan 2027 (Sun) is 2026-W53; 4-10 Jan 2027 is 2027-W01.
    name: 'keepWeekly 3 across a year boundary uses Monday-Sunday ISO weeks and the ISO week-year',
    backups: daily('2026-12-19', '2027-01-06'),
    rules: { keepWeekly: 3 },
    keep: {
      '2027-01-06': ['keepWeekly@2027-W01', 'newestSucceeded'],
      '2027-01-03': ['keepWeekly@2026-W53'],
      '2026-12-27': ['keepWeekly@2026-W52'],
    },
    remove: [
      '2027-01-05', '2027-01-04', '2027-01-02', '2027-01-01', '2026-12-31', '2026-12-30',
      '2026-12-29', '2026-12-28', '2026-12-26', '2026-12-25', '2026-12-24', '2026-12-23',
      '2026-12-22', '2026-12-21', '2026-12-20', '2026-12-19',
    ],
  },
  {
    name: 'keepMonthly 2 keeps the last backup of each of the two newest months with backups',
    backups: [
      b('oct-15', '2026-10-15T03:00:00Z'),
      b('oct-31', '2026-10-31T03:00:00Z'),
      b('dec-01', '2026-12-01T03:00:00Z'),
      b('dec-15', '2026-12-15T03:00:00Z'),
    ],
    rules: { keepMonthly: 2 },
    // November has no backup: it does not count, so October is the second month.
    keep: { 'dec-15': ['keepMonthly@2026-12', 'newestSucceeded'], 'oct-31': ['keepMonthly@2026-10'] },
    remove: ['dec-01', 'oct-15'],
  },
  {
    name: 'keepYearly 2 keeps the last backup of each of the two newest years',
    backups: [
      b('2024-12', '2024-12-31T23:00:00Z'),
      b('2025-06', '2025-06-01T00:00:00Z'),
      b('2025-12', '2025-12-31T23:59:00Z'),
      b('2026-01', '2026-01-01T00:00:00Z'),
    ],
    rules: { keepYearly: 2 },
    keep: { '2026-01': ['keepYearly@2026', 'newestSucceeded'], '2025-12': ['keepYearly@2025'] },
    remove: ['2025-06', '2024-12'],
  },
  {
    name: 'keepWithin 2d is relative to the newest backup, not to now, and excludes the exact boundary',
    backups: [
      b('newest', '2026-06-10T12:00:00Z'),
      b('1d', '2026-06-09T12:00:00Z'),
      b('2d-1s', '2026-06-08T12:00:01Z'),
      b('2d', '2026-06-08T12:00:00Z'),
      b('9d', '2026-06-01T12:00:00Z'),
    ],
    rules: { keepWithin: '2d' },
    now: '2026-09-01T00:00:00Z',
    keep: { newest: ['keepWithin', 'newestSucceeded'], '1d': ['keepWithin'], '2d-1s': ['keepWithin'] },
    remove: ['2d', '9d'],
  },
  {
    name: 'keepWithin 1y6m uses calendar months',
    backups: [b('now', '2026-08-31T00:00:00Z'), b('17m', '2025-03-31T00:00:00Z'), b('19m', '2025-01-31T00:00:00Z')],
    rules: { keepWithin: '1y6m' },
    now: '2026-09-01T00:00:00Z',
    keep: { now: ['keepWithin', 'newestSucceeded'], '17m': ['keepWithin'] },
    remove: ['19m'],
  },
  {
    name: 'keepWithin takes its reference from the newest backup that is not in the future',
    backups: [
      b('future', '2026-06-02T00:00:00Z'),
      b('latest', '2026-05-31T23:00:00Z'),
      b('30h', '2026-05-30T17:00:00Z'),
    ],
    rules: { keepWithin: '1d' },
    now: '2026-06-01T00:00:00Z',
    keep: { future: ['keepWithin', 'newestSucceeded'], latest: ['keepWithin'] },
    remove: ['30h'],
  },
  {
    name: 'reasons are a union: every rule that keeps a backup is listed',
    backups: [
      b('a', '2026-12-31T22:00:00Z'),
      b('b', '2026-12-31T21:00:00Z'),
      b('c', '2026-12-30T10:00:00Z'),
      b('d', '2026-11-15T10:00:00Z'),
      b('e', '2026-11-01T10:00:00Z'),
    ],
    rules: { keepLast: 1, keepHourly: 2, keepDaily: 2, keepMonthly: 2, keepWithin: '1d' },
    keep: {
      a: ['keepWithin', 'keepLast', 'keepHourly@2026-12-31T22', 'keepDaily@2026-12-31', 'keepMonthly@2026-12', 'newestSucceeded'],
      b: ['keepWithin', 'keepHourly@2026-12-31T21'],
      c: ['keepDaily@2026-12-30'],
      d: ['keepMonthly@2026-11'],
    },
    remove: ['e'],
  },
  {
    name: 'pinned backups are kept and do not take a rule slot',
    backups: [
      b('new', '2026-05-03T00:00:00Z'),
      b('pinned', '2026-05-02T00:00:00Z', { pinned: true }),
      b('mid', '2026-05-01T00:00:00Z'),
      b('old', '2026-04-30T00:00:00Z'),
    ],
    rules: { keepLast: 2 },
    keep: { new: ['keepLast', 'newestSucceeded'], pinned: ['pinned'], mid: ['keepLast'] },
    remove: ['old'],
  },
  {
    name: 'manual backups are exempt by default: kept, not counted',
    backups: [
      b('manual', '2026-05-03T12:00:00Z', { manual: true }),
      b('sched-3', '2026-05-03T02:00:00Z'),
      b('sched-2', '2026-05-02T02:00:00Z'),
      b('sched-1', '2026-05-01T02:00:00Z'),
    ],
    rules: { keepDaily: 2 },
    keep: {
      manual: ['manual', 'newestSucceeded'],
      'sched-3': ['keepDaily@2026-05-03'],
      'sched-2': ['keepDaily@2026-05-02'],
    },
    remove: ['sched-1'],
  },
  {
    name: 'includeManual lets the rules count and remove manual backups',
    backups: [
      b('manual', '2026-05-03T12:00:00Z', { manual: true }),
      b('sched-3', '2026-05-03T02:00:00Z'),
      b('sched-2', '2026-05-02T02:00:00Z'),
      b('sched-1', '2026-05-01T02:00:00Z'),
    ],
    rules: { keepDaily: 2 },
    includeManual: true,
    keep: { manual: ['keepDaily@2026-05-03', 'newestSucceeded'], 'sched-2': ['keepDaily@2026-05-02'] },
    remove: ['sched-3', 'sched-1'],
  },
  {
    name: 'the newest succeeded backup is kept even when a newer run failed, and failed runs are never removed',
    backups: [
      b('failed', '2026-05-04T00:00:00Z', { status: 'failed' }),
      b('running', '2026-05-04T01:00:00Z', { status: 'running' }),
      b('ok-2', '2026-05-03T00:00:00Z', { manual: true }),
      b('ok-1', '2026-05-02T00:00:00Z'),
      b('ok-0', '2026-05-01T00:00:00Z'),
    ],
    rules: { keepLast: 1 },
    keep: { 'ok-2': ['manual', 'newestSucceeded'], 'ok-1': ['keepLast'] },
    remove: ['ok-0'],
    ignored: ['running', 'failed'],
  },
  {
    name: 'failed backups neither count toward keepLast nor are kept by it',
    backups: [
      b('s4', '2026-05-04T00:00:00Z'),
      b('f3', '2026-05-03T00:00:00Z', { status: 'failed' }),
      b('i2', '2026-05-02T00:00:00Z', { status: 'interrupted' }),
      b('s1', '2026-05-01T00:00:00Z'),
      b('s0', '2026-04-30T00:00:00Z'),
    ],
    rules: { keepLast: 2 },
    keep: { s4: ['keepLast', 'newestSucceeded'], s1: ['keepLast'] },
    remove: ['s0'],
    ignored: ['f3', 'i2'],
  },
  {
    name: 'empty rules keep everything (no hidden default)',
    backups: daily('2026-03-01', '2026-03-03'),
    rules: {},
    keep: {
      '2026-03-03': ['noRules', 'newestSucceeded'],
      '2026-03-02': ['noRules'],
      '2026-03-01': ['noRules'],
    },
    remove: [],
  },
  {
    name: 'all-zero rules are empty rules',
    backups: daily('2026-03-01', '2026-03-02'),
    rules: { keepLast: 0, keepDaily: 0 },
    keep: { '2026-03-02': ['noRules', 'newestSucceeded'], '2026-03-01': ['noRules'] },
    remove: [],
  },
  {
    name: 'calendar buckets are taken in the policy time zone',
    backups: [
      b('00:30-berlin-jul-1', '2026-06-30T22:30:00Z'),
      b('23:30-berlin-jun-30', '2026-06-30T21:30:00Z'),
      b('12:00-berlin-jun-30', '2026-06-30T10:00:00Z'),
    ],
    rules: { keepDaily: 2 },
    timezone: 'Europe/Berlin',
    keep: {
      '00:30-berlin-jul-1': ['keepDaily@2026-07-01', 'newestSucceeded'],
      '23:30-berlin-jun-30': ['keepDaily@2026-06-30'],
    },
    remove: ['12:00-berlin-jun-30'],
  },
  {
    name: 'the same backups in UTC fall on one day',
    backups: [
      b('00:30-berlin-jul-1', '2026-06-30T22:30:00Z'),
      b('23:30-berlin-jun-30', '2026-06-30T21:30:00Z'),
      b('12:00-berlin-jun-30', '2026-06-30T10:00:00Z'),
    ],
    rules: { keepDaily: 2 },
    keep: {
      '00:30-berlin-jul-1': ['keepDaily@2026-06-30', 'newestSucceeded'],
      '12:00-berlin-jun-30': ['keepDaily@2026-06-30!oldest'],
    },
    remove: ['23:30-berlin-jun-30'],
  },
  {
    name: 'no backups, no plan',
    backups: [],
    rules: { keepLast: 3 },
    keep: {},
    remove: [],
  },
];

describe('planRetention (restic forget semantics)', () => {
  it.each(cases)('$name', c => {
    const shuffled = [...c.backups].reverse();
    const plan = planRetention(shuffled, c.rules, new Date(c.now ?? NOW), {
      timezone: c.timezone,
      includeManual: c.includeManual,
    });
    expect(summarize(plan)).toEqual({ keep: c.keep, remove: c.remove, ignored: c.ignored ?? [] });
    // Keep order is newest first.
    const times = plan.keep.map(k => k.backup.createdAt.getTime());
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  it('rejects bad counts and durations naming the field', () => {
    const list = daily('2026-03-01', '2026-03-02');
    expect(() => planRetention(list, { keepDaily: -1 }, new Date())).toThrow(
      'retention.keepDaily: must be a non-negative integer',
    );
    expect(() => planRetention(list, { keepLast: 1.5 }, new Date())).toThrow(InputError);
    expect(() => planRetention(list, { keepWithin: '7x' }, new Date())).toThrow('keepWithin: must be a duration');
    expect(() => planRetention([...list, list[0]], { keepLast: 1 }, new Date())).toThrow('backup 2026-03-01 appears twice');
    expect(() => planRetention(list, { keepLast: 1 }, new Date('never'))).toThrow('now must be a valid date');
    expect(() => planRetention([b('x', 'not a date')], { keepLast: 1 }, new Date())).toThrow('backup x has no valid createdAt');
    expect(() => planRetention(list, {}, new Date(), { timezone: 'Atlantis/Capital' })).toThrow(
      "timezone: unknown time zone 'Atlantis/Capital'",
    );
  });

  it('holds its invariants on random histories', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const statuses = ['succeeded', 'succeeded', 'succeeded', 'failed', 'interrupted', 'running'];
    for (let round = 0; round < 300; round++) {
      const backups: B[] = Array.from({ length: rand(40) }, (_, i) =>
        b(`b${i}`, new Date(Date.UTC(2026, 0, 1) + rand(400 * 24) * 3_600_000 + i * 1000).toISOString(), {
          status: statuses[rand(statuses.length)],
          pinned: rand(10) === 0,
          manual: rand(5) === 0,
        }),
      );
      const rules: RetentionRules = {
        keepLast: rand(3),
        keepHourly: rand(3),
        keepDaily: rand(4),
        keepWeekly: rand(3),
        keepMonthly: rand(3),
        keepYearly: rand(2),
        keepWithin: rand(3) === 0 ? `${1 + rand(20)}d` : undefined,
      };
      const timezone = rand(2) ? 'America/New_York' : 'UTC';
      const plan = planRetention(backups, rules, new Date('2027-03-01T00:00:00Z'), { timezone });
      const kept = new Set(plan.keep.map(k => k.backup));
      const removed = new Set(plan.remove);
      // A partition of the input.
      expect(kept.size + removed.size + plan.ignored.length).toBe(backups.length);
      const violations = backups.flatMap(x => {
        const where = [kept.has(x), removed.has(x), plan.ignored.includes(x)].filter(Boolean).length;
        const problems: string[] = [];
        if (where !== 1) problems.push(`${x.id} is in ${where} lists`);
        if (x.status !== 'succeeded' && !plan.ignored.includes(x)) problems.push(`${x.id} (${x.status}) not ignored`);
        if (x.status === 'succeeded' && (x.pinned || x.manual) && !kept.has(x)) problems.push(`${x.id} exempt but not kept`);
        return problems;
      });
      const newest = backups
        .filter(x => x.status === 'succeeded')
        .reduce<B | undefined>((m, x) => (!m || x.createdAt > m.createdAt ? x : m), undefined);
      if (newest && removed.has(newest)) violations.push(`newest succeeded ${newest.id} removed`);
      expect(violations).toEqual([]);
      // Deterministic whatever the input order.
      const again = planRetention([...backups].reverse(), rules, new Date('2027-03-01T00:00:00Z'), { timezone });
      expect(again.remove.map(x => x.id).sort()).toEqual(plan.remove.map(x => x.id).sort());
      // Idempotent: planning again over what survived removes nothing (a sweep converges, and an
      // interrupted sweep that is re-run deletes no further backup).
      const survivors = backups.filter(x => !removed.has(x));
      const rerun = planRetention(survivors, rules, new Date('2027-03-01T00:00:00Z'), { timezone });
      expect(rerun.remove.map(x => x.id)).toEqual([]);
      // An interrupted sweep (only some deletions done) converges: the re-plan removes exactly the rest.
      const done = new Set(plan.remove.filter(() => rand(2) === 0));
      const resumed = planRetention(backups.filter(x => !done.has(x)), rules, new Date('2027-03-01T00:00:00Z'), { timezone });
      expect(resumed.remove.map(x => x.id)).toEqual(plan.remove.filter(x => !done.has(x)).map(x => x.id));
    }
  });
});

describe('calendar buckets', () => {
  it('ISO weeks agree with luxon for every day of 1999-2040', () => {
    const mismatches: string[] = [];
    for (let t = Date.UTC(1999, 0, 1); t < Date.UTC(2040, 0, 1); t += 86_400_000) {
      const ours = isoWeekOf(new Date(t));
      const theirs = DateTime.fromMillis(t, { zone: 'UTC' });
      if (ours.weekYear !== theirs.weekYear || ours.week !== theirs.weekNumber) mismatches.push(new Date(t).toISOString());
    }
    expect(mismatches).toEqual([]);
  });

  it.each(['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe'])(
    'bucket keys are the wall-clock calendar of %s (checked against luxon, incl. DST days)',
    zone => {
      // Hourly backups through both 2026 DST changes of the northern and southern hemispheres.
      const times = [Date.UTC(2026, 2, 27), Date.UTC(2026, 3, 3), Date.UTC(2026, 9, 2), Date.UTC(2026, 9, 23), Date.UTC(2026, 11, 30)]
        .flatMap(start => Array.from({ length: 4 * 24 }, (_, h) => start + h * 3_600_000 + 17 * 60_000));
      const backups = times.map((t, i) => b(`b${i}`, new Date(t).toISOString()));
      const plan = planRetention(backups, { keepHourly: 100_000, keepDaily: 100_000, keepWeekly: 100_000, keepMonthly: 100_000, keepYearly: 100_000 }, new Date('2027-01-01T00:00:00Z'), { timezone: zone });
      const mismatches: string[] = [];
      for (const { backup, reasons } of plan.keep) {
        const t = DateTime.fromMillis(backup.createdAt.getTime(), { zone });
        const expected: Record<string, string> = {
          keepHourly: t.toFormat("yyyy-MM-dd'T'HH"),
          keepDaily: t.toFormat('yyyy-MM-dd'),
          keepWeekly: `${t.weekYear}-W${String(t.weekNumber).padStart(2, '0')}`,
          keepMonthly: t.toFormat('yyyy-MM'),
          keepYearly: t.toFormat('yyyy'),
        };
        for (const r of reasons) {
          if (r.bucket && r.bucket !== expected[r.kind]) mismatches.push(`${backup.id} ${r.kind} ${r.bucket} != ${expected[r.kind]}`);
        }
      }
      expect(mismatches).toEqual([]);
      // Every distinct local hour produced exactly one hourly keep.
      const hours = new Set(backups.map(x => DateTime.fromMillis(x.createdAt.getTime(), { zone }).toFormat("yyyy-MM-dd'T'HH")));
      expect(plan.keep.filter(k => k.reasons.some(r => r.kind === 'keepHourly' && !r.oldest))).toHaveLength(hours.size);
    },
  );
});
