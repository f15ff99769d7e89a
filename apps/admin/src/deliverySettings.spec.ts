import { describe, expect, it } from '@jest/globals';
import {
  circuitBreakerForm,
  circuitBreakerFromForm,
  DEFAULT_CIRCUIT_BREAKER,
  parseNumberList,
  rateLimitForm,
  rateLimitFromForm,
  retryForm,
  retryPolicyFromForm,
} from './deliverySettings';

describe('rate limit', () => {
  it('is none when the box is not ticked, whatever was typed', () => {
    expect(rateLimitFromForm({ limited: false, max: '5', durationMs: '1000', adaptive: true })).toEqual({ value: null, problems: [] });
  });

  it('sends max per duration as numbers, including ones the API refuses, and whether it is adaptive', () => {
    expect(rateLimitFromForm({ limited: true, max: '5', durationMs: '1000', adaptive: false }).value).toEqual({ max: 5, durationMs: 1000, adaptive: false });
    expect(rateLimitFromForm({ limited: true, max: '0', durationMs: '1000', adaptive: true }).value).toEqual({ max: 0, durationMs: 1000, adaptive: true });
  });

  it('names a blank field of a limit', () => {
    expect(rateLimitFromForm({ limited: true, max: '', durationMs: '1000', adaptive: false }).problems).toEqual([
      { path: 'rateLimit.max', message: 'is required for a rate limit' },
    ]);
  });

  it('round-trips a stored limit and none; a stored limit without adaptive is not adaptive', () => {
    expect(rateLimitFromForm(rateLimitForm({ max: 3, durationMs: 60000, adaptive: true })).value).toEqual({ max: 3, durationMs: 60000, adaptive: true });
    expect(rateLimitFromForm(rateLimitForm({ max: 3, durationMs: 60000 })).value).toEqual({ max: 3, durationMs: 60000, adaptive: false });
    expect(rateLimitFromForm(rateLimitForm(null)).value).toBeNull();
  });

  it("starts a new destination's form at the API's default: 100 a second, fixed", () => {
    expect(rateLimitForm(undefined)).toEqual({ limited: true, max: '100', durationMs: '1000', adaptive: false });
  });
});

describe('circuit breaker', () => {
  it('shows the defaults for a destination without one, and a stored one as it is', () => {
    expect(circuitBreakerFromForm(circuitBreakerForm(undefined))).toEqual({ value: DEFAULT_CIRCUIT_BREAKER, problems: [] });
    const stored = { ...DEFAULT_CIRCUIT_BREAKER, enabled: false, failureThreshold: 3, failureRateThreshold: 0.25 };
    expect(circuitBreakerForm(stored)).toMatchObject({ enabled: false, failureThreshold: '3', failureRateThreshold: '0.25' });
    expect(circuitBreakerFromForm(circuitBreakerForm(stored)).value).toEqual(stored);
  });

  it('leaves a blank number out (its default applies) and names one that is not a number', () => {
    const form = { ...circuitBreakerForm(undefined), windowMs: '', halfOpenMaxCalls: 'many' };
    const { value, problems } = circuitBreakerFromForm(form);
    expect(value).not.toHaveProperty('windowMs');
    expect(problems).toEqual([{ path: 'circuitBreaker.halfOpenMaxCalls', message: 'must be a number' }]);
  });
});

describe('retry policy', () => {
  it('reads a stored policy with the default schedule', () => {
    const form = retryForm({ maxAttempts: 8, jitter: 0.2, nonRetryableStatuses: [] });
    expect(form).toMatchObject({ maxAttempts: '8', backoff: 'default', jitter: '0.2', nonRetryableStatuses: '' });
    expect(retryPolicyFromForm(form)).toEqual({ value: { maxAttempts: 8, jitter: 0.2, nonRetryableStatuses: [] }, problems: [] });
  });

  it('reads and sends a fixed schedule', () => {
    const form = retryForm({ maxAttempts: 3, schedule: [1000, 5000], jitter: 0, nonRetryableStatuses: [422] });
    expect(form).toMatchObject({ backoff: 'schedule', schedule: '1000, 5000', nonRetryableStatuses: '422' });
    expect(retryPolicyFromForm({ ...form, schedule: '100,200 , 300' }).value).toEqual({
      maxAttempts: 3,
      schedule: [100, 200, 300],
      jitter: 0,
      nonRetryableStatuses: [422],
    });
  });

  it('reads and sends exponential backoff, without the schedule', () => {
    const form = retryForm({ maxAttempts: 5, initialDelayMs: 1000, multiplier: 3, jitter: 0.1, nonRetryableStatuses: [] });
    expect(form).toMatchObject({ backoff: 'exponential', initialDelayMs: '1000', multiplier: '3', maxDelayMs: '' });
    expect(retryPolicyFromForm({ ...form, schedule: '1, 2' }).value).toEqual({
      maxAttempts: 5,
      initialDelayMs: 1000,
      multiplier: 3,
      jitter: 0.1,
      nonRetryableStatuses: [],
    });
  });

  it('offers the documented exponential defaults when switching to it', () => {
    const form = { ...retryForm({ maxAttempts: 8 }), backoff: 'exponential' as const };
    expect(retryPolicyFromForm(form).value).toMatchObject({ initialDelayMs: 5000, multiplier: 2, maxDelayMs: 36_000_000 });
  });

  it('leaves blank fields out, so the API defaults apply, and sends numbers the API refuses (0 attempts)', () => {
    expect(retryPolicyFromForm(retryForm(null)).value).toEqual({ nonRetryableStatuses: [] });
    expect(retryPolicyFromForm({ ...retryForm(null), maxAttempts: '0' }).value).toEqual({ maxAttempts: 0, nonRetryableStatuses: [] });
  });

  it('names lists it cannot read', () => {
    const form = { ...retryForm(null), backoff: 'schedule' as const, schedule: '1000, soon', nonRetryableStatuses: '4xx' };
    expect(retryPolicyFromForm(form).problems).toEqual([
      { path: 'retryPolicy.schedule', message: 'must be delays in milliseconds, separated by commas' },
      { path: 'retryPolicy.nonRetryableStatuses', message: 'must be HTTP status codes, separated by commas' },
    ]);
  });
});

describe('parseNumberList', () => {
  it('reads commas and spaces, and refuses anything but numbers', () => {
    expect(parseNumberList('')).toEqual([]);
    expect(parseNumberList('1, 2,3 4')).toEqual([1, 2, 3, 4]);
    expect(parseNumberList('1, x')).toBeNull();
  });
});
