import { InputError } from '@backstage/errors';
import { isRandomPreset, nextRuns, parseCron, resolveCron, validateCronSpec } from './cron';
import { DateTime, IANAZone } from 'luxon';
import { normalizeTimezone, ZoneClock } from './timezone';

const iso = (dates: Date[]) => dates.map(d => d.toISOString());
const at = (s: string) => new Date(s);

describe('parseCron', () => {
  it.each([
    ['61 * * * *', "cron: minute field '61' is out of range 0-59"],
    ['0 24 * * *', "cron: hour field '24' is out of range 0-23"],
    ['0 0 0 * *', "cron: day-of-month field '0' is out of range 1-31"],
    ['0 0 32 * *', "cron: day-of-month field '32' is out of range 1-31"],
    ['0 0 * 13 *', "cron: month field '13' is out of range 1-12"],
    ['0 0 * * 8', "cron: day-of-week field '8' is out of range 0-7"],
    ['0 0 * FOO *', "cron: month field 'FOO' is not a number"],
    ['0-61 * * * *', "cron: minute field '61' is out of range 0-59"],
    ['5-2 * * * *', "cron: minute field '5-2' is a backwards range (5 > 2)"],
    ['*/0 * * * *', "cron: minute field '*/0' needs a positive step after '/'"],
    ['*/61 * * * *', "cron: minute field '*/61' has a step larger than the range 0-59"],
    ['1,,2 * * * *', "cron: minute field '1,,2' has an empty list item"],
    ['1/2/3 * * * *', "cron: minute field '1/2/3' has more than one '/'"],
    ['-1 * * * *', "cron: minute field '-1' is not a valid range"],
    ['* * * *', 'cron: expected 5 fields (minute hour day-of-month month day-of-week) or a preset such as @daily, got 4'],
    ['0 * * * * *', 'cron: expected 5 fields (minute hour day-of-month month day-of-week) or a preset such as @daily, got 6'],
    ['', 'cron: expression is empty'],
    ['@often', "cron: unknown preset '@often'"],
    ['@daily-random', "cron: '@daily-random' must be resolved to a concrete schedule"],
    ['0 0 30 2 *', "cron: day-of-month field '30' never occurs in month field '2'"],
    ['0 0 31 4,6,9,11 *', "cron: day-of-month field '31' never occurs in month field '4,6,9,11'"],
    [`${'1,'.repeat(200)}1 * * * *`, 'cron: expression is longer than 256 characters'],
  ])('rejects %j naming the field', (expression, message) => {
    expect(() => parseCron(expression)).toThrow(InputError);
    expect(() => parseCron(expression)).toThrow(message);
  });

  it('parses ranges, lists, steps and names', () => {
    const c = parseCron('1-10/3,30 */6 1,15 JAN-mar mon-FRI');
    const on = (set: readonly boolean[]) => set.flatMap((v, i) => (v ? [i] : []));
    expect(on(c.minutes)).toEqual([1, 4, 7, 10, 30]);
    expect(on(c.hours)).toEqual([0, 6, 12, 18]);
    expect(on(c.daysOfMonth)).toEqual([1, 15]);
    expect(on(c.months)).toEqual([1, 2, 3]);
    expect(on(c.daysOfWeek)).toEqual([1, 2, 3, 4, 5]);
    expect(c.domRestricted && c.dowRestricted).toBe(true);
    expect(on(parseCron('0 0 * * 7').daysOfWeek)).toEqual([0]);
    expect(on(parseCron('5/20 * * * *').minutes)).toEqual([5, 25, 45]);
  });

  it('expands presets, in any letter case', () => {
    expect(parseCron('@hourly').expression).toBe('0 * * * *');
    expect(parseCron('@DAILY').expression).toBe('0 0 * * *');
    expect(parseCron('@weekly').expression).toBe('0 0 * * 0');
    expect(parseCron('@monthly').expression).toBe('0 0 1 * *');
    expect(parseCron('@yearly').expression).toBe('0 0 1 1 *');
    expect(parseCron('  0   3 * * *  ').expression).toBe('0 3 * * *');
  });

  it('accepts -random presets as a stored spec but not as a runnable expression', () => {
    expect(() => validateCronSpec('@weekly-random')).not.toThrow();
    expect(isRandomPreset('@Monthly-Random')).toBe(true);
    expect(() => validateCronSpec('@weekly-randomly')).toThrow("cron: unknown preset '@weekly-randomly'");
    expect(() => validateCronSpec('99 * * * *')).toThrow("minute field '99'");
  });
});

describe('nextRuns in UTC', () => {
  it.each([
    ['@hourly', '2026-01-01T10:15:00Z', ['2026-01-01T11:00:00.000Z', '2026-01-01T12:00:00.000Z']],
    ['@daily', '2026-12-31T23:59:59Z', ['2027-01-01T00:00:00.000Z', '2027-01-02T00:00:00.000Z']],
    ['@weekly', '2026-12-02T00:00:00Z', ['2026-12-06T00:00:00.000Z', '2026-12-13T00:00:00.000Z']],
    ['@monthly', '2026-01-31T12:00:00Z', ['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']],
    ['@yearly', '2026-06-01T00:00:00Z', ['2027-01-01T00:00:00.000Z', '2028-01-01T00:00:00.000Z']],
    // Strictly after: a run exactly at `after` is not repeated.
    ['0 12 * * *', '2026-03-01T12:00:00Z', ['2026-03-02T12:00:00.000Z', '2026-03-03T12:00:00.000Z']],
    // 29 February only: leap years.
    ['0 0 29 2 *', '2026-01-01T00:00:00Z', ['2028-02-29T00:00:00.000Z', '2032-02-29T00:00:00.000Z']],
    // Both day fields restricted: either matches (1st of the month OR a Monday).
    ['0 0 1 * MON', '2026-05-29T00:00:00Z', ['2026-06-01T00:00:00.000Z', '2026-06-08T00:00:00.000Z']],
    // Day-of-week restricted, day-of-month starred with a step: both must match (Vixie).
    ['0 0 */2 * MON', '2026-06-01T00:00:00Z', ['2026-06-15T00:00:00.000Z', '2026-06-29T00:00:00.000Z']],
    ['*/20 * * * *', '2026-01-01T00:59:00Z', ['2026-01-01T01:00:00.000Z', '2026-01-01T01:20:00.000Z']],
  ])('%s after %s', (expr, after, expected) => {
    expect(iso(nextRuns(expr, undefined, at(after), 2))).toEqual(expected);
  });

  it('returns nothing for count 0 and rejects an invalid date', () => {
    expect(nextRuns('@daily', 'UTC', at('2026-01-01T00:00:00Z'), 0)).toEqual([]);
    expect(() => nextRuns('@daily', 'UTC', new Date(Number.NaN), 1)).toThrow(InputError);
  });
});

describe('time zones', () => {
  it('validates and canonicalizes IANA names', () => {
    expect(normalizeTimezone(undefined)).toBe('UTC');
    expect(normalizeTimezone('europe/berlin')).toBe('Europe/Berlin');
    // The name the user chose is kept: no swap to ICU's legacy aliases.
    expect(normalizeTimezone('Asia/Kolkata')).toBe('Asia/Kolkata');
    expect(normalizeTimezone('Europe/Kyiv')).toBe('Europe/Kyiv');
    expect(normalizeTimezone('Etc/UTC')).toBe('Etc/UTC');
    expect(normalizeTimezone('utc')).toBe('UTC');
    expect(() => normalizeTimezone('Mars/Olympus_Mons')).toThrow(
      "timezone: unknown time zone 'Mars/Olympus_Mons'",
    );
    expect(() => normalizeTimezone('UTC+2')).toThrow(InputError);
    expect(() => nextRuns('@daily', 'Nowhere/City', new Date(), 1)).toThrow(
      "timezone: unknown time zone 'Nowhere/City'",
    );
  });

  it('runs at wall-clock time in the zone', () => {
    expect(iso(nextRuns('0 9 * * *', 'Asia/Kolkata', at('2026-07-01T00:00:00Z'), 1))).toEqual([
      '2026-07-01T03:30:00.000Z',
    ]);
  });

  // Europe/Berlin 2026: clocks jump 02:00 CET -> 03:00 CEST on 29 March (01:00Z) and fall back
  // 03:00 CEST -> 02:00 CET on 25 October (01:00Z).
  it('Europe/Berlin spring forward: a skipped 02:30 runs once at the jump (03:00 CEST)', () => {
    expect(iso(nextRuns('30 2 * * *', 'Europe/Berlin', at('2026-03-27T12:00:00Z'), 4))).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET
      '2026-03-29T01:00:00.000Z', // 02:30 does not exist: 03:00 CEST, the first valid instant after it
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  it('Europe/Berlin spring forward: every skipped slot collapses into one run', () => {
    expect(iso(nextRuns('*/15 2,3 * * *', 'Europe/Berlin', at('2026-03-29T00:50:00Z'), 3))).toEqual([
      '2026-03-29T01:00:00.000Z', // 02:00-02:45 skipped, and 03:00 itself: one run
      '2026-03-29T01:15:00.000Z', // 03:15 CEST
      '2026-03-29T01:30:00.000Z',
    ]);
  });

  it('Europe/Berlin fall back: a repeated 02:30 runs once, at its first occurrence', () => {
    expect(iso(nextRuns('30 2 * * *', 'Europe/Berlin', at('2026-10-24T12:00:00Z'), 3))).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST; the second 02:30 (CET, 01:30Z) does not run
      '2026-10-26T01:30:00.000Z', // 02:30 CET
      '2026-10-27T01:30:00.000Z',
    ]);
  });

  it('Europe/Berlin fall back: hourly runs skip the repeated hour instead of running it twice', () => {
    expect(iso(nextRuns('0 * * * *', 'Europe/Berlin', at('2026-10-24T23:30:00Z'), 4))).toEqual([
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T02:00:00.000Z', // 03:00 CET (02:00 CET at 01:00Z repeats 02:00: skipped)
      '2026-10-25T03:00:00.000Z',
      '2026-10-25T04:00:00.000Z',
    ]);
  });

  it('Europe/Berlin fall back: starting inside the repeated hour does not rerun its slots', () => {
    // 01:10Z is 02:10 CET, the second pass of 02:xx; 02:30 already ran at 00:30Z.
    expect(iso(nextRuns('30 2 * * *', 'Europe/Berlin', at('2026-10-25T01:10:00Z'), 1))).toEqual([
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  // America/New_York 2026: 02:00 EST -> 03:00 EDT on 8 March (07:00Z); 02:00 EDT -> 01:00 EST on
  // 1 November (06:00Z).
  it('America/New_York spring forward: 02:30 runs at 03:00 EDT', () => {
    expect(iso(nextRuns('30 2 * * *', 'America/New_York', at('2026-03-07T00:00:00Z'), 3))).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:00:00.000Z', // 03:00 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });

  it('America/New_York fall back: 01:30 runs once at 01:30 EDT', () => {
    expect(iso(nextRuns('30 1 * * *', 'America/New_York', at('2026-10-31T12:00:00Z'), 3))).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 01:30 EST (06:30Z) does not run
      '2026-11-02T06:30:00.000Z', // 01:30 EST
      '2026-11-03T06:30:00.000Z',
    ]);
  });

  it('America/New_York: runs outside the changed hour keep their wall-clock time across a change', () => {
    expect(iso(nextRuns('0 9 * * *', 'America/New_York', at('2026-10-31T00:00:00Z'), 3))).toEqual([
      '2026-10-31T13:00:00.000Z', // 09:00 EDT
      '2026-11-01T14:00:00.000Z', // 09:00 EST
      '2026-11-02T14:00:00.000Z',
    ]);
  });
});

describe('ZoneClock', () => {
  it.each(['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Chatham', 'Asia/Kathmandu', 'Pacific/Apia', 'America/Santiago'])(
    'its cached offsets agree with the tz database (every 29 minutes in 2026, and around 2011-12-30) in %s',
    zone => {
      const clock = new ZoneClock(zone);
      const tz = IANAZone.create(zone);
      const mismatches: string[] = [];
      for (const [from, to] of [[Date.UTC(2011, 11, 28), Date.UTC(2012, 0, 2)], [Date.UTC(2026, 0, 1), Date.UTC(2027, 0, 1)]]) {
        for (let t = from; t < to; t += 29 * 60_000) {
          if (clock.offset(t) !== tz.offset(t) * 60_000) mismatches.push(new Date(t).toISOString());
        }
      }
      expect(mismatches).toEqual([]);
    },
  );

  it('Pacific/Apia skipped 30 December 2011: that day\'s noon run happens at the jump, not never', () => {
    // 29 Dec 23:59:59 (UTC-10) was followed by 31 Dec 00:00 (UTC+14).
    expect(iso(nextRuns('0 12 * * *', 'Pacific/Apia', at('2011-12-29T12:00:00Z'), 3))).toEqual([
      '2011-12-29T22:00:00.000Z', // 29 Dec 12:00 (UTC-10)
      '2011-12-30T10:00:00.000Z', // 30 Dec did not exist: 31 Dec 00:00 (UTC+14)
      '2011-12-30T22:00:00.000Z', // 31 Dec 12:00 (UTC+14)
    ]);
  });

  it('Australia/Lord_Howe: a half-hour DST shift', () => {
    // 4 October 2026, 02:00 (+10:30) -> 02:30 (+11:00); 02:15 does not exist that day.
    expect(iso(nextRuns('15 2 * * *', 'Australia/Lord_Howe', at('2026-10-02T00:00:00Z'), 3))).toEqual([
      '2026-10-02T15:45:00.000Z', // 3 Oct 02:15 +10:30
      '2026-10-03T15:30:00.000Z', // 4 Oct: 02:30 +11:00, the jump
      '2026-10-04T15:15:00.000Z', // 5 Oct 02:15 +11:00
    ]);
  });
});

describe('resolveCron and -random presets', () => {
  const seeds = Array.from({ length: 3000 }, (_, i) => ({
    policyId: `policy-${i % 37}-${i}`,
    pvcKey: `prod/ns-${i % 11}/data-${i}`,
  }));

  it('returns concrete expressions unchanged (5-field form)', () => {
    expect(resolveCron('15 3 * * *', seeds[0])).toBe('15 3 * * *');
    expect(resolveCron('@daily', seeds[0])).toBe('0 0 * * *');
    expect(() => resolveCron('70 3 * * *', seeds[0])).toThrow("minute field '70'");
  });

  it('is stable for the same policy and PVC, and differs across PVCs', () => {
    const seed = { policyId: 'a1b2', pvcKey: 'c/ns/pvc' };
    const first = resolveCron('@daily-random', seed);
    expect(resolveCron('@Daily-Random', { ...seed })).toBe(first);
    expect(parseCron(first).expression).toBe(first);
    const distinct = new Set(seeds.slice(0, 50).map(s => resolveCron('@daily-random', s)));
    expect(distinct.size).toBeGreaterThan(40);
  });

  it('has the cadence of its preset', () => {
    const s = seeds[1];
    expect(resolveCron('@hourly-random', s)).toMatch(/^\d+ \* \* \* \*$/);
    expect(resolveCron('@daily-random', s)).toMatch(/^\d+ \d+ \* \* \*$/);
    expect(resolveCron('@weekly-random', s)).toMatch(/^\d+ \d+ \* \* \d$/);
    expect(resolveCron('@monthly-random', s)).toMatch(/^\d+ \d+ \d+ \* \*$/);
    expect(resolveCron('@yearly-random', s)).toMatch(/^\d+ \d+ \d+ \d+ \*$/);
  });

  it('reaches every value of every range (no k8up-style mod slip)', () => {
    const minutes = new Set<number>();
    const hours = new Set<number>();
    const weekdays = new Set<number>();
    const days = new Set<number>();
    const months = new Set<number>();
    for (const seed of seeds) {
      const [m, h, , , w] = resolveCron('@weekly-random', seed).split(' ').map(Number);
      const [, , d, mo] = resolveCron('@yearly-random', seed).split(' ').map(Number);
      minutes.add(m);
      hours.add(h);
      weekdays.add(w);
      days.add(d);
      months.add(mo);
    }
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
    expect(sorted(minutes)).toEqual(range(0, 59));
    expect(sorted(hours)).toEqual(range(0, 23));
    expect(sorted(weekdays)).toEqual(range(0, 6)); // Saturday (6) included
    expect(sorted(days)).toEqual(range(1, 28));
    expect(sorted(months)).toEqual(range(1, 12));
  });

  it('spreads PVCs roughly evenly over the day (no thundering herd)', () => {
    const perHour = new Array(24).fill(0);
    for (const seed of seeds) perHour[Number(resolveCron('@daily-random', seed).split(' ')[1])]++;
    // 3000 / 24 = 125 per hour on average.
    expect(Math.min(...perHour)).toBeGreaterThan(80);
    expect(Math.max(...perHour)).toBeLessThan(170);
  });
});

describe('nextRuns against a brute-force scan', () => {
  /**
   * An independent model of the documented semantics: walk every UTC minute, read the wall clock
   * with luxon, run when the wall-clock minute matches and has not been seen before (fall back),
   * or when the clock just jumped over a matching minute (spring forward).
   */
  function bruteForce(expr: string, walls: readonly number[], from: number): string[] {
    const c = parseCron(expr);
    const matches = (naive: number) => {
      const w = new Date(naive);
      const dom = c.daysOfMonth[w.getUTCDate()];
      const dow = c.daysOfWeek[w.getUTCDay()];
      const day = c.domRestricted && c.dowRestricted ? dom || dow : dom && dow;
      return c.minutes[w.getUTCMinutes()] && c.hours[w.getUTCHours()] && c.months[w.getUTCMonth() + 1] && day;
    };
    const out: string[] = [];
    let maxWall = walls[0];
    for (let i = 1; i < walls.length; i++) {
      const wall = walls[i];
      let run = false;
      for (let skipped = maxWall + 60_000; skipped < wall; skipped += 60_000) {
        if (matches(skipped)) run = true;
      }
      if (wall > maxWall && matches(wall)) run = true;
      if (run) out.push(new Date(from + i * 60_000).toISOString());
      maxWall = Math.max(maxWall, wall);
    }
    return out;
  }

  /** The wall-clock reading (as naive ms, read with luxon) of every UTC minute in [from, to]. */
  function wallClock(zone: string, from: number, to: number): number[] {
    const walls: number[] = [];
    for (let t = from; t <= to; t += 60_000) {
      const w = DateTime.fromMillis(t, { zone });
      walls.push(Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute));
    }
    return walls;
  }

  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const field = (min: number, max: number) => {
    switch (rand(5)) {
      case 0:
        return '*';
      case 1:
        return `*/${1 + rand(Math.min(20, max - min))}`;
      case 2: {
        const a = min + rand(max - min + 1);
        return `${a}-${a + rand(max - a + 1)}`;
      }
      case 3:
        return `${min + rand(max - min + 1)},${min + rand(max - min + 1)}`;
      default:
        return String(min + rand(max - min + 1));
    }
  };
  // Three days around each 2026 change of each zone.
  const windows: Array<[string, string]> = [
    ['Europe/Berlin', '2026-03-28T00:00:00Z'],
    ['Europe/Berlin', '2026-10-24T00:00:00Z'],
    ['America/New_York', '2026-03-07T00:00:00Z'],
    ['America/New_York', '2026-10-31T00:00:00Z'],
    ['Australia/Lord_Howe', '2026-04-04T00:00:00Z'],
    ['Australia/Lord_Howe', '2026-10-03T00:00:00Z'],
  ];

  it.each(windows)('agrees on 40 random expressions in %s from %s', (zone, start) => {
    const from = Date.parse(start);
    const to = from + 3 * 86_400_000;
    const walls = wallClock(zone, from, to);
    const disagreements: string[] = [];
    let runs = 0;
    for (let i = 0; i < 40; i++) {
      // Minutes and hours random; days kept broad so that runs fall inside the window.
      const expr = `${field(0, 59)} ${field(0, 23)} * * ${rand(3) ? '*' : field(0, 6)}`;
      const expected = bruteForce(expr, walls, from);
      runs += expected.length;
      const actual = iso(nextRuns(expr, zone, new Date(from), expected.length + 1)).filter(x => Date.parse(x) <= to);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) disagreements.push(expr);
    }
    expect(disagreements).toEqual([]);
    expect(runs).toBeGreaterThan(100);
  });
});

describe('day, month and weekday matching against a brute-force scan (UTC, 2027-2028)', () => {
  let seed = 99;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pickField = (min: number, max: number, names?: string[]) => {
    const v = () => min + rand(max - min + 1);
    const show = (n: number) => (names && rand(2) ? names[n - min] : String(n));
    switch (rand(6)) {
      case 0:
        return '*';
      case 1:
        return `*/${2 + rand(4)}`;
      case 2: {
        const a = v();
        return `${show(a)}-${show(a + rand(max - a + 1))}`;
      }
      case 3:
        return `${show(v())},${show(v())},${show(v())}`;
      case 4:
        return `${v()}/${1 + rand(5)}`;
      default:
        return show(v());
    }
  };
  const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
  const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

  it('agrees on 150 random expressions', () => {
    const from = Date.UTC(2027, 0, 1);
    const to = Date.UTC(2029, 0, 1);
    const disagreements: string[] = [];
    let checked = 0;
    while (checked < 150) {
      const expr = `${rand(60)} ${pickField(0, 23)} ${pickField(1, 31)} ${pickField(1, 12, MONTHS)} ${pickField(0, 6, DAYS)}`;
      let c;
      try {
        c = parseCron(expr);
      } catch {
        continue; // e.g. 31 in months without one: refused at parse time, tested elsewhere
      }
      checked++;
      const expected: string[] = [];
      for (let t = from; t < to; t += 3_600_000) {
        const d = new Date(t);
        const dom = c.daysOfMonth[d.getUTCDate()];
        const dow = c.daysOfWeek[d.getUTCDay()];
        const day = c.domRestricted && c.dowRestricted ? dom || dow : dom && dow;
        if (c.hours[d.getUTCHours()] && c.months[d.getUTCMonth() + 1] && day) {
          expected.push(new Date(t + c.minutes.indexOf(true) * 60_000).toISOString());
        }
      }
      const actual = iso(nextRuns(expr, 'UTC', new Date(from - 1), Math.min(expected.length + 1, 10_000))).filter(
        x => Date.parse(x) < to,
      );
      if (JSON.stringify(actual) !== JSON.stringify(expected.slice(0, 10_000))) disagreements.push(expr);
    }
    expect(disagreements).toEqual([]);
  });
});
