import { MAX_RETRY_AFTER_MS, RetryPolicy, retryDelayMs } from './retry-policy';
import type { SendResult } from './send-result';

/** What one attempt means for its delivery. */
export type AttemptOutcome =
  { kind: 'delivered' } | { kind: 'retry'; delayMs: number; reason: string } | { kind: 'failed'; reason: string } | { kind: 'gone'; reason: string };

/**
 * Decides what attempt `attemptNumber` means for its delivery, from its kind's verdict:
 * `delivered`; `gone` fails the delivery and disables the destination; `permanent` fails it
 * at once; `transient` is retried until the policy's attempts run out, no sooner than the
 * peer's `retryAfterMs` (at most 6 hours) nor than the policy says.
 */
export function classifyAttempt(
  result: Pick<SendResult, 'verdict' | 'retryAfterMs' | 'error' | 'reason'>,
  attemptNumber: number,
  policy: RetryPolicy,
  random: number = Math.random(),
): AttemptOutcome {
  const reason = result.reason ?? result.error ?? 'not delivered';
  switch (result.verdict) {
    case 'delivered':
      return { kind: 'delivered' };
    case 'gone':
      return { kind: 'gone', reason };
    case 'permanent':
      return { kind: 'failed', reason };
    case 'transient':
      return retryOrFail(reason, attemptNumber, policy, random, result.retryAfterMs ?? null);
  }
}

function retryOrFail(reason: string, attemptNumber: number, policy: RetryPolicy, random: number, retryAfterMs: number | null): AttemptOutcome {
  if (attemptNumber >= policy.maxAttempts) {
    return { kind: 'failed', reason: `${reason}; gave up after ${attemptNumber} attempt${attemptNumber === 1 ? '' : 's'}` };
  }
  const scheduled = retryDelayMs(policy, attemptNumber, random);
  const delayMs = retryAfterMs === null ? scheduled : Math.max(scheduled, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
  return { kind: 'retry', delayMs, reason };
}
