/*
 * Cron schedules for backup policies: 5-field expressions, presets, `-random` presets resolved
 * once per (policy, PVC), and the run times of an expression in an IANA time zone.
 *
 * Semantics follow Vixie cron (the cron of Debian, cronie and Kubernetes CronJobs):
 * - fields: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or
 *   SUN-SAT (0 and 7 are both Sunday); items `*`, `a`, `a-b`, each with an optional `/step`
 *   (`a/step` means `a-max/step`), separated by commas;
 * - when both day-of-month and day-of-week are restricted (neither starts with `*`), a day
 *   matches if EITHER matches; otherwise both must match;
 * - time zones and daylight saving: a wall-clock time skipped by a spring-forward change runs
 *   once, at the first valid instant after it (the moment the clocks jump); a wall-clock time
 *   repeated by a fall-back change runs once, at its first occurrence.
 */
import { createHash } from 'node:crypto';
import { InputError } from '@backstage/errors';
import { type ZoneClock, zoneClock } from './timezone';

const MINUTE_MS = 60_000;
const MAX_EXPRESSION_LENGTH = 256;
const MAX_NEXT_RUNS = 10_000;
/** How far ahead the search for the next run goes before it gives up (covers 29 February). */
const SEARCH_LIMIT_MS = 10 * 366 * 24 * 3_600_000;

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: Object.fromEntries(MONTH_NAMES.map((n, i) => [n, i + 1])),
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 7,
    names: Object.fromEntries(DAY_NAMES.map((n, i) => [n, i])),
  },
];

/** The presets and the 5-field expressions they stand for. */
export const CRON_PRESETS: Readonly<Record<string, string>> = {
  '@hourly': '0 * * * *',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@weekly': '0 0 * * 0',
  '@monthly': '0 0 1 * *',
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
};

/** The `-random` presets: the same cadence as their plain preset, at a stable pseudo-random time. */
export const RANDOM_PRESETS = [
  '@hourly-random',
  '@daily-random',
  '@weekly-random',
  '@monthly-random',
  '@yearly-random',
] as const;
export type RandomPreset = (typeof RANDOM_PRESETS)[number];

/** A parsed, concrete cron expression. Sets are indexed by value (`minutes[5]` is minute 5). */
export interface ParsedCron {
  /** The expression as given (trimmed). */
  source: string;
  /** The 5-field form (presets expanded). */
  expression: string;
  minutes: readonly boolean[];
  hours: readonly boolean[];
  daysOfMonth: readonly boolean[];
  months: readonly boolean[];
  /** 0-6, Sunday is 0 (7 in the expression is folded onto 0). */
  daysOfWeek: readonly boolean[];
  domRestricted: boolean;
  dowRestricted: boolean;
}

/** Identity a `-random` preset is resolved from: the policy and the PVC it covers. */
export interface RandomSeed {
  policyId: string;
  /** A stable key of the PVC, for example `cluster/namespace/name` or its UID. */
  pvcKey: string;
}

function fail(message: string): never {
  throw new InputError(`cron: ${message}`);
}

function parseValue(token: string, spec: FieldSpec): number {
  const upper = token.toUpperCase();
  if (spec.names && Object.hasOwn(spec.names, upper)) return spec.names[upper];
  if (!/^\d+$/.test(token)) {
    const hint = spec.names ? ` (use numbers or names such as ${Object.keys(spec.names).slice(0, 2).join(', ')})` : '';
    fail(`${spec.name} field '${token}' is not a number${hint}`);
  }
  const value = Number(token);
  if (value < spec.min || value > spec.max) {
    fail(`${spec.name} field '${token}' is out of range ${spec.min}-${spec.max}`);
  }
  return value;
}

function parseField(text: string, spec: FieldSpec): boolean[] {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  for (const item of text.split(',')) {
    if (item === '') fail(`${spec.name} field '${text}' has an empty list item`);
    const [base, stepText, extra] = item.split('/');
    if (extra !== undefined) fail(`${spec.name} field '${item}' has more than one '/'`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        fail(`${spec.name} field '${item}' needs a positive step after '/'`);
      }
      step = Number(stepText);
      if (step > spec.max - spec.min + 1) {
        fail(`${spec.name} field '${item}' has a step larger than the range ${spec.min}-${spec.max}`);
      }
    }
    let from: number;
    let to: number;
    if (base === '*') {
      from = spec.min;
      to = spec.max;
    } else if (base.includes('-')) {
      const [a, b, more] = base.split('-');
      if (more !== undefined || a === '' || b === '') fail(`${spec.name} field '${item}' is not a valid range`);
      from = parseValue(a, spec);
      to = parseValue(b, spec);
      if (from > to) fail(`${spec.name} field '${item}' is a backwards range (${from} > ${to})`);
    } else {
      from = parseValue(base, spec);
      to = stepText !== undefined ? spec.max : from;
    }
    for (let v = from; v <= to; v += step) set[v] = true;
  }
  return set;
}

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function expandPreset(source: string): string {
  if (!source.startsWith('@')) return source;
  const lower = source.toLowerCase();
  if (Object.hasOwn(CRON_PRESETS, lower)) return CRON_PRESETS[lower];
  if ((RANDOM_PRESETS as readonly string[]).includes(lower)) {
    fail(`'${source}' must be resolved to a concrete schedule for its policy and PVC first (resolveCron)`);
  }
  return fail(
    `unknown preset '${source.slice(0, 32)}' (use @hourly, @daily, @weekly, @monthly, @yearly, or one of them with -random)`,
  );
}

/**
 * Parses a concrete expression (5 fields or a plain preset). Errors are InputErrors that name the
 * field, for example `cron: minute field '61' is out of range 0-59`.
 */
export function parseCron(expression: string): ParsedCron {
  if (typeof expression !== 'string') fail('expression must be a string');
  const source = expression.trim();
  if (source === '') fail('expression is empty');
  if (source.length > MAX_EXPRESSION_LENGTH) fail(`expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const fiveFields = expandPreset(source);
  const parts = fiveFields.split(/\s+/);
  if (parts.length !== 5) {
    fail(
      `expected 5 fields (minute hour day-of-month month day-of-week) or a preset such as @daily, got ${parts.length}`,
    );
  }
  const [minutes, hours, daysOfMonth, months, dow] = parts.map((p, i) => parseField(p, FIELDS[i]));
  const daysOfWeek = dow.slice(0, 7);
  if (dow[7]) daysOfWeek[0] = true;
  const domRestricted = !parts[2].startsWith('*');
  const dowRestricted = !parts[4].startsWith('*');
  if (domRestricted && !dowRestricted) {
    const possible = months.some((inMonth, m) => inMonth && daysOfMonth.some((d, day) => d && day <= DAYS_IN_MONTH[m]));
    if (!possible) fail(`day-of-month field '${parts[2]}' never occurs in month field '${parts[3]}'`);
  }
  return {
    source,
    expression: parts.join(' '),
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    domRestricted,
    dowRestricted,
  };
}

/** True for `@daily-random` and its siblings (any letter case). */
export function isRandomPreset(expression: string): boolean {
  return (RANDOM_PRESETS as readonly string[]).includes(expression.trim().toLowerCase());
}

/**
 * Validates what a user may store as a policy's cron: a concrete expression, a preset or a
 * `-random` preset. Throws the same field-naming InputError as parseCron.
 */
export function validateCronSpec(expression: string): void {
  if (typeof expression === 'string' && isRandomPreset(expression)) return;
  parseCron(expression);
}

/**
 * A uniform integer in [0, size) from 4 bytes of the digest. 2^32 is not a multiple of 60, 24, 7,
 * 28 or 12, but the bias is below one in 70 million: every value is reachable and near-equally likely.
 */
function pick(digest: Buffer, slot: number, size: number): number {
  return digest.readUInt32BE(slot * 4) % size;
}

/**
 * Resolves a policy's cron to the concrete expression it runs on (its "effective schedule").
 * A `-random` preset becomes a fixed minute/hour/day chosen from a hash of (policy id, PVC key):
 * the same inputs always give the same schedule, different PVCs spread over the whole range
 * (every minute 0-59, hour 0-23, weekday 0-6 and day-of-month 1-28 is reachable; days 29-31 are
 * avoided so that every month runs). Anything else is validated and returned as its 5-field form.
 */
export function resolveCron(expression: string, seed: RandomSeed): string {
  const source = typeof expression === 'string' ? expression.trim().toLowerCase() : '';
  if (!isRandomPreset(source)) return parseCron(expression).expression;
  const digest = createHash('sha256')
    .update(`nkvm-schedule\0${seed.policyId}\0${seed.pvcKey}`)
    .digest();
  const minute = pick(digest, 0, 60);
  const hour = pick(digest, 1, 24);
  const weekday = pick(digest, 2, 7);
  const day = pick(digest, 3, 28) + 1;
  const month = pick(digest, 4, 12) + 1;
  switch (source as RandomPreset) {
    case '@hourly-random':
      return `${minute} * * * *`;
    case '@daily-random':
      return `${minute} ${hour} * * *`;
    case '@weekly-random':
      return `${minute} ${hour} * * ${weekday}`;
    case '@monthly-random':
      return `${minute} ${hour} ${day} * *`;
    case '@yearly-random':
      return `${minute} ${hour} ${day} ${month} *`;
    default:
      return fail(`unknown preset '${expression}'`);
  }
}

const parsedCache = new Map<string, ParsedCron>();
const PARSED_CACHE_LIMIT = 2_000;

/** parseCron with a small cache: thousands of policies share a handful of expressions. */
export function parseCronCached(expression: string): ParsedCron {
  const hit = parsedCache.get(expression);
  if (hit) return hit;
  const parsed = parseCron(expression);
  if (parsedCache.size >= PARSED_CACHE_LIMIT) parsedCache.clear();
  parsedCache.set(expression, parsed);
  return parsed;
}

function dayMatches(cron: ParsedCron, date: Date): boolean {
  const dom = cron.daysOfMonth[date.getUTCDate()];
  const dow = cron.daysOfWeek[date.getUTCDay()];
  return cron.domRestricted && cron.dowRestricted ? dom || dow : dom && dow;
}

/**
 * The first wall-clock minute strictly after `naive` (a naive time, see ZoneClock) that the
 * expression matches, or null when none comes within the search limit.
 */
function nextWallClockMatch(cron: ParsedCron, naive: number): number | null {
  let t = Math.floor(naive / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const limit = t + SEARCH_LIMIT_MS;
  while (t <= limit) {
    const d = new Date(t);
    const year = d.getUTCFullYear();
    const month = d.getUTCMonth();
    const day = d.getUTCDate();
    const hour = d.getUTCHours();
    if (!cron.months[month + 1]) {
      t = Date.UTC(year, month + 1, 1);
    } else if (!dayMatches(cron, d)) {
      t = Date.UTC(year, month, day + 1);
    } else if (!cron.hours[hour]) {
      t = Date.UTC(year, month, day, hour + 1);
    } else {
      let minute = d.getUTCMinutes();
      while (minute < 60 && !cron.minutes[minute]) minute++;
      if (minute < 60) return Date.UTC(year, month, day, hour, minute);
      t = Date.UTC(year, month, day, hour + 1);
    }
  }
  return null;
}

/**
 * The run instants of a parsed expression strictly after `after` (epoch ms), in increasing order,
 * as a lazy sequence. Wall-clock minutes are mapped to instants with ZoneClock.resolve, and an
 * instant is produced once even when several wall-clock minutes map to it (the skipped hour) or
 * when a wall-clock minute comes round again (the repeated hour).
 */
export function* runsAfter(cron: ParsedCron, clock: ZoneClock, after: number): Generator<number> {
  let naive = clock.toNaive(after);
  let last = after;
  for (;;) {
    const next = nextWallClockMatch(cron, naive);
    if (next === null) return;
    naive = next;
    const instant = clock.resolve(next);
    if (instant > last) {
      last = instant;
      yield instant;
    }
  }
}

/**
 * The next `count` run times of `expression` after `after`, evaluated in `timezone` (IANA, default
 * UTC). `expression` must be concrete: resolve `-random` presets with resolveCron first.
 */
export function nextRuns(
  expression: string,
  timezone: string | undefined,
  after: Date,
  count: number,
): Date[] {
  const cron = parseCronCached(expression);
  const clock = zoneClock(timezone);
  if (!Number.isFinite(after.getTime())) throw new InputError('after must be a valid date');
  if (!Number.isInteger(count) || count > MAX_NEXT_RUNS) {
    throw new InputError(`count must be an integer of at most ${MAX_NEXT_RUNS}`);
  }
  const runs: Date[] = [];
  if (count <= 0) return runs;
  for (const instant of runsAfter(cron, clock, after.getTime())) {
    runs.push(new Date(instant));
    if (runs.length >= count) break;
  }
  return runs;
}
