import type { SendResult } from '@dispatch/domain';

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
 * What an HTTP answer means: any 2xx is delivered; 410 Gone asks Dispatch to stop; a status the
 * destination lists in `nonRetryableStatuses` fails at once; everything else may work later,
 * and 429 and 503 say no sooner than `Retry-After`. Redirects are never followed.
 */
export function httpVerdict(
  answer: { statusCode: number; retryAfter: string | null },
  nonRetryableStatuses: readonly number[],
  now: Date = new Date(),
): Pick<SendResult, 'verdict' | 'reason' | 'retryAfterMs'> {
  const status = answer.statusCode;
  if (status >= 200 && status < 300) return { verdict: 'delivered' };
  if (status === 410) return { verdict: 'gone', reason: 'receiver answered 410 Gone' };
  const reason = status >= 300 && status < 400 ? `redirect ${status} (not followed)` : `HTTP ${status}`;
  if (nonRetryableStatuses.includes(status)) return { verdict: 'permanent', reason: `${reason}, not retryable` };
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(answer.retryAfter, now) : null;
  return { verdict: 'transient', reason, ...(retryAfterMs === null ? {} : { retryAfterMs }) };
}
