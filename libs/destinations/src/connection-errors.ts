import type { SendResult } from '@dispatch/domain';

const CONNECTION_CODES = new Set([
  'EGRESS_NOT_ALLOWED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/;

/** A short, secret-free description of why a request failed, starting with its class. */
export function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null || !('message' in error)) return `error: ${String(error)}`;
  const failure = error as { name?: string; message: string; code?: string; cause?: { code?: string; message?: string } };
  const code = failure.code ?? failure.cause?.code;
  const message = failure.cause?.message ?? failure.message;
  if (failure.name === 'TimeoutError' || (code && TIMEOUT_CODES.has(code))) return `timeout${code ? ` (${code})` : ''}: ${message}`;
  if (code && TLS_CODE.test(code)) return `tls error (${code}): ${message}`;
  if (code && CONNECTION_CODES.has(code)) return `connection error (${code}): ${message}`;
  return `error${code ? ` (${code})` : ''}: ${message}`;
}

/**
 * `{ failure: 'egress_refused' }` when the egress guard refused the connection (the error, or
 * an error it was caused by, is its `EgressRefusedError`), else nothing: for a kind to spread
 * into the result of a failed attempt, so the dead letter's category need not be read from text.
 */
export function egressFailure(error: unknown): Pick<SendResult, 'failure'> {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    if ((current as { code?: unknown }).code === 'EGRESS_NOT_ALLOWED') return { failure: 'egress_refused' };
    current = (current as { cause?: unknown }).cause;
  }
  return {};
}
