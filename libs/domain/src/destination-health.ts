import { asksToSlowDown } from './adaptive-rate';
import type { AttemptOutcome } from './attempt-outcome';
import type { Circuit } from './circuit-breaker';
import type { SendResult } from './send-result';

/**
 * What one attempt says about its destination's health:
 * - `success`: delivered;
 * - `throttled`: the receiver asked to slow down (a 429, or any answer with `Retry-After`): it is
 *   alive, so this is no failure for health, the circuit breaker, auto-disable or alerts, and
 *   no success either (a failure streak goes on across it);
 * - `failure`: anything else that was not delivered.
 * A throttled answer is recognised by its status code 429, or by the `retryAfterMs` its kind read
 * from the answer (a webhook reads `Retry-After` on 429 and 503).
 */
export type AttemptHealth = 'success' | 'failure' | 'throttled';

export function attemptHealth(result: Pick<SendResult, 'statusCode' | 'retryAfterMs'>, outcome: Pick<AttemptOutcome, 'kind'>): AttemptHealth {
  if (outcome.kind === 'delivered') return 'success';
  if (asksToSlowDown(result)) return 'throttled';
  return 'failure';
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'disabled';

/** Consecutive failures from which a destination is unhealthy (fewer, but at least one: degraded). */
export const UNHEALTHY_CONSECUTIVE_FAILURES = 3;

/** The window of the average response time that makes a destination degraded when above its organization's threshold. */
export const RECENT_RESPONSE_WINDOW_MS = 15 * 60_000;

export type HealthFacts = {
  enabled: boolean;
  circuit: Circuit;
  consecutiveFailures: number;
  /** Average response time of the last 15 minutes; null when no attempt was made in them. */
  recentAverageResponseMs: number | null;
  /** The organization's `responseTimeMs` alert setting (default 30000); null: response time never degrades a destination. */
  responseTimeThresholdMs: number | null;
};

/**
 * The contract's status rules, first match wins: `disabled` when the destination is disabled;
 * `unhealthy` when its circuit is open or half-open, or it has 3 or more consecutive failures;
 * `degraded` with 1–2 consecutive failures, or an average response time of the last 15 minutes
 * above the organization's threshold; else `healthy`.
 */
export function healthStatus(facts: HealthFacts): HealthStatus {
  if (!facts.enabled) return 'disabled';
  if (facts.circuit !== 'closed' || facts.consecutiveFailures >= UNHEALTHY_CONSECUTIVE_FAILURES) return 'unhealthy';
  if (facts.consecutiveFailures > 0) return 'degraded';
  const threshold = facts.responseTimeThresholdMs;
  if (threshold !== null && facts.recentAverageResponseMs !== null && facts.recentAverageResponseMs > threshold) return 'degraded';
  return 'healthy';
}

/**
 * Response times kept per destination in two 15-minute windows aligned on the clock (the
 * current one and the one before), so the health row stays one small row updated in place.
 */
export type ResponseWindows = {
  windowStartedAt: Date | null;
  windowAttempts: number;
  windowResponseMs: number;
  previousWindowAttempts: number;
  previousWindowResponseMs: number;
};

/** Start of the 15-minute window `at` falls in (aligned on the epoch, as the worker's SQL `date_bin` does). */
export function responseWindowStart(at: Date): number {
  return at.getTime() - (at.getTime() % RECENT_RESPONSE_WINDOW_MS);
}

/**
 * The average response time of the last 15 minutes at `now`, from the two windows: the current
 * window counts whole, and the window before it in the share of it that lies within the last 15
 * minutes (its attempts taken as evenly spread). Null when none of those windows has an attempt.
 */
export function recentAverageResponseMs(windows: ResponseWindows, now: Date): number | null {
  if (windows.windowStartedAt === null) return null;
  const current = responseWindowStart(now);
  const elapsed = (now.getTime() - current) / RECENT_RESPONSE_WINDOW_MS;
  const started = windows.windowStartedAt.getTime();
  let attempts: number;
  let responseMs: number;
  if (started === current) {
    const share = 1 - elapsed;
    attempts = windows.windowAttempts + share * windows.previousWindowAttempts;
    responseMs = windows.windowResponseMs + share * windows.previousWindowResponseMs;
  } else if (started === current - RECENT_RESPONSE_WINDOW_MS) {
    // No attempt yet in the current window: the stored one is now the window before.
    const share = 1 - elapsed;
    attempts = share * windows.windowAttempts;
    responseMs = share * windows.windowResponseMs;
  } else {
    return null;
  }
  return attempts > 0 ? Math.round(responseMs / attempts) : null;
}

/** The reason a destination is disabled with when every attempt failed for `afterMs`: "every attempt failed for 5 days". */
export function autoDisableReason(afterMs: number): string {
  return `every attempt failed for ${spokenDuration(afterMs)}`;
}

const UNITS: [number, string][] = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** A duration in the largest unit that divides it whole ("5 days", "90 minutes", "1500 ms"). */
export function spokenDuration(ms: number): string {
  for (const [size, unit] of UNITS) {
    if (ms >= size && ms % size === 0) {
      const count = ms / size;
      return `${count} ${unit}${count === 1 ? '' : 's'}`;
    }
  }
  return `${ms} ms`;
}
