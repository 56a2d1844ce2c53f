/*
 * The schedule and retention engine of backup policies: pure functions, no database, no HTTP.
 * See docs/scheduling-and-retention.md.
 */
export {
  CRON_PRESETS,
  RANDOM_PRESETS,
  isRandomPreset,
  nextRuns,
  parseCron,
  resolveCron,
  validateCronSpec,
} from './cron';
export type { ParsedCron, RandomPreset, RandomSeed } from './cron';
export {
  DEFAULT_GRACE_MS,
  MAX_COUNTED_MISSED,
  decideDispatch,
  defaultStaleAfterMs,
  dueAmong,
  longestInterval,
  nextSlotAfter,
} from './dispatch';
export type {
  CatchUp,
  DispatchDecision,
  DispatchInput,
  DispatchOutcome,
  PolicySchedule,
  SchedulablePolicy,
} from './dispatch';
export { MAX_RUN_DURATION_MS, parseCalendarDuration, parseRunDuration } from './durations';
export type { CalendarDuration } from './durations';
export {
  MAX_KEEP_COUNT,
  catchUpSchema,
  describeIssues,
  parsePolicySettings,
  policySettingsSchema,
  retentionSchema,
} from './policySchema';
export type { PolicySettings, PolicySettingsInput, RetentionSettings } from './policySchema';
export { isEmptyRetention, planRetention } from './retention';
export type {
  KeepReason,
  KeepReasonKind,
  RetentionBackup,
  RetentionOptions,
  RetentionPlan,
  RetentionRule,
  RetentionRules,
} from './retention';
export { DEFAULT_TIMEZONE, normalizeTimezone } from './timezone';
