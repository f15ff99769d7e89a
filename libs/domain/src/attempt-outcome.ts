import { MAX_RETRY_AFTER_MS, RetryPolicy, retryDelayMs } from './retry-policy';

/** What one attempt's answer means for its delivery. */
export type AttemptOutcome =
  | { kind: 'delivered' }
  | { kind: 'retry'; delayMs: number; reason: string }
  | { kind: 'failed'; reason: string }
  | { kind: 'gone'; reason: string };

export type AttemptResult =
  | { statusCode: number; retryAfter?: string | null }
  | { error: string };

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now.getTime());
}

/**
 * Classifies the result of attempt `attemptNumber`: any 2xx is delivered; 410 fails the
 * delivery and disables the destination; statuses the policy lists fail at once; everything
 * else is retried until the policy's attempts run out. 429 and 503 wait at least `Retry-After`.
 */
export function classifyAttempt(
  result: AttemptResult,
  attemptNumber: number,
  policy: RetryPolicy,
  now: Date = new Date(),
  random: number = Math.random(),
): AttemptOutcome {
  if ('statusCode' in result) {
    const status = result.statusCode;
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    if (status === 410) return { kind: 'gone', reason: 'receiver answered 410 Gone' };
    const reason = status >= 300 && status < 400 ? `redirect ${status} (not followed)` : `HTTP ${status}`;
    if (policy.nonRetryableStatuses.includes(status)) return { kind: 'failed', reason: `${reason}, not retryable` };
    return retryOrFail(reason, attemptNumber, policy, random, status === 429 || status === 503 ? parseRetryAfter(result.retryAfter, now) : null);
  }
  return retryOrFail(result.error, attemptNumber, policy, random, null);
}

function retryOrFail(
  reason: string,
  attemptNumber: number,
  policy: RetryPolicy,
  random: number,
  retryAfterMs: number | null,
): AttemptOutcome {
  if (attemptNumber >= policy.maxAttempts) {
    return { kind: 'failed', reason: `${reason}; gave up after ${attemptNumber} attempt${attemptNumber === 1 ? '' : 's'}` };
  }
  const scheduled = retryDelayMs(policy, attemptNumber, random);
  const delayMs = retryAfterMs === null ? scheduled : Math.max(scheduled, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
  return { kind: 'retry', delayMs, reason };
}
