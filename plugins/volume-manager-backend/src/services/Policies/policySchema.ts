/*
 * The schedule-and-retention part of a policy body (POST/PUT /policies), for the router to compose
 * with its target shape ({cluster, namespace, pvc} | {entityRef}). Pure zod; every error names its
 * field: `retention.keepDaily: must be a non-negative integer`.
 */
import { InputError } from '@backstage/errors';
import { z } from 'zod';
import { validateCronSpec } from './cron';
import { parseCalendarDuration, parseRunDuration } from './durations';
import { normalizeTimezone } from './timezone';

/** The largest keep count accepted: far beyond any sane policy, small enough to stay an int. */
export const MAX_KEEP_COUNT = 100_000;

/** Turns a throwing validator into a zod refinement that reports the thrower's message. */
function checkedBy(validate: (value: string) => unknown, field: string) {
  return (value: string, ctx: z.RefinementCtx) => {
    try {
      validate(value);
    } catch (error) {
      const message = String(error?.message ?? error).replace(new RegExp(`^${field}: `), '');
      ctx.addIssue({ code: z.ZodIssueCode.custom, message });
    }
  };
}

const keepCount = z
  .number({ invalid_type_error: 'must be a non-negative integer' })
  .int('must be a non-negative integer')
  .min(0, 'must be a non-negative integer')
  .max(MAX_KEEP_COUNT, `must be at most ${MAX_KEEP_COUNT}`);

export const retentionSchema = z
  .object({
    keepLast: keepCount.optional(),
    keepHourly: keepCount.optional(),
    keepDaily: keepCount.optional(),
    keepWeekly: keepCount.optional(),
    keepMonthly: keepCount.optional(),
    keepYearly: keepCount.optional(),
    keepWithin: z
      .string()
      .max(64)
      .superRefine(checkedBy(v => parseCalendarDuration(v), 'keepWithin'))
      .optional(),
  })
  .strict();

export const catchUpSchema = z.enum(['none', 'one']);

export const policySettingsSchema = z
  .object({
    /** 5 fields, a preset (@hourly …) or a -random preset; stored as given, trimmed. */
    cron: z
      .string()
      .max(256)
      .superRefine(checkedBy(validateCronSpec, 'cron'))
      .transform(value => value.trim()),
    /** IANA zone, canonicalized; default UTC. */
    timezone: z
      .string()
      .max(64)
      .optional()
      .transform((value, ctx) => {
        try {
          return normalizeTimezone(value);
        } catch (error) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: String(error.message).replace(/^timezone: /, '') });
          return z.NEVER;
        }
      }),
    /** A configured destination id (policies never carry ad-hoc credentials). */
    destination: z.string().min(1).max(253),
    retention: retentionSchema.default({}),
    catchUp: catchUpSchema.default('one'),
    /** ISO-8601 (`PT30M`) or short (`30m`, `1h30m`); at most 7 days. */
    maxDuration: z.string().max(64).superRefine(checkedBy(v => parseRunDuration(v), 'maxDuration')).optional(),
    enabled: z.boolean().default(true),
    /** Let retention count and delete manual backups of the covered PVCs too. */
    includeManual: z.boolean().default(false),
  })
  .strict();

export type PolicySettingsInput = z.input<typeof policySettingsSchema>;
export type PolicySettings = z.output<typeof policySettingsSchema>;
export type RetentionSettings = z.output<typeof retentionSchema>;

/** The message of a failed parse: every issue, each prefixed with its field path. */
export function describeIssues(error: z.ZodError, what: string): string {
  return error.issues.map(i => `${i.path.join('.') || what}: ${i.message}`).join('; ');
}

/** Validates the schedule-and-retention fields of a policy body; throws an InputError naming fields. */
export function parsePolicySettings(body: unknown): PolicySettings {
  const result = policySettingsSchema.safeParse(body);
  if (!result.success) throw new InputError(`Invalid policy: ${describeIssues(result.error, 'policy')}`);
  return result.data;
}
