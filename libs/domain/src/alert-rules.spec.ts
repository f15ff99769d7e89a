import { AlertObservation, conditionEnabled, DestinationMeasures, decideAlert, escalationLevelAt, observeConditions, OpenAlertState } from './alert-rules';
import { alertSettingsSchema, DEFAULT_ALERT_SETTINGS, storedAlertSettings } from './alert-settings';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const settings = { cooldownMs: HOUR, escalateAfterMs: [HOUR, 4 * HOUR, 24 * HOUR] };
const holding: AlertObservation = { value: 7, holds: true, threshold: 5 };
const clear: AlertObservation = { value: 0, holds: false, threshold: 5 };
const unseen: AlertObservation = { value: null, holds: false, threshold: 5 };
const open = (openFor: number, changes: Partial<OpenAlertState> = {}): OpenAlertState => ({
  openedAt: ago(openFor),
  escalationLevel: 0,
  acknowledgedAt: null,
  value: 7,
  ...changes,
});

describe('decideAlert', () => {
  it('opens an alert when the condition holds and none is open', () => {
    expect(decideAlert(holding, undefined, undefined, settings, NOW)).toEqual({ action: 'open', value: 7, threshold: 5 });
  });

  it('opens nothing when the condition does not hold or was not seen', () => {
    expect(decideAlert(clear, undefined, undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(unseen, undefined, undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(undefined, undefined, undefined, settings, NOW)).toEqual({ action: 'none' });
  });

  it('opens no second alert within the cooldown after the last one resolved, and opens one after it', () => {
    expect(decideAlert(holding, undefined, ago(HOUR - 1), settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(holding, undefined, ago(HOUR), settings, NOW)).toMatchObject({ action: 'open' });
    expect(decideAlert(holding, undefined, ago(5), { ...settings, cooldownMs: 0 }, NOW)).toMatchObject({ action: 'open' });
  });

  it('resolves an open alert when the condition is seen not to hold, but keeps it while nothing is seen', () => {
    expect(decideAlert(clear, open(1000), undefined, settings, NOW)).toEqual({ action: 'resolve', value: 0 });
    expect(decideAlert(unseen, open(1000), undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(undefined, open(1000), undefined, settings, NOW)).toEqual({ action: 'none' });
  });

  it('escalates at each time after opening, once per level', () => {
    expect(decideAlert(holding, open(HOUR - 1), undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(holding, open(HOUR), undefined, settings, NOW)).toEqual({ action: 'escalate', level: 1, value: 7 });
    expect(decideAlert(holding, open(2 * HOUR, { escalationLevel: 1 }), undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(holding, open(4 * HOUR, { escalationLevel: 1 }), undefined, settings, NOW)).toEqual({ action: 'escalate', level: 2, value: 7 });
    expect(decideAlert(holding, open(24 * HOUR, { escalationLevel: 2 }), undefined, settings, NOW)).toEqual({ action: 'escalate', level: 3, value: 7 });
    expect(decideAlert(holding, open(100 * HOUR, { escalationLevel: 3 }), undefined, settings, NOW)).toEqual({ action: 'none' });
  });

  it('escalates straight to the highest level due when evaluations were missed, also while nothing is seen', () => {
    expect(decideAlert(unseen, open(5 * HOUR), undefined, settings, NOW)).toEqual({ action: 'escalate', level: 2, value: 7 });
  });

  it('does not escalate an acknowledged alert, which still resolves', () => {
    const acknowledged = open(30 * HOUR, { acknowledgedAt: ago(29 * HOUR) });
    expect(decideAlert(holding, acknowledged, undefined, settings, NOW)).toEqual({ action: 'none' });
    expect(decideAlert(clear, acknowledged, undefined, settings, NOW)).toMatchObject({ action: 'resolve' });
  });

  it('follows the value seen while the alert stays open', () => {
    expect(decideAlert({ ...holding, value: 9 }, open(1000), undefined, settings, NOW)).toEqual({ action: 'update', value: 9 });
  });
});

describe('escalationLevelAt', () => {
  it('counts the times passed; no times, no escalation', () => {
    expect(escalationLevelAt([10, 20, 30], 25)).toBe(2);
    expect(escalationLevelAt([], 1e9)).toBe(0);
  });
});

describe('observeConditions', () => {
  const measures = (changes: Partial<DestinationMeasures>): DestinationMeasures => ({
    attempts: null,
    failures: null,
    consecutiveFailures: null,
    deliveredInWindow: null,
    averageResponseMs: null,
    backlog: null,
    circuitOpen: null,
    ...changes,
  });

  it('judges a failure rate above the threshold, over enough attempts only', () => {
    expect(observeConditions(measures({ attempts: 10, failures: 2 }), DEFAULT_ALERT_SETTINGS).failure_rate).toEqual({ value: 0.2, holds: true, threshold: 0.1 });
    expect(observeConditions(measures({ attempts: 10, failures: 1 }), DEFAULT_ALERT_SETTINGS).failure_rate).toMatchObject({ value: 0.1, holds: false });
    expect(observeConditions(measures({ attempts: 2, failures: 2 }), DEFAULT_ALERT_SETTINGS).failure_rate).toEqual({ value: null, holds: false, threshold: 0.1 });
  });

  it('holds consecutive failures from the threshold on, and knows they ended only from a success in the window', () => {
    expect(observeConditions(measures({ consecutiveFailures: 5, deliveredInWindow: false }), DEFAULT_ALERT_SETTINGS).consecutive_failures).toEqual({
      value: 5,
      holds: true,
      threshold: 5,
    });
    expect(observeConditions(measures({ consecutiveFailures: 4, deliveredInWindow: true }), DEFAULT_ALERT_SETTINGS).consecutive_failures).toEqual({
      value: 4,
      holds: false,
      threshold: 5,
    });
    expect(observeConditions(measures({ consecutiveFailures: 4, deliveredInWindow: false }), DEFAULT_ALERT_SETTINGS).consecutive_failures).toMatchObject({
      value: null,
    });
  });

  it('holds a backlog and an average response time above their thresholds, and an open circuit', () => {
    const observed = observeConditions(measures({ backlog: 1001, averageResponseMs: 30_000.4, circuitOpen: true }), DEFAULT_ALERT_SETTINGS);
    expect(observed.backlog).toEqual({ value: 1001, holds: true, threshold: 1000 });
    expect(observed.response_time).toEqual({ value: 30_000, holds: false, threshold: 30_000 });
    expect(observed.circuit_open).toEqual({ value: 1, holds: true, threshold: 1 });
    expect(observeConditions(measures({ backlog: 1000 }), DEFAULT_ALERT_SETTINGS).backlog).toMatchObject({ holds: false });
  });

  it('observes no condition the settings turn off', () => {
    const off = alertSettingsSchema.parse({ failureRate: null, consecutiveFailures: null, backlog: null, responseTimeMs: null });
    const observed = observeConditions(
      measures({ attempts: 10, failures: 10, consecutiveFailures: 10, deliveredInWindow: false, backlog: 1e6, averageResponseMs: 1e6 }),
      off,
    );
    expect(Object.keys(observed)).toEqual([]);
  });
});

describe('conditionEnabled', () => {
  it('is false for a condition set to null, and always true for the circuit', () => {
    const off = alertSettingsSchema.parse({ failureRate: null, consecutiveFailures: null, backlog: null, responseTimeMs: null });
    for (const condition of ['failure_rate', 'consecutive_failures', 'backlog', 'response_time'] as const) {
      expect(conditionEnabled(condition, off)).toBe(false);
      expect(conditionEnabled(condition, DEFAULT_ALERT_SETTINGS)).toBe(true);
    }
    expect(conditionEnabled('circuit_open', off)).toBe(true);
  });
});

describe('alert settings', () => {
  it('defaults to the documented values', () => {
    expect(DEFAULT_ALERT_SETTINGS).toEqual({
      failureRate: { threshold: 0.1, windowMs: 900000 },
      consecutiveFailures: 5,
      backlog: 1000,
      responseTimeMs: 30000,
      cooldownMs: 3600000,
      escalateAfterMs: [3600000, 14400000, 86400000],
    });
  });

  it('fills what a stored value leaves out and falls back to the defaults for what it cannot read', () => {
    expect(storedAlertSettings({ backlog: 5, failureRate: { threshold: 0.5 } })).toMatchObject({ backlog: 5, failureRate: { threshold: 0.5, windowMs: 900000 } });
    expect(storedAlertSettings({ backlog: 'many' })).toEqual(DEFAULT_ALERT_SETTINGS);
    expect(storedAlertSettings(null)).toEqual(DEFAULT_ALERT_SETTINGS);
  });

  it('refuses escalation times that do not increase, naming the entry', () => {
    const result = alertSettingsSchema.safeParse({ escalateAfterMs: [60_000, 60_000] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path).toEqual(['escalateAfterMs', 1]);
  });
});
