import type { SendResult } from '@dispatch/domain';
import { virtualHost, type RabbitmqConfig } from './config';

/** What a failed attempt records: its verdict, a message without credentials, and the broker's reply code when it sent one. */
export type BrokerFailure = Pick<SendResult, 'verdict' | 'error' | 'statusCode'>;

/** Reply codes by which the broker refuses what was asked of it for good: access refused, not found, precondition failed (a message too large). */
const PERMANENT_REPLY_CODES = new Set([403, 404, 406]);

const CONNECTION_CODES = new Set(['EGRESS_NOT_ALLOWED', 'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE']);

/**
 * What a failure reported by amqplib means, as one of these shapes:
 * - the handshake refused (`Handshake terminated by server: 403 …`): bad credentials, permanent;
 * - the broker closed the connection instead of opening the virtual host: it does not exist or
 *   the user may not use it, permanent;
 * - a channel closed by the broker, or a method it refused (`code` is its reply code): 403, 404
 *   (a missing exchange) and 406 (a message larger than it takes) are permanent, others transient;
 * - anything else (a refused or dropped connection, a timeout, the egress guard): transient.
 */
export function brokerFailure(error: unknown, config: RabbitmqConfig): BrokerFailure {
  const failure = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as { message?: string; code?: unknown };
  const message = withoutCredentials(failure.message ?? String(error), config);
  const refusedLogin = /^Handshake terminated by server: (\d+) \(([A-Z-]+)\)/.exec(message);
  if (refusedLogin) {
    const replyCode = Number(refusedLogin[1]);
    if (replyCode === 403) return { verdict: 'permanent', statusCode: 403, error: `the broker refused the credentials: ${serverText(message)}` };
    return { verdict: 'transient', statusCode: replyCode, error: `the broker ended the handshake: ${serverText(message)}` };
  }
  if (/^Expected ConnectionOpenOk; got <ConnectionClose/.test(message)) {
    return { verdict: 'permanent', error: `the broker refused to open virtual host "${virtualHost(config)}": it does not exist or this user may not use it` };
  }
  if (typeof failure.code === 'number') {
    const permanent = PERMANENT_REPLY_CODES.has(failure.code);
    const hint = failure.code === 404 ? ' (the exchange must exist: Dispatch does not declare it)' : '';
    return { verdict: permanent ? 'permanent' : 'transient', statusCode: failure.code, error: `${serverText(message)}${hint}` };
  }
  if (typeof failure.code === 'string' && CONNECTION_CODES.has(failure.code)) return { verdict: 'transient', error: `connection error (${failure.code}): ${message}` };
  // amqplib's words for a connection that ends before the broker opened it.
  if (/^Socket closed abruptly/.test(message)) return { verdict: 'transient', error: `connection error: ${message}` };
  if (/ETIMEDOUT/.test(message)) return { verdict: 'transient', error: `timeout: ${message}` };
  return { verdict: 'transient', error: `error: ${message}` };
}

/** The broker's own words in an amqplib message (`… with message "NOT_FOUND - no exchange …"`), or the whole message. */
function serverText(message: string): string {
  return /with message "(.*)"$/s.exec(message)?.[1] ?? message;
}

/**
 * `text` with the destination's credentials replaced: the broker names the user (quoted) when it
 * refuses a virtual host or an exchange; a password never shows, but is removed all the same.
 */
export function withoutCredentials(text: string, config: Pick<RabbitmqConfig, 'username' | 'password'>): string {
  let result = text;
  if (config.username) result = result.replaceAll(`'${config.username}'`, "'********'").replaceAll(`"${config.username}"`, '"********"');
  if (config.password) result = result.replaceAll(config.password, '********');
  return result;
}
