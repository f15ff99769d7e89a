// How the app shows a destination's health and its delivery metrics (docs/API.md, "Flow control
// and health"): words for a status and a circuit, the range a chart asks for, and the points it
// draws. Pure, so it is unit-tested on its own.

import type { Alert, AlertCondition, CircuitState, DeliveryMetrics, HealthSummary, MetricsBucket, MetricsPoint, RateLimit } from './api';

/** "unhealthy · circuit open"; the circuit is named only when it is not closed (the usual case). */
export function healthText(health: HealthSummary): string {
  return health.circuit === 'closed' ? health.status : `${health.status} · circuit ${health.circuit}`;
}

export function circuitText(circuit: CircuitState): string {
  switch (circuit) {
    case 'closed':
      return 'closed (attempts flow)';
    case 'open':
      return 'open (no attempts; deliveries wait)';
    case 'half-open':
      return 'half-open (probing)';
  }
}

const HOUR_MS = 3_600_000;

/** The range a chart shows: the last hour by minute, or the last 24 hours by hour. */
export function metricsRange(bucket: MetricsBucket, now: Date): { since: string; until: string } {
  const span = bucket === 'minute' ? HOUR_MS : 24 * HOUR_MS;
  return { since: new Date(now.getTime() - span).toISOString(), until: now.toISOString() };
}

/** One bucket as the chart draws it: `label` on the axis (UTC), the counts, and the latency percentiles (null: nothing delivered). */
export interface ChartPoint extends MetricsPoint {
  label: string;
}

/** "14:05" (UTC): a minute or an hour of the range; the day is told by the range itself. */
export function bucketLabel(start: string): string {
  const date = new Date(start);
  return Number.isNaN(date.getTime()) ? start : date.toISOString().slice(11, 16);
}

export function chartPoints(metrics: DeliveryMetrics): ChartPoint[] {
  return metrics.buckets.map((bucket) => ({ label: bucketLabel(bucket.start), ...bucket }));
}

/** True when no bucket has anything to draw: the chart gives way to a sentence. */
export function isEmptyMetrics(metrics: DeliveryMetrics): boolean {
  return metrics.buckets.every((bucket) => bucket.delivered === 0 && bucket.failed === 0 && bucket.retried === 0);
}

/** "per s", "per 250 ms": the window of a rate limit. */
function perWindow(durationMs: number): string {
  return durationMs === 1000 ? 'per s' : durationMs % 60_000 === 0 ? `per ${durationMs / 60_000} min` : `per ${durationMs} ms`;
}

/**
 * The rate a destination is sent at: `currentRate` (attempts per `rateLimit.durationMs`, only
 * under an adaptive limit) against its max, else the fixed limit, else none.
 */
export function rateText(currentRate: number | null, rateLimit: RateLimit | null): string {
  if (!rateLimit) return 'no limit';
  const window = perWindow(rateLimit.durationMs);
  if (currentRate === null) return `${rateLimit.max} ${window} (fixed)`;
  const shown = currentRate >= 10 ? Math.round(currentRate) : Math.round(currentRate * 100) / 100;
  return `${shown} ${window} (adaptive, max ${rateLimit.max})`;
}

/** "250 ms", "1.2 s"; null: nothing measured yet. */
export function millisecondsText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`;
}

const CONDITIONS: Record<AlertCondition, string> = {
  failure_rate: 'Failure rate',
  consecutive_failures: 'Consecutive failures',
  backlog: 'Backlog',
  response_time: 'Response time',
  circuit_open: 'Circuit open',
};

export function conditionText(condition: AlertCondition): string {
  return CONDITIONS[condition] ?? condition;
}

/** An alert's measured value against its threshold, in the condition's own unit. */
export function alertValueText(alert: Pick<Alert, 'condition' | 'value' | 'threshold'>): string {
  switch (alert.condition) {
    case 'failure_rate':
      return `${percent(alert.value)} (threshold ${percent(alert.threshold)})`;
    case 'response_time':
      return `${millisecondsText(alert.value)} (threshold ${millisecondsText(alert.threshold)})`;
    default:
      return `${alert.value} (threshold ${alert.threshold})`;
  }
}

function percent(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}
