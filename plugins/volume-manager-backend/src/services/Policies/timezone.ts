import { InputError } from '@backstage/errors';
import { IANAZone } from 'luxon';

/** The time zone a policy uses when it names none. */
export const DEFAULT_TIMEZONE = 'UTC';

const MAX_TIMEZONE_LENGTH = 64;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const CACHE_LIMIT = 1_000;
const DAY_MS = 24 * HOUR_MS;
/** About 55 years of days per zone. */
const DAY_CACHE_LIMIT = 20_000;
const canonicalNames = new Map<string, string>();

/**
 * Validates an IANA time zone name and returns it, with its letter case corrected when that is
 * the only difference from the tz database's name (`europe/berlin` becomes `Europe/Berlin`, and
 * `Etc/UTC` stays `Etc/UTC`; ICU's older aliases such as `Asia/Calcutta` for `Asia/Kolkata` are
 * never substituted). Empty or missing means UTC. Fixed offsets such as `UTC+2` are not IANA names
 * and are refused: they would silently ignore daylight saving time.
 */
export function normalizeTimezone(timezone: string | undefined | null): string {
  if (timezone === undefined || timezone === null || timezone === '') return DEFAULT_TIMEZONE;
  const known = canonicalNames.get(timezone);
  if (known) return known;
  if (typeof timezone !== 'string' || timezone.length > MAX_TIMEZONE_LENGTH || !IANAZone.isValidZone(timezone)) {
    throw new InputError(
      `timezone: unknown time zone '${String(timezone).slice(0, MAX_TIMEZONE_LENGTH)}' (use an IANA name such as Europe/Berlin or UTC)`,
    );
  }
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  const canonical = resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
  if (canonicalNames.size >= CACHE_LIMIT) canonicalNames.clear();
  canonicalNames.set(timezone, canonical);
  return canonical;
}

/**
 * Wall-clock arithmetic for one zone. A "naive" time is a wall-clock reading encoded as if it were
 * UTC milliseconds (so 02:30 local is `Date.UTC(..., 2, 30)`), which lets calendar steps use
 * `Date.UTC` without any zone in the way.
 */
export class ZoneClock {
  readonly name: string;
  private readonly zone: IANAZone | null;

  constructor(timezone: string | undefined | null) {
    this.name = normalizeTimezone(timezone);
    this.zone = this.name === 'UTC' ? null : IANAZone.create(this.name);
  }

  /**
   * Per UTC day: the offset at its start, and where the offset changes within it, if it does.
   * Built from two lookups per day plus a binary search on the rare day with a change; it
   * assumes a zone changes its offset at most once a day, which every zone in the tz database
   * does (Samoa's skipped day in 2011 is one change). Makes offsets a Map lookup, not an Intl call.
   */
  private readonly days = new Map<number, { start: number; change?: number; after: number }>();

  /** The zone's offset from UTC at `instant`, in milliseconds. */
  offset(instant: number): number {
    if (!this.zone) return 0;
    const day = Math.floor(instant / DAY_MS);
    let entry = this.days.get(day);
    if (!entry) {
      entry = this.describeDay(day);
      if (this.days.size >= DAY_CACHE_LIMIT) this.days.clear();
      this.days.set(day, entry);
    }
    return entry.change !== undefined && instant >= entry.change ? entry.after : entry.start;
  }

  private zoneOffset(instant: number): number {
    return this.zone!.offset(instant) * MINUTE_MS;
  }

  private describeDay(day: number): { start: number; change?: number; after: number } {
    const from = day * DAY_MS;
    const start = this.zoneOffset(from);
    const after = this.zoneOffset(from + DAY_MS);
    if (start === after) return { start, after };
    // The first millisecond with the new offset.
    let lo = from; // offset here is `start`
    let hi = from + DAY_MS; // offset here is `after`
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.zoneOffset(mid) === start) lo = mid;
      else hi = mid;
    }
    return { start, change: hi, after };
  }

  /** The wall-clock reading at `instant`, as a naive time. */
  toNaive(instant: number): number {
    return instant + this.offset(instant);
  }

  /**
   * The instants whose wall-clock reading is `naive`, earliest first: one normally, two in the
   * hour repeated by a fall-back change, none in the hour skipped by a spring-forward change.
   */
  instantsOf(naive: number): number[] {
    if (!this.zone) return [naive];
    // Offsets one day either side; no zone changes its offset twice within two days.
    const before = this.offset(naive - 24 * HOUR_MS);
    const after = this.offset(naive + 24 * HOUR_MS);
    if (before === after) return [naive - before];
    const found: number[] = [];
    for (const offset of [before, after]) {
      const instant = naive - offset;
      if (this.toNaive(instant) === naive && !found.includes(instant)) found.push(instant);
    }
    return found.sort((a, b) => a - b);
  }

  /**
   * The instant a wall-clock minute maps to for scheduling: the earliest instant with that reading,
   * or, when the minute was skipped by a spring-forward change, the first valid instant after it
   * (the moment the clocks jumped).
   */
  resolve(naive: number): number {
    const instants = this.instantsOf(naive);
    if (instants.length > 0) return instants[0];
    // Walk forward to the first wall-clock minute that exists. Gaps are an hour in practice and
    // at most a day (Samoa, 2011); the bound only guards against a broken zone database.
    for (let probe = naive + MINUTE_MS; probe <= naive + 48 * HOUR_MS; probe += MINUTE_MS) {
      const later = this.instantsOf(probe);
      if (later.length > 0) return later[0];
    }
    throw new Error(`time zone ${this.name} has no valid time within two days of a skipped time`);
  }
}

const clocks = new Map<string, ZoneClock>();

/** The ZoneClock of a time zone (validated), shared: building one costs an Intl lookup. */
export function zoneClock(timezone: string | undefined | null): ZoneClock {
  const name = normalizeTimezone(timezone);
  let clock = clocks.get(name);
  if (!clock) {
    clock = new ZoneClock(name);
    if (clocks.size >= CACHE_LIMIT) clocks.clear();
    clocks.set(name, clock);
  }
  return clock;
}
