import { z } from 'zod';

/**
 * A destination's rate limit: at most `max` attempts per `durationMs`, across every worker
 * process. `adaptive`: a 429 or a `Retry-After` from the receiver lowers the rate it is sent at,
 * which climbs back towards `max` while the receiver keeps up (see adaptive-rate.ts).
 */
export const rateLimitSettingsSchema = z
  .object({
    max: z.number().int().min(1).max(1_000_000),
    durationMs: z.number().int().min(1).max(3_600_000),
    adaptive: z.boolean().default(false),
  })
  .strict();

export type RateLimitSettings = z.output<typeof rateLimitSettingsSchema>;

/** What a new destination gets when it names no `rateLimit`: 100 attempts a second, fixed. */
export const DEFAULT_RATE_LIMIT: RateLimitSettings = { max: 100, durationMs: 1000, adaptive: false };

/** The rate limit of a stored destination (null: none); a limit without both numbers is none. */
export function storedRateLimit(stored: { rateLimitMax: number | null; rateLimitDurationMs: number | null; rateLimitAdaptive: boolean }): RateLimitSettings | null {
  if (!stored.rateLimitMax || !stored.rateLimitDurationMs) return null;
  return { max: stored.rateLimitMax, durationMs: stored.rateLimitDurationMs, adaptive: stored.rateLimitAdaptive };
}
