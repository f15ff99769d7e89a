import { z } from 'zod';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

/**
 * When a destination's circuit opens (no attempts, deliveries wait) and how it recovers. Every
 * field is optional in input: what is left out takes its default, so a stored or sent object is
 * always complete once parsed.
 */
export const circuitBreakerSettingsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Consecutive failed attempts that open the circuit. */
    failureThreshold: z.number().int().min(1).max(10_000).default(10),
    /** Share of failed attempts in the window (with at least `minimumRequests`) that opens it. */
    failureRateThreshold: z.number().gt(0).max(1).default(0.5),
    minimumRequests: z.number().int().min(1).max(1_000_000).default(20),
    windowMs: z
      .number()
      .int()
      .min(SECOND)
      .max(DAY)
      .default(60 * SECOND),
    /** How long it stays open before letting probes through (half-open). */
    recoveryTimeoutMs: z
      .number()
      .int()
      .min(SECOND)
      .max(7 * DAY)
      .default(5 * MINUTE),
    /** Attempts let through while half-open. */
    halfOpenMaxCalls: z.number().int().min(1).max(1000).default(3),
  })
  .strict();

export type CircuitBreakerSettings = z.output<typeof circuitBreakerSettingsSchema>;

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerSettings = circuitBreakerSettingsSchema.parse({});

/**
 * The circuit breaker settings of a stored destination: a row without any (stored before they
 * existed: null) has the defaults, and a stored partial object is completed with them.
 */
export function storedCircuitBreaker(stored: unknown): CircuitBreakerSettings {
  return circuitBreakerSettingsSchema.parse(stored ?? {});
}
