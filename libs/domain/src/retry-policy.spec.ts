import { classifyAttempt } from './attempt-outcome';
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

describe("what an attempt means for its delivery, from its kind's verdict", () => {
  const policy = retryPolicySchema.parse({ maxAttempts: 3, schedule: [1000], jitter: 0 });

  it('delivers on `delivered`', () => {
    expect(classifyAttempt({ verdict: 'delivered' }, 1, policy)).toEqual({ kind: 'delivered' });
  });

  it('retries `transient` failures after the policy delay until attempts run out', () => {
    expect(classifyAttempt({ verdict: 'transient', reason: 'HTTP 500' }, 1, policy)).toEqual({ kind: 'retry', delayMs: 1000, reason: 'HTTP 500' });
    expect(classifyAttempt({ verdict: 'transient', error: 'connection error (ECONNREFUSED)' }, 2, policy)).toMatchObject({
      kind: 'retry',
      reason: 'connection error (ECONNREFUSED)',
    });
    expect(classifyAttempt({ verdict: 'transient', reason: 'HTTP 500' }, 3, policy)).toEqual({ kind: 'failed', reason: 'HTTP 500; gave up after 3 attempts' });
  });

  it('fails at once on `permanent`, and disables the destination on `gone`', () => {
    expect(classifyAttempt({ verdict: 'permanent', reason: 'HTTP 422, not retryable' }, 1, policy)).toEqual({ kind: 'failed', reason: 'HTTP 422, not retryable' });
    expect(classifyAttempt({ verdict: 'gone', reason: 'receiver answered 410 Gone' }, 1, policy)).toEqual({ kind: 'gone', reason: 'receiver answered 410 Gone' });
  });

  it("waits no sooner than the peer's retry-after nor than the policy, at most 6 hours", () => {
    expect(classifyAttempt({ verdict: 'transient', retryAfterMs: 30_000 }, 1, policy)).toMatchObject({ kind: 'retry', delayMs: 30_000 });
    expect(classifyAttempt({ verdict: 'transient', retryAfterMs: 10 }, 1, policy)).toMatchObject({ delayMs: 1000 });
    expect(classifyAttempt({ verdict: 'transient', retryAfterMs: 24 * HOUR }, 1, policy)).toMatchObject({ delayMs: MAX_RETRY_AFTER_MS });
    expect(MAX_RETRY_AFTER_MS).toBe(6 * HOUR);
  });
});
