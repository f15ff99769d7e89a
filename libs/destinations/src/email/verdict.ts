import type { SendResult } from '@dispatch/domain';
import { describeError, egressFailure } from '../connection-errors';
import { UndeliverableFileError } from '../files/delivered-file';
import { parseRetryAfter } from '../webhook/verdict';

/** An email that cannot be sent as the config and the event stand (a binary file inline, a file over a provider's limit): permanent. */
export class UnsendableEmailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsendableEmailError';
  }
}

type Verdict = Omit<SendResult, 'durationMs'>;

/** What nodemailer's SMTP errors carry besides a message. */
type SmtpError = { code?: string; responseCode?: number; response?: string; command?: string };

/**
 * What an SMTP attempt's failure means. The server's reply decides when there is one: 4xx
 * (mailbox busy, greylisting, try later) may work later; 5xx (no such user, message refused,
 * authentication failed 535) will not. A refused login without a reply code (no AUTH offered)
 * is permanent too. No reply (refused, reset, timed out, TLS failed) is retried.
 */
export function smtpFailure(error: unknown): Verdict {
  const early = notSendable(error);
  if (early) return early;
  const failure = (typeof error === 'object' && error !== null ? error : {}) as SmtpError & { message?: string };
  const code = failure.responseCode;
  if (code !== undefined && code >= 400 && code < 600) {
    const reply = failure.response?.slice(0, 1000);
    return { verdict: code >= 500 ? 'permanent' : 'transient', statusCode: code, reason: `SMTP ${code}`, ...(reply ? { reply } : {}) };
  }
  if (failure.code === 'EAUTH') return { verdict: 'permanent', error: `authentication failed: ${failure.message ?? 'the server refused the login'}` };
  return { verdict: 'transient', error: describeError(error), ...egressFailure(error) };
}

/** What a provider's HTTP answer means: 2xx delivered; 408, 429 and 5xx may work later (after `Retry-After`); any other 4xx (a bad key, a refused message) will not. */
export function providerVerdict(statusCode: number, retryAfter: string | null, now: Date = new Date()): Verdict {
  if (statusCode >= 200 && statusCode < 300) return { verdict: 'delivered', statusCode };
  const reason = `HTTP ${statusCode}`;
  if (statusCode === 408 || statusCode === 429 || statusCode >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return { verdict: 'transient', statusCode, reason, ...(retryAfterMs === null ? {} : { retryAfterMs }) };
  }
  return { verdict: 'permanent', statusCode, reason };
}

/** A failure before or without an answer from a provider: the email could not be made, or the provider was not reached (retried). */
export function providerFailure(error: unknown): Verdict {
  return notSendable(error) ?? { verdict: 'transient', error: describeError(error), ...egressFailure(error) };
}

function notSendable(error: unknown): Verdict | null {
  if (error instanceof UndeliverableFileError || error instanceof UnsendableEmailError) return { verdict: 'permanent', error: error.message };
  return null;
}
