import { describe, expect, it } from '@jest/globals';
import { alertSettingsForm, alertSettingsFromForm, DEFAULT_ALERT_SETTINGS } from './alertSettings';

describe('alert settings form', () => {
  it('round-trips the defaults', () => {
    expect(alertSettingsFromForm(alertSettingsForm(DEFAULT_ALERT_SETTINGS))).toEqual({ value: DEFAULT_ALERT_SETTINGS, problems: [] });
  });

  it('sends a condition not ticked as null, and shows a condition that is off with its default to start from', () => {
    const off = { ...DEFAULT_ALERT_SETTINGS, failureRate: null, backlog: null };
    const form = alertSettingsForm(off);
    expect(form).toMatchObject({ failureRateOn: false, failureRateThreshold: '0.1', backlogOn: false, backlog: '1000' });
    expect(alertSettingsFromForm(form).value).toEqual(off);
    expect(alertSettingsFromForm({ ...form, backlogOn: true, backlog: '50' }).value.backlog).toBe(50);
  });

  it('sends numbers as typed, for the API to check (a failure rate of 2 included)', () => {
    const form = { ...alertSettingsForm(DEFAULT_ALERT_SETTINGS), failureRateThreshold: '2', escalateAfterMs: '60000, 30000' };
    const { value, problems } = alertSettingsFromForm(form);
    expect(problems).toEqual([]);
    expect(value.failureRate).toEqual({ threshold: 2, windowMs: 900000 });
    expect(value.escalateAfterMs).toEqual([60000, 30000]);
  });

  it('names a blank or unreadable field of a ticked condition, and an unreadable escalation list', () => {
    const form = { ...alertSettingsForm(DEFAULT_ALERT_SETTINGS), consecutiveFailures: ' ', responseTimeMs: 'slow', escalateAfterMs: '1h' };
    expect(alertSettingsFromForm(form).problems.map((problem) => problem.path)).toEqual(['consecutiveFailures', 'responseTimeMs', 'escalateAfterMs']);
  });

  it('takes a blank cooldown as the default and an empty escalation list as none', () => {
    const form = { ...alertSettingsForm(DEFAULT_ALERT_SETTINGS), cooldownMs: '', escalateAfterMs: '' };
    expect(alertSettingsFromForm(form)).toEqual({ value: { ...DEFAULT_ALERT_SETTINGS, escalateAfterMs: [] }, problems: [] });
  });
});
