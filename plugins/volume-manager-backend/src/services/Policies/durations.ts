/*
 * The two duration notations a policy uses. They differ on purpose, each following its origin:
 * - keepWithin follows restic's `--keep-within`: calendar units y, m (MONTHS), w, d and h, as in
 *   `7d`, `2w`, `1y6m`, `1y5m7d2h`;
 * - maxDuration is a run's time limit: an ISO-8601 duration (`PT30M`, `PT1H30M`, `P1D`) or the
 *   short form h, m (MINUTES), s, as in `30m`, `1h30m`, `90s`.
 */
import { InputError } from '@backstage/errors';

/** A calendar duration as restic's keep-within takes it. */
export interface CalendarDuration {
  years: number;
  months: number;
  weeks: number;
  days: number;
  hours: number;
}

const CALENDAR_UNITS: Record<string, keyof CalendarDuration> = {
  y: 'years',
  m: 'months',
  w: 'weeks',
  d: 'days',
  h: 'hours',
};
const MAX_DURATION_TEXT = 64;
const MAX_UNIT_VALUE = 100_000;

/**
 * Parses a keep-within duration such as `7d`, `2w`, `1y6m` or `1y5m7d2h` (units in any order,
 * each at most once; `m` is months, as in restic). `field` names the field in errors.
 */
export function parseCalendarDuration(text: string, field = 'keepWithin'): CalendarDuration {
  const usage = `${field}: must be a duration such as 7d, 2w or 1y6m (units y, m = months, w, d, h)`;
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_DURATION_TEXT) {
    throw new InputError(usage);
  }
  const result: CalendarDuration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0 };
  const seen = new Set<string>();
  const re = /(\d+)([a-z])/gy;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const unit = CALENDAR_UNITS[m[2]];
    const value = Number(m[1]);
    if (!unit || seen.has(unit) || value > MAX_UNIT_VALUE) throw new InputError(usage);
    seen.add(unit);
    result[unit] = value;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length) throw new InputError(usage);
  if (Object.values(result).every(v => v === 0)) throw new InputError(`${field}: must be longer than zero`);
  return result;
}

/** The longest run time a policy may set. */
export const MAX_RUN_DURATION_MS = 7 * 24 * 3_600_000;

const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
const SHORT = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Parses a run time limit: ISO-8601 (`PT30M`, `PT1H30M`, `P1D`, `P1W`; years and months are
 * refused, their length varies) or the short form (`30m`, `1h30m`, `90s`, `1d`). Returns
 * milliseconds, at least one second and at most 7 days.
 */
export function parseRunDuration(text: string, field = 'maxDuration'): number {
  const usage = `${field}: must be an ISO-8601 duration such as PT30M or a short one such as 30m or 1h30m`;
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_DURATION_TEXT) {
    throw new InputError(usage);
  }
  let parts: Array<string | undefined>;
  let weeks: string | undefined;
  const iso = ISO.exec(text);
  if (iso && text !== 'P' && text !== 'PT' && !text.endsWith('T')) {
    weeks = iso[1];
    parts = iso.slice(2);
  } else {
    const short = SHORT.exec(text);
    if (!short || text === '') {
      if (/^P.*[YM]/.test(text) && !/T.*M$/.test(text)) {
        throw new InputError(`${field}: years and months are not allowed (their length varies); use days or weeks`);
      }
      throw new InputError(usage);
    }
    parts = short.slice(1);
  }
  const [d, h, m, s] = parts.map(v => Number(v ?? 0));
  const ms = (((Number(weeks ?? 0) * 7 + d) * 24 + h) * 60 + m) * 60_000 + s * 1000;
  if (!Number.isFinite(ms) || ms < 1000) throw new InputError(`${field}: must be at least 1 second`);
  if (ms > MAX_RUN_DURATION_MS) throw new InputError(`${field}: must be at most 7 days`);
  return ms;
}
