import { z } from 'zod';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Delays between attempts when a destination sets none: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR];

/** The longest a `Retry-After` answer may hold a delivery back. */
export const MAX_RETRY_AFTER_MS = 6 * HOUR;

const delay = z
  .number()
  .int()
  .min(0)
  .max(7 * 24 * HOUR);

export const retryPolicySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(100).default(8),
    schedule: z.array(delay).min(1).max(99).optional(),
    initialDelayMs: delay.optional(),
    maxDelayMs: delay.optional(),
    multiplier: z.number().min(1).max(100).optional(),
    jitter: z.number().min(0).max(1).default(0.2),
    nonRetryableStatuses: z.array(z.number().int().min(300).max(599)).max(100).default([]),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const exponential = policy.initialDelayMs !== undefined || policy.multiplier !== undefined || policy.maxDelayMs !== undefined;
    if (policy.schedule && exponential) {
      ctx.addIssue({
        code: 'custom',
        path: ['schedule'],
        message: 'give either "schedule" or "initialDelayMs"/"maxDelayMs"/"multiplier", not both',
      });
    }
    if (policy.maxDelayMs !== undefined && policy.initialDelayMs !== undefined && policy.maxDelayMs < policy.initialDelayMs) {
      ctx.addIssue({ code: 'custom', path: ['maxDelayMs'], message: 'must not be less than initialDelayMs' });
    }
  });

export type RetryPolicy = z.output<typeof retryPolicySchema>;

export const DEFAULT_RETRY_POLICY: RetryPolicy = retryPolicySchema.parse({});

/**
 * Milliseconds to wait after attempt `attemptNumber` (1-based) failed, before the next one.
 * `random` is a number in [0, 1) used for jitter.
 */
export function retryDelayMs(policy: RetryPolicy, attemptNumber: number, random: number = Math.random()): number {
  const base = baseDelayMs(policy, attemptNumber);
  const factor = 1 + policy.jitter * (2 * random - 1);
  return Math.max(0, Math.round(base * factor));
}

function baseDelayMs(policy: RetryPolicy, attemptNumber: number): number {
  if (policy.initialDelayMs !== undefined || policy.multiplier !== undefined || policy.maxDelayMs !== undefined) {
    const initial = policy.initialDelayMs ?? 5 * SECOND;
    const grown = initial * (policy.multiplier ?? 2) ** (attemptNumber - 1);
    return Math.min(grown, policy.maxDelayMs ?? 10 * HOUR);
  }
  const schedule = policy.schedule ?? DEFAULT_RETRY_SCHEDULE;
  return schedule[Math.min(attemptNumber, schedule.length) - 1];
}

/** Attempts a delivery may still make under a stored policy (at least one: the next). */
export function attemptsLeft(storedPolicy: unknown, attemptsMade: number): number {
  return Math.max(1, retryPolicySchema.parse(storedPolicy ?? {}).maxAttempts - attemptsMade);
}
