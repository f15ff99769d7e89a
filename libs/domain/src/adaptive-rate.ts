import type { RateLimitSettings } from './rate-limit-settings';
import type { SendResult } from './send-result';

/**
 * The rate an adaptive destination is sent at, after it last asked to slow down: `rate`
 * attempts per `durationMs` as lowered at `changedAt` (ms). No state: it is sent at `max`.
 */
export type AdaptiveRateState = Readonly<{ rate: number; changedAt: number }>;

/**
 * Additive increase: each whole `durationMs` since the rate was last lowered adds a tenth of
 * `max` (at least 1), up to `max`. With the default 100 a second, a halved rate is back to
 * full in 5 s.
 */
export function rateIncrement(limit: Pick<RateLimitSettings, 'max'>): number {
  return Math.max(1, Math.ceil(limit.max / 10));
}

/** The rate at `now`: the lowered rate plus what it has climbed back since, never above `max`. */
export function adaptiveRateAt(state: AdaptiveRateState | null, limit: Pick<RateLimitSettings, 'max' | 'durationMs'>, now: number): number {
  if (!state) return limit.max;
  const windows = Math.max(0, Math.floor((now - state.changedAt) / limit.durationMs));
  return Math.min(limit.max, Math.min(state.rate, limit.max) + windows * rateIncrement(limit));
}

/**
 * Multiplicative decrease: the receiver asked to slow down at `now`, so the rate halves (never
 * below 1 per `durationMs`). At most once per `durationMs`: the answers of attempts already in
 * flight when the rate was lowered do not lower it again. Returns null when nothing changes.
 */
export function slowedDown(state: AdaptiveRateState | null, limit: Pick<RateLimitSettings, 'max' | 'durationMs'>, now: number): AdaptiveRateState | null {
  if (state && now - state.changedAt < limit.durationMs) return null;
  const rate = Math.max(1, Math.floor(adaptiveRateAt(state, limit, now) / 2));
  return { rate, changedAt: now };
}

/** A 429, or any answer with a `Retry-After`: the receiver is alive and asks to be sent to more slowly. */
export function asksToSlowDown(result: Pick<SendResult, 'statusCode' | 'retryAfterMs'>): boolean {
  return result.statusCode === 429 || result.retryAfterMs !== undefined;
}
