import type { AlertSettings } from './alert-settings';

export const ALERT_CONDITIONS = ['failure_rate', 'consecutive_failures', 'backlog', 'response_time', 'circuit_open'] as const;

export type AlertCondition = (typeof ALERT_CONDITIONS)[number];

/** Failure rates are judged only over at least this many attempts: one failed attempt out of one is not a rate. */
export const FAILURE_RATE_MINIMUM_ATTEMPTS = 5;

/**
 * What the last evaluation saw of one condition of one destination. `value: null` means no
 * evidence (no attempt in the window): the condition's alert, open or not, stays as it is.
 */
export type AlertObservation = { value: number | null; holds: boolean; threshold: number };

/** The alert open for one condition of one destination, as the decision needs it. */
export type OpenAlertState = { openedAt: Date; escalationLevel: number; acknowledgedAt: Date | null; value: number };

export type AlertDecision =
  | { action: 'none' }
  | { action: 'open'; value: number; threshold: number }
  | { action: 'resolve'; value: number }
  | { action: 'escalate'; level: number; value: number }
  | { action: 'update'; value: number };

/**
 * Debouncing and escalation for one condition of one destination:
 * - no alert open: one opens when the condition holds, unless the last alert of the same
 *   condition and destination resolved less than `cooldownMs` ago (a flapping receiver raises
 *   one alert per cooldown, not one per evaluation);
 * - an alert open: it resolves when the condition no longer holds (seen, not merely unseen: no
 *   evidence keeps it open); otherwise, unless acknowledged, it escalates to level n once
 *   `escalateAfterMs[n-1]` has passed since it opened (straight to the highest level due, when
 *   evaluations were missed); otherwise its value follows what was seen.
 */
export function decideAlert(
  observation: AlertObservation | undefined,
  open: OpenAlertState | undefined,
  lastResolvedAt: Date | undefined,
  settings: Pick<AlertSettings, 'cooldownMs' | 'escalateAfterMs'>,
  now: Date,
): AlertDecision {
  if (!open) {
    if (!observation?.holds || observation.value === null) return { action: 'none' };
    if (lastResolvedAt && now.getTime() - lastResolvedAt.getTime() < settings.cooldownMs) return { action: 'none' };
    return { action: 'open', value: observation.value, threshold: observation.threshold };
  }
  const seen = observation?.value ?? null;
  if (observation && seen !== null && !observation.holds) return { action: 'resolve', value: seen };
  const value = seen ?? open.value;
  if (!open.acknowledgedAt) {
    const level = escalationLevelAt(settings.escalateAfterMs, now.getTime() - open.openedAt.getTime());
    if (level > open.escalationLevel) return { action: 'escalate', level, value };
  }
  return value !== open.value ? { action: 'update', value } : { action: 'none' };
}

/** The escalation level an alert open for `openForMs` has reached: how many of the times have passed. */
export function escalationLevelAt(escalateAfterMs: readonly number[], openForMs: number): number {
  return escalateAfterMs.filter((after) => openForMs >= after).length;
}

/** What one evaluation measured of a destination (null: not measured, or no attempt in the window). */
export type DestinationMeasures = {
  attempts: number | null;
  failures: number | null;
  consecutiveFailures: number | null;
  /** Whether an attempt in the window was delivered: then `consecutiveFailures` (counted after it) is exact, else a lower bound. */
  deliveredInWindow: boolean | null;
  averageResponseMs: number | null;
  backlog: number | null;
  circuitOpen: boolean | null;
};

/**
 * The five conditions of a destination under its organization's settings. Counts reach their
 * threshold (`consecutiveFailures: 5` holds at the fifth failure in a row, as a circuit breaker's
 * failure threshold does); rates and averages exceed it (a failure rate above 10 %, a backlog
 * above 1000, an average above 30 s). A condition set to null in the settings is not observed.
 */
export function observeConditions(measures: DestinationMeasures, settings: AlertSettings): Partial<Record<AlertCondition, AlertObservation>> {
  const observed: Partial<Record<AlertCondition, AlertObservation>> = {};
  if (settings.failureRate && measures.attempts !== null && measures.failures !== null) {
    const threshold = settings.failureRate.threshold;
    const enough = measures.attempts >= FAILURE_RATE_MINIMUM_ATTEMPTS;
    const rate = measures.attempts > 0 ? measures.failures / measures.attempts : 0;
    // Too few attempts to judge: no evidence either way.
    observed.failure_rate = { value: enough ? round(rate) : null, holds: enough && rate > threshold, threshold };
  }
  if (settings.consecutiveFailures !== null && measures.consecutiveFailures !== null) {
    const threshold = settings.consecutiveFailures;
    const holds = measures.consecutiveFailures >= threshold;
    // Without a success in the window, failures short of the threshold may be the tail of a longer run: no evidence.
    const known = holds || measures.deliveredInWindow === true;
    observed.consecutive_failures = { value: known ? measures.consecutiveFailures : null, holds, threshold };
  }
  if (settings.backlog !== null && measures.backlog !== null) {
    observed.backlog = { value: measures.backlog, holds: measures.backlog > settings.backlog, threshold: settings.backlog };
  }
  if (settings.responseTimeMs !== null && measures.averageResponseMs !== null) {
    const value = Math.round(measures.averageResponseMs);
    observed.response_time = { value, holds: value > settings.responseTimeMs, threshold: settings.responseTimeMs };
  }
  if (measures.circuitOpen !== null) {
    observed.circuit_open = { value: measures.circuitOpen ? 1 : 0, holds: measures.circuitOpen, threshold: 1 };
  }
  return observed;
}

/** Whether the settings evaluate a condition at all (set to null, it is off; the circuit is always watched). */
export function conditionEnabled(condition: AlertCondition, settings: AlertSettings): boolean {
  switch (condition) {
    case 'failure_rate':
      return settings.failureRate !== null;
    case 'consecutive_failures':
      return settings.consecutiveFailures !== null;
    case 'backlog':
      return settings.backlog !== null;
    case 'response_time':
      return settings.responseTimeMs !== null;
    case 'circuit_open':
      return true;
  }
}

/** The sentence an alert carries, for people reading it in a chat channel or a pager. */
export function alertMessage(condition: AlertCondition, destinationName: string, value: number, threshold: number, windowMs: number): string {
  const window = windowMs >= 60_000 ? `${Math.round(windowMs / 60_000)} min` : `${Math.round(windowMs / 1000)} s`;
  switch (condition) {
    case 'failure_rate':
      return `${destinationName}: ${percent(value)} of attempts failed in the last ${window} (threshold ${percent(threshold)})`;
    case 'consecutive_failures':
      return `${destinationName}: ${value} attempts failed in a row (threshold ${threshold})`;
    case 'backlog':
      return `${destinationName}: ${value} deliveries waiting (threshold ${threshold})`;
    case 'response_time':
      return `${destinationName}: average response time ${value} ms in the last ${window} (threshold ${threshold} ms)`;
    case 'circuit_open':
      return `${destinationName}: circuit breaker open, no attempts are made`;
  }
}

function percent(rate: number): string {
  return `${Math.round(rate * 1000) / 10}%`;
}

function round(rate: number): number {
  return Math.round(rate * 10_000) / 10_000;
}
