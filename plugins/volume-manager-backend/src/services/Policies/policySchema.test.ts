import { InputError } from '@backstage/errors';
import { parsePolicySettings } from './policySchema';
import { parseCalendarDuration, parseRunDuration } from './durations';

const base = { cron: '@daily', destination: 'local' };

describe('parsePolicySettings', () => {
  it('applies the documented defaults and nothing hidden', () => {
    expect(parsePolicySettings(base)).toEqual({
      cron: '@daily',
      timezone: 'UTC',
      destination: 'local',
      retention: {},
      catchUp: 'one',
      enabled: true,
      includeManual: false,
    });
  });

  it('accepts a full body and canonicalizes the time zone', () => {
    const parsed = parsePolicySettings({
      ...base,
      cron: '@weekly-random',
      timezone: 'europe/berlin',
      retention: { keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 12, keepYearly: 2, keepHourly: 0, keepWithin: '1y6m' },
      catchUp: 'none',
      maxDuration: 'PT1H30M',
      enabled: false,
      includeManual: true,
    });
    expect(parsed.timezone).toBe('Europe/Berlin');
    expect(parsed.cron).toBe('@weekly-random');
    expect(parsePolicySettings({ ...base, cron: '  30 2 * * MON-FRI \t' }).cron).toBe('30 2 * * MON-FRI');
    expect(parsed.retention.keepWithin).toBe('1y6m');
  });

  it.each([
    [{ cron: '61 * * * *' }, "cron: minute field '61' is out of range 0-59"],
    [{ cron: '@sometimes' }, "cron: unknown preset '@sometimes'"],
    [{ cron: 5 }, 'cron: Expected string, received number'],
    [{ timezone: 'Mars/Olympus_Mons' }, "timezone: unknown time zone 'Mars/Olympus_Mons'"],
    [{ retention: { keepDaily: -1 } }, 'retention.keepDaily: must be a non-negative integer'],
    [{ retention: { keepLast: 2.5 } }, 'retention.keepLast: must be a non-negative integer'],
    [{ retention: { keepWeekly: '3' } }, 'retention.keepWeekly: must be a non-negative integer'],
    [{ retention: { keepMonthly: 1e9 } }, 'retention.keepMonthly: must be at most 100000'],
    [{ retention: { keepWithin: '7x' } }, 'retention.keepWithin: must be a duration such as 7d, 2w or 1y6m'],
    [{ retention: { keepWithin: '0d' } }, 'retention.keepWithin: must be longer than zero'],
    [{ retention: { keepDayly: 3 } }, "retention: Unrecognized key(s) in object: 'keepDayly'"],
    [{ catchUp: 'all' }, "catchUp: Invalid enum value. Expected 'none' | 'one'"],
    [{ maxDuration: 'P1M' }, 'maxDuration: years and months are not allowed'],
    [{ maxDuration: 'PT0S' }, 'maxDuration: must be at least 1 second'],
    [{ maxDuration: '8d' }, 'maxDuration: must be at most 7 days'],
    [{ maxDuration: 'soon' }, 'maxDuration: must be an ISO-8601 duration'],
    [{ destination: '' }, 'destination: String must contain at least 1 character(s)'],
    [{ password: 'hunter2' }, "Unrecognized key(s) in object: 'password'"],
  ])('rejects %j naming the field', (patch, message) => {
    expect(() => parsePolicySettings({ ...base, ...patch })).toThrow(InputError);
    expect(() => parsePolicySettings({ ...base, ...patch })).toThrow(message);
  });

  it.each([
    [{ cron: '0 0 * __proto__ *' }, "cron: month field '__proto__' is not a number"],
    [{ cron: '0 0 * * constructor' }, "cron: day-of-week field 'constructor' is not a number"],
    [{ cron: '@__proto__' }, "cron: unknown preset '@__proto__'"],
    [{ cron: '@constructor' }, "cron: unknown preset '@constructor'"],
    [{ cron: '0 0 * * *; rm -rf /' }, 'cron: expected 5 fields'],
    [{ cron: '0\n0 * * *\u0000' }, 'cron: day-of-week field'],
    [{ timezone: '../../../etc/localtime' }, "timezone: unknown time zone '../../../etc/localtime'"],
    [{ timezone: '/usr/share/zoneinfo/UTC' }, 'timezone: unknown time zone'],
    [{ timezone: 'UTC\u0000' }, 'timezone: unknown time zone'],
    [{ retention: { keepWithin: `${'9'.repeat(60)}d` } }, 'retention.keepWithin: must be a duration'],
    [{ retention: { keepWithin: '1d'.repeat(32) } }, 'retention.keepWithin: must be a duration'],
    [{ retention: JSON.parse('{"__proto__": {"polluted": 1}}') }, "retention: Unrecognized key(s) in object: '__proto__'"],
  ])('hostile input %j is refused cleanly', (patch, message) => {
    // Bodies arrive through JSON.parse, which makes `__proto__` an own key: refused as unknown.
    expect(() => parsePolicySettings({ ...base, ...patch })).toThrow(message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports every bad field at once', () => {
    expect(() => parsePolicySettings({ ...base, cron: '* * *', retention: { keepLast: -2 } })).toThrow(
      /cron: expected 5 fields.*; retention\.keepLast: must be a non-negative integer/,
    );
  });

  it('refuses a non-object body and an oversized field without echoing it whole', () => {
    expect(() => parsePolicySettings(null)).toThrow('Invalid policy: policy: Expected object, received null');
    const huge = 'x'.repeat(100_000);
    let message = '';
    try {
      parsePolicySettings({ ...base, timezone: huge });
    } catch (error) {
      message = error.message;
    }
    expect(message).toContain('timezone: String must contain at most 64 character(s)');
    expect(message.length).toBeLessThan(300);
  });
});

describe('durations', () => {
  it.each([
    ['7d', { years: 0, months: 0, weeks: 0, days: 7, hours: 0 }],
    ['2w', { years: 0, months: 0, weeks: 2, days: 0, hours: 0 }],
    ['1y6m', { years: 1, months: 6, weeks: 0, days: 0, hours: 0 }],
    ['2h1y', { years: 1, months: 0, weeks: 0, days: 0, hours: 2 }],
  ])('keepWithin %s', (text, expected) => {
    expect(parseCalendarDuration(text)).toEqual(expected);
  });

  it.each(['', '7', 'd7', '7d7d', '1.5d', '7D', '7d ', '-7d', '1y6m!', '999999d'])('keepWithin rejects %j', text => {
    expect(() => parseCalendarDuration(text)).toThrow(InputError);
  });

  it.each([
    ['30m', 30 * 60_000],
    ['1h30m', 90 * 60_000],
    ['90s', 90_000],
    ['1d', 86_400_000],
    ['PT30M', 30 * 60_000],
    ['PT1H30M', 90 * 60_000],
    ['P1D', 86_400_000],
    ['P1W', 7 * 86_400_000],
    ['P1DT2H', 26 * 3_600_000],
  ])('maxDuration %s', (text, ms) => {
    expect(parseRunDuration(text)).toBe(ms);
  });

  it.each(['P', 'PT', 'P1DT', 'P1Y', 'PT1.5H', '30', 'm30', '1h 30m', '0m', 'P2W'])('maxDuration rejects %j', text => {
    expect(() => parseRunDuration(text)).toThrow(InputError);
  });
});
