import { httpVerdict, parseRetryAfter } from './verdict';

describe("what a webhook receiver's HTTP answer means", () => {
  const now = new Date('2026-11-23T00:00:00Z');
  const verdict = (statusCode: number, retryAfter: string | null = null, nonRetryable: number[] = [422]) => httpVerdict({ statusCode, retryAfter }, nonRetryable, now);

  it('counts any 2xx as delivered', () => {
    expect(verdict(200)).toEqual({ verdict: 'delivered' });
    expect(verdict(204)).toEqual({ verdict: 'delivered' });
  });

  it('retries 5xx, 3xx (never followed) and other 4xx', () => {
    expect(verdict(500)).toEqual({ verdict: 'transient', reason: 'HTTP 500' });
    expect(verdict(302)).toEqual({ verdict: 'transient', reason: 'redirect 302 (not followed)' });
    expect(verdict(400)).toEqual({ verdict: 'transient', reason: 'HTTP 400' });
  });

  it('fails at once on a status the destination lists as not retryable', () => {
    expect(verdict(422)).toEqual({ verdict: 'permanent', reason: 'HTTP 422, not retryable' });
    expect(verdict(422, null, [])).toEqual({ verdict: 'transient', reason: 'HTTP 422' });
  });

  it('takes 410 Gone as the receiver asking to stop', () => {
    expect(verdict(410)).toEqual({ verdict: 'gone', reason: 'receiver answered 410 Gone' });
  });

  it('reads Retry-After on 429 and 503 only', () => {
    expect(verdict(429, '30')).toEqual({ verdict: 'transient', reason: 'HTTP 429', retryAfterMs: 30_000 });
    expect(verdict(503, 'Mon, 23 Nov 2026 00:02:00 GMT')).toMatchObject({ retryAfterMs: 120_000 });
    expect(verdict(500, '30')).toEqual({ verdict: 'transient', reason: 'HTTP 500' });
  });

  it('reads Retry-After as seconds or an HTTP date and ignores nonsense', () => {
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});
