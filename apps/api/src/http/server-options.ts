import type { DispatchConfig } from '@dispatch/config';
import { BODY_LIMIT_BYTES } from './json-body';

/**
 * What a client may send the API and how long it may take. A request whose headers and body
 * have not all arrived `DISPATCH_REQUEST_TIMEOUT_MS` after it began is answered 408 and its
 * connection closed, whether the client trickles or stalls; a connection on which nothing
 * moves either way is closed once that time and the longest wait of a route (a destination
 * test) have passed. A request's client address (`request.ip`, what the per-address rate limit
 * counts) is the peer's, unless the peer is a proxy of `DISPATCH_TRUST_PROXY`: then it is the
 * address that proxy names in `X-Forwarded-For`.
 */
export function serverOptions(config: DispatchConfig) {
  const timeoutMs = config.requestTimeoutMs;
  return {
    bodyLimit: BODY_LIMIT_BYTES,
    // A path parameter longer than this is answered 404 by the router (100 unless told), before any
    // schema sees it: event ids go to 255 characters and live subjects to 200.
    routerOptions: { maxParamLength: 1_000 },
    trustProxy: config.trustedProxies.length > 0 ? [...config.trustedProxies] : false,
    requestTimeout: timeoutMs,
    connectionTimeout: timeoutMs + config.attempts.timeoutMs,
    http: {
      requestTimeout: timeoutMs,
      headersTimeout: timeoutMs,
      // Node looks for late requests this often (30 s unless told).
      connectionsCheckingInterval: Math.min(1_000, timeoutMs),
    },
  };
}
