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
