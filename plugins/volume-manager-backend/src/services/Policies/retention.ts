/*
 * Retention planning with restic's `forget` semantics (restic 0.17+, internal/data/snapshot_policy.go),
 * applied to the succeeded backups of one PVC under one policy:
 * - backups are ordered newest first;
 * - keepLast n keeps the n newest;
 * - keepHourly/Daily/Weekly/Monthly/Yearly n keep the newest backup of each of the n most recent
 *   calendar buckets that contain a backup (hours, days, ISO weeks Monday-Sunday with the ISO
 *   week-year at year boundaries, months, years), in the policy's time zone; a rule that still
 *   has count left when the list ends also keeps the oldest backup ("oldest daily", as restic);
 * - keepWithin keeps every backup strictly newer than (newest backup - duration), where the
 *   newest backup is the newest one not in the future, as restic;
 * - a backup is kept when any rule keeps it; its reasons list every rule that does.
 * Our additions: rules that are all zero or absent keep everything (no hidden default); only
 * succeeded backups are planned (others are returned as `ignored`, never removed); the newest
 * succeeded backup is always kept; pinned backups, and manual backups unless `includeManual`,
 * are exempt: kept, and left out of the counting so they never take a rule's slot.
 */
import { InputError } from '@backstage/errors';
import { DateTime } from 'luxon';
import { parseCalendarDuration } from './durations';
import { normalizeTimezone, zoneClock } from './timezone';

export interface RetentionRules {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** restic-style duration: `7d`, `2w`, `1y6m` (m = months). */
  keepWithin?: string;
}

export type RetentionRule = keyof RetentionRules;

/** What retention needs to know about a backup. */
export interface RetentionBackup {
  id: string;
  /** When the backup was taken (its start). */
  createdAt: Date;
  status: string;
  pinned?: boolean;
  /** Started by a person rather than a schedule. */
  manual?: boolean;
}

export type KeepReasonKind = RetentionRule | 'newestSucceeded' | 'pinned' | 'manual' | 'noRules';

export interface KeepReason {
  kind: KeepReasonKind;
  /** The calendar bucket that the rule kept this backup for: `2026-12-04`, `2026-W49`, … */
  bucket?: string;
  /** Kept because the rule had count left at the oldest backup (restic's "oldest daily snapshot"). */
  oldest?: boolean;
}

export interface RetentionPlan<B extends RetentionBackup> {
  /** Newest first. */
  keep: Array<{ backup: B; reasons: KeepReason[] }>;
  /** Newest first: succeeded backups no rule keeps. */
  remove: B[];
  /** Backups that did not succeed (running, failed, …): neither counted nor removed. */
  ignored: B[];
}

export interface RetentionOptions {
  /** IANA zone the calendar buckets are taken in; default UTC. */
  timezone?: string;
  /** Let the rules count and remove manual backups too (default: manual backups are exempt). */
  includeManual?: boolean;
}

type BucketRule = Exclude<RetentionRule, 'keepWithin'>;

/** Calendar fields of an instant in the policy's zone (from ZoneClock: cached offsets, no Intl). */
interface Calendar {
  year: number;
  /** `YYYY-MM` and so on, built once per backup and only for the rules in use. */
  month: string;
  day: string;
  hour: string;
  isoWeek: string;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO 8601 week-year and week of a naive date: the week (Monday-Sunday) of its Thursday. */
export function isoWeekOf(naive: Date): { weekYear: number; week: number } {
  const mondayBased = (naive.getUTCDay() + 6) % 7;
  const thursday = Date.UTC(naive.getUTCFullYear(), naive.getUTCMonth(), naive.getUTCDate() + 3 - mondayBased);
  const weekYear = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(weekYear, 0, 1)) / (7 * 86_400_000));
  return { weekYear, week };
}

function calendarOf(naiveMs: number): Calendar {
  const d = new Date(naiveMs);
  const year = d.getUTCFullYear();
  const month = `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}`;
  const day = `${month}-${pad(d.getUTCDate())}`;
  const { weekYear, week } = isoWeekOf(d);
  return { year, month, day, hour: `${day}T${pad(d.getUTCHours())}`, isoWeek: `${pad(weekYear, 4)}-W${pad(week)}` };
}

const BUCKETS: ReadonlyArray<{ rule: BucketRule; key: (c: Calendar, index: number) => string }> = [
  { rule: 'keepLast', key: (_c, index) => String(index) },
  { rule: 'keepHourly', key: c => c.hour },
  { rule: 'keepDaily', key: c => c.day },
  { rule: 'keepWeekly', key: c => c.isoWeek },
  { rule: 'keepMonthly', key: c => c.month },
  { rule: 'keepYearly', key: c => pad(c.year, 4) },
];

/** True when the rules keep nothing by themselves (all counts zero or absent, no keepWithin). */
export function isEmptyRetention(rules: RetentionRules | undefined): boolean {
  if (!rules) return true;
  return BUCKETS.every(b => !rules[b.rule]) && !rules.keepWithin;
}

function newestFirst<B extends RetentionBackup>(a: B, b: B): number {
  const byTime = b.createdAt.getTime() - a.createdAt.getTime();
  if (byTime !== 0) return byTime;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

/**
 * Plans which backups of one PVC to keep and which to delete. Pure and deterministic: `now` only
 * decides which backups are "in the future" for keepWithin's reference point.
 */
export function planRetention<B extends RetentionBackup>(
  backups: readonly B[],
  rules: RetentionRules | undefined,
  now: Date,
  options: RetentionOptions = {},
): RetentionPlan<B> {
  const zone = normalizeTimezone(options.timezone);
  const within = rules?.keepWithin ? parseCalendarDuration(rules.keepWithin) : undefined;
  for (const b of BUCKETS) {
    const count = rules?.[b.rule];
    if (count !== undefined && (!Number.isInteger(count) || count < 0)) {
      throw new InputError(`retention.${b.rule}: must be a non-negative integer`);
    }
  }

  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) throw new TypeError('now must be a valid date');
  const ids = new Set<string>();
  for (const b of backups) {
    if (!(b.createdAt instanceof Date) || !Number.isFinite(b.createdAt.getTime())) {
      throw new TypeError(`backup ${b.id} has no valid createdAt`);
    }
    // A plan must never name one backup twice (it would be deleted twice, or kept and deleted).
    if (ids.has(b.id)) throw new TypeError(`backup ${b.id} appears twice`);
    ids.add(b.id);
  }
  const sorted = [...backups].sort(newestFirst);
  const ignored = sorted.filter(b => b.status !== 'succeeded');
  const succeeded = sorted.filter(b => b.status === 'succeeded');
  const reasons = new Map<B, KeepReason[]>();
  const addReason = (b: B, reason: KeepReason) => {
    const list = reasons.get(b);
    if (list) list.push(reason);
    else reasons.set(b, [reason]);
  };

  const evaluated: B[] = [];
  for (const b of succeeded) {
    const exemptManual = b.manual && !options.includeManual;
    if (b.pinned) addReason(b, { kind: 'pinned' });
    if (exemptManual) addReason(b, { kind: 'manual' });
    if (!b.pinned && !exemptManual) evaluated.push(b);
  }

  if (isEmptyRetention(rules)) {
    for (const b of evaluated) addReason(b, { kind: 'noRules' });
  } else {
    const nowMs = now.getTime();
    // restic: the reference is the newest backup that is not in the future.
    const latest = evaluated.reduce<number | undefined>((acc, b) => {
      const t = b.createdAt.getTime();
      return t < nowMs && (acc === undefined || t > acc) ? t : acc;
    }, undefined);
    const cutoff =
      within && latest !== undefined
        ? DateTime.fromMillis(latest, { zone })
            .minus({ years: within.years, months: within.months, days: within.weeks * 7 + within.days })
            .minus({ hours: within.hours })
            .toMillis()
        : Number.NEGATIVE_INFINITY;
    const state = BUCKETS.map(b => ({ ...b, left: rules?.[b.rule] ?? 0, last: undefined as string | undefined }));

    const clock = zoneClock(zone);
    evaluated.forEach((b, index) => {
      if (within && b.createdAt.getTime() > cutoff) addReason(b, { kind: 'keepWithin' });
      const isOldest = index === evaluated.length - 1;
      let time: Calendar | undefined;
      for (const bucket of state) {
        if (bucket.left <= 0) continue;
        time ??= calendarOf(clock.toNaive(b.createdAt.getTime()));
        const key = bucket.key(time, index);
        if (key !== bucket.last || isOldest) {
          const reason: KeepReason = { kind: bucket.rule };
          if (bucket.rule !== 'keepLast') reason.bucket = key;
          if (key === bucket.last) reason.oldest = true;
          addReason(b, reason);
          bucket.last = key;
          bucket.left--;
        }
      }
    });
  }

  const newest = succeeded[0];
  if (newest) addReason(newest, { kind: 'newestSucceeded' });

  return {
    keep: succeeded.filter(b => reasons.has(b)).map(b => ({ backup: b, reasons: reasons.get(b)! })),
    remove: succeeded.filter(b => !reasons.has(b)),
    ignored,
  };
}
