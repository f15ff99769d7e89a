import type { SendResult } from './send-result';

/** Why a delivery failed for good, whatever its destination's kind; the dead letters are grouped by it. */
export const FAILURE_CATEGORIES = ['receiver_4xx', 'receiver_5xx', 'timeout_or_network', 'egress_refused', 'configuration'] as const;
export type FailureCategory = (typeof FAILURE_CATEGORIES)[number];

/**
 * What the egress guard's refusal says (`EgressRefusedError` in libs/destinations: its code, and
 * the two ways its message starts), for a kind that passes on only the text of the error.
 */
const EGRESS_REFUSAL = /EGRESS_NOT_ALLOWED|is not an allowed address|resolves to an address that is not allowed/;

/**
 * The category of a delivery that failed for good (dead letter), from the result of its last
 * attempt, in this order:
 * 1. `failure`, when the kind said it (the egress guard's refusal);
 * 2. `receiver_4xx` / `receiver_5xx`: the peer answered with a status in 400–499 / 500–599
 *    (HTTP for webhooks, email providers and object stores; SMTP and AMQP reply codes, which
 *    follow the same ranges): the receiver refused it, or broke;
 * 3. `egress_refused`: the error is the egress guard's refusal (the address the destination
 *    names, or what its name resolves to, is one destinations may not reach);
 * 4. `configuration`: a redirect (300–399: the destination names an address that moved), or a
 *    failure at once (`permanent` or `gone`) without such a status: what the destination's
 *    settings ask cannot be done (a template the event cannot fill, credentials the peer
 *    refuses, a target that does not exist, a file that cannot be named or sent…);
 * 5. `timeout_or_network`: what is left, attempts that ran out on passing troubles (timeouts,
 *    refused or reset connections, names that do not resolve, TLS errors, a sender that threw).
 */
export function failureCategory(result: Pick<SendResult, 'verdict' | 'statusCode' | 'error' | 'failure'>): FailureCategory {
  if (result.failure) return result.failure;
  const status = result.statusCode;
  if (status !== undefined && status >= 400 && status <= 499) return 'receiver_4xx';
  if (status !== undefined && status >= 500 && status <= 599) return 'receiver_5xx';
  if (result.error !== undefined && EGRESS_REFUSAL.test(result.error)) return 'egress_refused';
  if (status !== undefined && status >= 300 && status <= 399) return 'configuration';
  if (result.verdict === 'permanent' || result.verdict === 'gone') return 'configuration';
  return 'timeout_or_network';
}
