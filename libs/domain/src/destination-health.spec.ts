import { attemptHealth, autoDisableReason, HealthFacts, healthStatus, recentAverageResponseMs, ResponseWindows, spokenDuration } from './destination-health';

const MINUTE = 60_000;

describe('destination health', () => {
  const facts = (overrides: Partial<HealthFacts> = {}): HealthFacts => ({
    enabled: true,
    circuit: 'closed',
    consecutiveFailures: 0,
    recentAverageResponseMs: null,
    responseTimeThresholdMs: 30_000,
    ...overrides,
  });

  describe('status', () => {
    it('is healthy with no failures and no slow answers', () => {
      expect(healthStatus(facts())).toBe('healthy');
      expect(healthStatus(facts({ recentAverageResponseMs: 30_000 }))).toBe('healthy');
    });

    it('is degraded with 1 or 2 consecutive failures', () => {
      expect(healthStatus(facts({ consecutiveFailures: 1 }))).toBe('degraded');
      expect(healthStatus(facts({ consecutiveFailures: 2 }))).toBe('degraded');
    });

    it('is degraded when the average response time of the last 15 minutes is above the threshold', () => {
      expect(healthStatus(facts({ recentAverageResponseMs: 30_001 }))).toBe('degraded');
      expect(healthStatus(facts({ recentAverageResponseMs: 600, responseTimeThresholdMs: 500 }))).toBe('degraded');
      expect(healthStatus(facts({ recentAverageResponseMs: 600_000, responseTimeThresholdMs: null }))).toBe('healthy');
    });

    it('is unhealthy from 3 consecutive failures, or while the circuit is open or half-open', () => {
      expect(healthStatus(facts({ consecutiveFailures: 3 }))).toBe('unhealthy');
      expect(healthStatus(facts({ circuit: 'open' }))).toBe('unhealthy');
      expect(healthStatus(facts({ circuit: 'half-open', recentAverageResponseMs: 1 }))).toBe('unhealthy');
    });

    it('is disabled when the destination is disabled, whatever else holds', () => {
      expect(healthStatus(facts({ enabled: false, circuit: 'open', consecutiveFailures: 9 }))).toBe('disabled');
    });
  });

  describe('what an attempt counts as', () => {
    it('counts a delivered attempt as a success and other answers as failures', () => {
      expect(attemptHealth({ statusCode: 200 }, { kind: 'delivered' })).toBe('success');
      expect(attemptHealth({ statusCode: 500 }, { kind: 'retry' })).toBe('failure');
      expect(attemptHealth({}, { kind: 'failed' })).toBe('failure');
      expect(attemptHealth({ statusCode: 410 }, { kind: 'gone' })).toBe('failure');
    });

    it('counts a 429, or any answer with Retry-After, as throttled: no failure', () => {
      expect(attemptHealth({ statusCode: 429 }, { kind: 'retry' })).toBe('throttled');
      expect(attemptHealth({ statusCode: 503, retryAfterMs: 2000 }, { kind: 'retry' })).toBe('throttled');
      expect(attemptHealth({ statusCode: 429 }, { kind: 'failed' })).toBe('throttled');
    });
  });

  describe('average response time of the last 15 minutes', () => {
    const windowStart = new Date('2026-12-01T10:15:00Z');
    const windows = (overrides: Partial<ResponseWindows> = {}): ResponseWindows => ({
      windowStartedAt: windowStart,
      windowAttempts: 0,
      windowResponseMs: 0,
      previousWindowAttempts: 0,
      previousWindowResponseMs: 0,
      ...overrides,
    });
    const at = (minutesAfterWindowStart: number) => new Date(windowStart.getTime() + minutesAfterWindowStart * MINUTE);

    it('is null without attempts', () => {
      expect(recentAverageResponseMs(windows({ windowStartedAt: null }), at(1))).toBeNull();
      expect(recentAverageResponseMs(windows(), at(1))).toBeNull();
    });

    it('averages the current window', () => {
      expect(recentAverageResponseMs(windows({ windowAttempts: 4, windowResponseMs: 400 }), at(5))).toBe(100);
    });

    it('counts the window before in the share of it still within the last 15 minutes', () => {
      const both = windows({ windowAttempts: 1, windowResponseMs: 100, previousWindowAttempts: 2, previousWindowResponseMs: 2000 });
      // 5 minutes in: two thirds of the window before are within the last 15 minutes.
      expect(recentAverageResponseMs(both, at(5))).toBe(Math.round((100 + (2 / 3) * 2000) / (1 + (2 / 3) * 2)));
      expect(recentAverageResponseMs(both, at(14.999))).toBeCloseTo(100, -1);
    });

    it('keeps a window with no attempt after it until 15 minutes after it ended, then forgets it', () => {
      const old = windows({ windowAttempts: 2, windowResponseMs: 500 });
      expect(recentAverageResponseMs(old, at(20))).toBe(250);
      expect(recentAverageResponseMs(old, at(30))).toBeNull();
      expect(recentAverageResponseMs(old, at(45))).toBeNull();
    });
  });

  it('names the auto-disable period in the reason', () => {
    expect(autoDisableReason(432_000_000)).toBe('every attempt failed for 5 days');
    expect(spokenDuration(3_600_000)).toBe('1 hour');
    expect(spokenDuration(90 * MINUTE)).toBe('90 minutes');
    expect(spokenDuration(1500)).toBe('1500 ms');
  });
});
