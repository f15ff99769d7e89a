import { FAILURE_CATEGORIES, failureCategory } from './failure-category';
import type { SendResult } from './send-result';

const EGRESS_MESSAGE =
  'Dispatch does not connect to loopback, private, link-local or other non-public addresses unless DISPATCH_EGRESS_ALLOW lists a range that holds them';

/** The last attempt of a delivery that failed for good, as a kind's sender answered it. */
function lastAttempt(result: Omit<SendResult, 'durationMs'>): SendResult {
  return { durationMs: 12, ...result };
}

describe('failureCategory', () => {
  const sut = failureCategory;

  it.each([
    ['a webhook answered 404, listed as not retryable', { verdict: 'permanent', statusCode: 404, reason: 'HTTP 404, not retryable', reply: 'no such hook' }],
    ['a webhook kept answering 429 until attempts ran out', { verdict: 'transient', statusCode: 429, reason: 'HTTP 429', retryAfterMs: 1000 }],
    ['a webhook answered 410 Gone', { verdict: 'gone', statusCode: 410, reason: 'receiver answered 410 Gone' }],
    ['an email provider refused the message (422)', { verdict: 'permanent', statusCode: 422, reason: 'HTTP 422' }],
    ['an object store refused the credentials (403)', { verdict: 'permanent', statusCode: 403, reason: 'AccessDenied', error: 'AccessDenied: Access Denied' }],
    ['a broker has no such exchange (AMQP 404)', { verdict: 'permanent', statusCode: 404, error: 'NOT_FOUND - no exchange "orders"' }],
    ['an SMTP server kept answering 421 (try later)', { verdict: 'transient', statusCode: 421, reason: 'SMTP 421' }],
  ] as const)('receiver_4xx: %s', (_, result) => {
    expect(sut(lastAttempt(result))).toBe('receiver_4xx');
  });

  it.each([
    ['a webhook kept answering 503', { verdict: 'transient', statusCode: 503, reason: 'HTTP 503', reply: 'down for maintenance' }],
    ['a webhook answered 500, listed as not retryable', { verdict: 'permanent', statusCode: 500, reason: 'HTTP 500, not retryable' }],
    ['an SMTP server refused the mailbox (550)', { verdict: 'permanent', statusCode: 550, reason: 'SMTP 550', reply: '550 5.1.1 no such user' }],
    ['an email provider kept failing (502)', { verdict: 'transient', statusCode: 502, reason: 'HTTP 502' }],
  ] as const)('receiver_5xx: %s', (_, result) => {
    expect(sut(lastAttempt(result))).toBe('receiver_5xx');
  });

  it.each([
    ['a webhook timed out waiting for headers', { verdict: 'transient', error: 'timeout (UND_ERR_HEADERS_TIMEOUT): Headers Timeout Error' }],
    ['a closed port', { verdict: 'transient', error: 'connection error (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9' }],
    ['a name that does not resolve', { verdict: 'transient', error: 'connection error (ENOTFOUND): getaddrinfo ENOTFOUND hooks.example' }],
    [
      'a TLS certificate the worker does not trust',
      { verdict: 'transient', error: 'tls error (SELF_SIGNED_CERT_IN_CHAIN): self-signed certificate in certificate chain' },
    ],
    ['a sender that threw', { verdict: 'transient', error: 'error: something broke' }],
    ['an MQTT broker kept answering quota exceeded (0x97, not an HTTP-like code)', { verdict: 'transient', statusCode: 0x97, error: 'Quota exceeded' }],
  ] as const)('timeout_or_network: %s', (_, result) => {
    expect(sut(lastAttempt(result))).toBe('timeout_or_network');
  });

  it.each([
    ['the kind says so', { verdict: 'transient', error: 'connection error: refused', failure: 'egress_refused' }],
    [
      'a literal address, in the text only',
      { verdict: 'transient', error: `connection error (EGRESS_NOT_ALLOWED): 10.0.0.1 is not an allowed address: ${EGRESS_MESSAGE}` },
    ],
    [
      'a name resolving to loopback, as a broker kind reports it',
      { verdict: 'transient', error: `localhost resolves to an address that is not allowed: ${EGRESS_MESSAGE}` },
    ],
    ['refused before connecting, a failure at once (MQTT)', { verdict: 'permanent', error: `127.0.0.1 is not an allowed address: ${EGRESS_MESSAGE}` }],
  ] as const)('egress_refused: %s', (_, result) => {
    expect(sut(lastAttempt(result))).toBe('egress_refused');
  });

  it.each([
    ['a topic template the event cannot fill (MQTT)', { verdict: 'permanent', error: 'topic: {data.region} is not in the event' }],
    ['SMTP credentials refused', { verdict: 'permanent', error: 'authentication failed: 535 invalid login' }],
    ['SFTP directory missing', { verdict: 'permanent', error: 'directory /in does not exist (and createDirectories is false)' }],
    ['an MQTT broker refused the credentials (0x87)', { verdict: 'permanent', statusCode: 0x87, error: 'Not authorized' }],
    ['a file that cannot be named (download)', { verdict: 'permanent', error: 'data.fileId: file_123 does not exist' }],
    ['a websocket subject the event does not give', { verdict: 'permanent', error: 'subject: data.userId is not a string' }],
    ['a webhook kept redirecting', { verdict: 'transient', statusCode: 301, reason: 'redirect 301 (not followed)' }],
  ] as const)('configuration: %s', (_, result) => {
    expect(sut(lastAttempt(result))).toBe('configuration');
  });

  it('the status a receiver answered comes before the text of the error', () => {
    expect(sut(lastAttempt({ verdict: 'permanent', statusCode: 502, error: 'proxy: upstream is not an allowed address' }))).toBe('receiver_5xx');
  });

  it('names only the categories the dead letters are grouped by', () => {
    expect(FAILURE_CATEGORIES).toEqual(['receiver_4xx', 'receiver_5xx', 'timeout_or_network', 'egress_refused', 'configuration']);
  });
});
