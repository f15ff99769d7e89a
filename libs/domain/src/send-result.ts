/**
 * What a kind's sender makes of one attempt, in words every kind shares:
 * - `delivered`: the peer took it;
 * - `transient`: it may work later (retried per the destination's policy);
 * - `permanent`: it will not work (the delivery fails at once);
 * - `gone`: the destination no longer exists (the delivery fails and the destination is disabled).
 */
export type SendVerdict = 'delivered' | 'transient' | 'permanent' | 'gone';

/**
 * What a kind knows for sure about why an attempt failed, when its status code and error do
 * not say it (see failureCategory): the egress guard refused the address.
 */
export type SendFailure = 'egress_refused';

export type SendResult = {
  verdict: SendVerdict;
  /** The peer asked to wait at least this long before the next attempt. */
  retryAfterMs?: number;
  durationMs: number;
  /** The protocol's own reply code, where it has one (HTTP status, SMTP reply code…). */
  statusCode?: number;
  /** The start of the peer's reply, as text. */
  reply?: string;
  /** Why there was no reply (timeout, connection error…); recorded with the attempt. */
  error?: string;
  /** Why it was not delivered, in a few words, when the peer replied (`HTTP 500`). */
  reason?: string;
  /** Why it failed, when the kind knows it for sure (the egress guard refused the address). */
  failure?: SendFailure;
};

/** Text a peer sent, made safe to store: no NUL characters (PostgreSQL text cannot hold them). */
export function storableText(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}
