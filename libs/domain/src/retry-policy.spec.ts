import { classifyAttempt, parseRetryAfter } from './attempt-outcome';
import { DEFAULT_RETRY_POLICY, MAX_RETRY_AFTER_MS, retryDelayMs, retryPolicySchema } from './retry-policy';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

describe('retry policy', () => {
  it('defaults to 8 attempts: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(DEFAULT_RETRY_POLICY.maxAttempts).toBe(8);
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => retryDelayMs(DEFAULT_RETRY_POLICY, attempt, 0.5));
    expect(delays).toEqual([5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
  });

  it('spreads delays by ±20 % jitter by default', () => {
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 2, 0)).toBe(4 * MINUTE);
    expect(retryDelayMs(DEFAULT_RETRY_POLICY, 2, 0.999999)).toBeCloseTo(6 * MINUTE, -2);
  });

  it('grows exponentially up to maxDelayMs when asked', () => {
    const policy = retryPolicySchema.parse({ maxAttempts: 10, initialDelayMs: 1000, multiplier: 3, maxDelayMs: 20_000, jitter: 0 });
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt))).toEqual([1000, 3000, 9000, 20_000]);
  });

  it('repeats the last delay of a short explicit schedule', () => {
    const policy = retryPolicySchema.parse({ maxAttempts: 5, schedule: [100, 200], jitter: 0 });
    expect([1, 2, 3, 4].map((attempt) => retryDelayMs(policy, attempt))).toEqual([100, 200, 200, 200]);
  });

  it.each([
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ schedule: [-1] }, 'schedule'],
    [{ jitter: 2 }, 'jitter'],
    [{ schedule: [1], initialDelayMs: 5 }, 'schedule'],
    [{ initialDelayMs: 10, maxDelayMs: 5 }, 'maxDelayMs'],
  ])('rejects %j naming %s', (input, field) => {
    const result = retryPolicySchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path[0])).toContain(field);
  });
});

describe('retry policy limits (docs/delivery.md, "Retry policy")', () => {
  const problemsOf = (input: unknown) => {
    const result = retryPolicySchema.safeParse(input);
    return result.success ? [] : result.error.issues.map((issue) => issue.path[0]);
  };

  it('takes 1 to 100 attempts in all and refuses more, naming maxAttempts', () => {
    expect(retryPolicySchema.parse({ maxAttempts: 100 }).maxAttempts).toBe(100);
    expect(problemsOf({ maxAttempts: 101 })).toEqual(['maxAttempts']);
  });

  it('takes non-retryable statuses from 300 to 599 only, naming nonRetryableStatuses', () => {
    expect(retryPolicySchema.parse({ nonRetryableStatuses: [300, 422, 599] }).nonRetryableStatuses).toEqual([300, 422, 599]);
    expect(problemsOf({ nonRetryableStatuses: [299] })).toEqual(['nonRetryableStatuses']);
    expect(problemsOf({ nonRetryableStatuses: [422, 600] })).toEqual(['nonRetryableStatuses']);
  });
});

describe('exponential retry defaults: 5 s, ×2, at most 10 h', () => {
  const delays = (input: Record<string, number>, attempts: number[]) => {
    const policy = retryPolicySchema.parse({ maxAttempts: 100, jitter: 0, ...input });
    return attempts.map((attempt) => retryDelayMs(policy, attempt));
  };

  it('grows ×2 from a given initialDelayMs up to 10 h', () => {
    // 1 s × 2^15 = 9.1 h; × 2^16 would be 18.2 h.
    expect(delays({ initialDelayMs: 1000 }, [1, 2, 3, 16, 17, 30])).toEqual([1000, 2000, 4000, 32_768_000, 10 * HOUR, 10 * HOUR]);
  });

  it('starts at 5 s with a given multiplier, up to 10 h', () => {
    // 5 s × 3^8 = 9.1 h; × 3^9 would be 27 h.
    expect(delays({ multiplier: 3 }, [1, 2, 3, 9, 10])).toEqual([5 * SECOND, 15 * SECOND, 45 * SECOND, 32_805_000, 10 * HOUR]);
  });

  it('starts at 5 s and doubles up to a given maxDelayMs', () => {
    expect(delays({ maxDelayMs: MINUTE }, [1, 2, 3, 4, 5, 6])).toEqual([5 * SECOND, 10 * SECOND, 20 * SECOND, 40 * SECOND, MINUTE, MINUTE]);
  });

  it('spreads an exponential delay by the default ±20 % jitter', () => {
    const policy = retryPolicySchema.parse({ initialDelayMs: 1000 });
    expect([0, 0.5, 0.999999].map((random) => retryDelayMs(policy, 2, random))).toEqual([1600, 2000, 2400]);
  });
});

describe('attempt classification', () => {
  const policy = retryPolicySchema.parse({ maxAttempts: 3, schedule: [1000], jitter: 0, nonRetryableStatuses: [422] });
  const now = new Date('2026-11-23T00:00:00Z');

  it('counts any 2xx as delivered', () => {
    expect(classifyAttempt({ statusCode: 204 }, 1, policy, now).kind).toBe('delivered');
  });

  it('retries 5xx, 3xx, other 4xx and network errors until attempts run out', () => {
    expect(classifyAttempt({ statusCode: 500 }, 1, policy, now)).toEqual({ kind: 'retry', delayMs: 1000, reason: 'HTTP 500' });
    expect(classifyAttempt({ statusCode: 302 }, 1, policy, now)).toMatchObject({ kind: 'retry', reason: 'redirect 302 (not followed)' });
    expect(classifyAttempt({ statusCode: 400 }, 2, policy, now).kind).toBe('retry');
    expect(classifyAttempt({ error: 'connection error (ECONNREFUSED)' }, 1, policy, now).kind).toBe('retry');
    expect(classifyAttempt({ statusCode: 500 }, 3, policy, now)).toEqual({ kind: 'failed', reason: 'HTTP 500; gave up after 3 attempts' });
  });

  it('fails at once on a status the destination lists as not retryable', () => {
    expect(classifyAttempt({ statusCode: 422 }, 1, policy, now)).toEqual({ kind: 'failed', reason: 'HTTP 422, not retryable' });
  });

  it('treats 410 Gone as the receiver asking to stop', () => {
    expect(classifyAttempt({ statusCode: 410 }, 1, policy, now).kind).toBe('gone');
  });

  it('waits at least Retry-After on 429 and 503, clamped to the maximum', () => {
    expect(classifyAttempt({ statusCode: 429, retryAfter: '30' }, 1, policy, now)).toMatchObject({ kind: 'retry', delayMs: 30_000 });
    expect(classifyAttempt({ statusCode: 503, retryAfter: 'Mon, 23 Nov 2026 00:02:00 GMT' }, 1, policy, now)).toMatchObject({ delayMs: 120_000 });
    expect(classifyAttempt({ statusCode: 429, retryAfter: String(24 * 3600) }, 1, policy, now)).toMatchObject({ delayMs: MAX_RETRY_AFTER_MS });
    expect(classifyAttempt({ statusCode: 500, retryAfter: '30' }, 1, policy, now)).toMatchObject({ delayMs: 1000 });
  });

  it('reads Retry-After as seconds or an HTTP date and ignores nonsense', () => {
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});
