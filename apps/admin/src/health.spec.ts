import { describe, expect, it } from '@jest/globals';
import { alertValueText, bucketLabel, chartPoints, healthText, isEmptyMetrics, metricsRange, millisecondsText, rateText } from './health';

describe('health text', () => {
  it('names the circuit only when it is not closed', () => {
    expect(healthText({ status: 'healthy', circuit: 'closed' })).toBe('healthy');
    expect(healthText({ status: 'unhealthy', circuit: 'open' })).toBe('unhealthy · circuit open');
    expect(healthText({ status: 'unhealthy', circuit: 'half-open' })).toBe('unhealthy · circuit half-open');
  });
});

describe('metrics range and points', () => {
  const now = new Date('2026-12-01T14:30:00.000Z');

  it('asks for the last hour by minute and the last day by hour', () => {
    expect(metricsRange('minute', now)).toEqual({ since: '2026-12-01T13:30:00.000Z', until: '2026-12-01T14:30:00.000Z' });
    expect(metricsRange('hour', now)).toEqual({ since: '2026-11-30T14:30:00.000Z', until: '2026-12-01T14:30:00.000Z' });
  });

  it('labels each bucket with its UTC time of day and keeps its counts and percentiles', () => {
    const metrics = {
      buckets: [
        { start: '2026-12-01T14:05:00.000Z', delivered: 3, failed: 1, retried: 2, p50Ms: 12, p95Ms: 40 },
        { start: '2026-12-01T14:06:00.000Z', delivered: 0, failed: 0, retried: 0, p50Ms: null, p95Ms: null },
      ],
      totals: { delivered: 3, failed: 1, retried: 2 },
    };
    expect(chartPoints(metrics)).toEqual([
      { label: '14:05', ...metrics.buckets[0] },
      { label: '14:06', ...metrics.buckets[1] },
    ]);
    expect(isEmptyMetrics(metrics)).toBe(false);
    expect(isEmptyMetrics({ buckets: [metrics.buckets[1]], totals: { delivered: 0, failed: 0, retried: 0 } })).toBe(true);
    expect(bucketLabel('not a time')).toBe('not a time');
  });
});

describe('figures', () => {
  it('shows rates and durations readably', () => {
    expect(rateText(null, null)).toBe('no limit');
    expect(rateText(null, { max: 100, durationMs: 1000, adaptive: false })).toBe('100 per s (fixed)');
    expect(rateText(2.5, { max: 10, durationMs: 1000, adaptive: true })).toBe('2.5 per s (adaptive, max 10)');
    expect(rateText(49.6, { max: 100, durationMs: 250, adaptive: true })).toBe('50 per 250 ms (adaptive, max 100)');
    expect(rateText(null, { max: 600, durationMs: 60_000 })).toBe('600 per 1 min (fixed)');
    expect(millisecondsText(null)).toBe('—');
    expect(millisecondsText(245.4)).toBe('245 ms');
    expect(millisecondsText(31_250)).toBe('31.3 s');
  });

  it("shows an alert's value against its threshold in the condition's unit", () => {
    expect(alertValueText({ condition: 'failure_rate', value: 0.25, threshold: 0.1 })).toBe('25% (threshold 10%)');
    expect(alertValueText({ condition: 'response_time', value: 45_000, threshold: 30_000 })).toBe('45 s (threshold 30 s)');
    expect(alertValueText({ condition: 'consecutive_failures', value: 7, threshold: 5 })).toBe('7 (threshold 5)');
  });
});
