// An organization's alert settings as the API shows and takes them (GET|PUT /v1/alert-settings,
// docs/API.md "Alerts") and as the settings form holds them (text, as typed). Pure, so it is
// unit-tested on its own.

import type { FieldProblem } from './configSchema';
import { parseNumberList } from './deliverySettings';

/** A condition set to null is never evaluated. */
export interface AlertSettings {
  failureRate: { threshold: number; windowMs: number } | null;
  consecutiveFailures: number | null;
  backlog: number | null;
  responseTimeMs: number | null;
  cooldownMs: number;
  escalateAfterMs: number[];
}

/** The conditions that can be switched off, each with one number of its own. */
export type SingleCondition = 'consecutiveFailures' | 'backlog' | 'responseTimeMs';

export interface AlertSettingsForm {
  failureRateOn: boolean;
  failureRateThreshold: string;
  failureRateWindowMs: string;
  consecutiveFailuresOn: boolean;
  consecutiveFailures: string;
  backlogOn: boolean;
  backlog: string;
  responseTimeMsOn: boolean;
  responseTimeMs: string;
  cooldownMs: string;
  /** Times in ms after opening, comma separated. */
  escalateAfterMs: string;
}

/** What an organization that never changed its settings has; a condition switched back on starts from its default. */
export const DEFAULT_ALERT_SETTINGS: AlertSettings = {
  failureRate: { threshold: 0.1, windowMs: 900_000 },
  consecutiveFailures: 5,
  backlog: 1000,
  responseTimeMs: 30_000,
  cooldownMs: 3_600_000,
  escalateAfterMs: [3_600_000, 14_400_000, 86_400_000],
};

export function alertSettingsForm(settings: AlertSettings): AlertSettingsForm {
  const single = (key: SingleCondition) => String(settings[key] ?? DEFAULT_ALERT_SETTINGS[key]);
  return {
    failureRateOn: settings.failureRate !== null,
    failureRateThreshold: String((settings.failureRate ?? DEFAULT_ALERT_SETTINGS.failureRate!).threshold),
    failureRateWindowMs: String((settings.failureRate ?? DEFAULT_ALERT_SETTINGS.failureRate!).windowMs),
    consecutiveFailuresOn: settings.consecutiveFailures !== null,
    consecutiveFailures: single('consecutiveFailures'),
    backlogOn: settings.backlog !== null,
    backlog: single('backlog'),
    responseTimeMsOn: settings.responseTimeMs !== null,
    responseTimeMs: single('responseTimeMs'),
    cooldownMs: String(settings.cooldownMs),
    escalateAfterMs: settings.escalateAfterMs.join(', '),
  };
}

/** The number typed into a field, or a problem naming the field at `path`. Numbers go as typed, for the API to check. */
function required(value: string, path: string, problems: FieldProblem[]): number {
  const trimmed = value.trim();
  const parsed = Number(trimmed);
  if (trimmed === '') problems.push({ path, message: 'is required (untick the condition to switch it off)' });
  else if (!Number.isFinite(parsed)) problems.push({ path, message: 'must be a number' });
  return parsed;
}

/** The settings to PUT (they replace the stored ones whole): a condition not ticked is null. */
export function alertSettingsFromForm(form: AlertSettingsForm): { value: AlertSettings; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const single = (key: SingleCondition): number | null => (form[`${key}On`] ? required(form[key], key, problems) : null);
  const failureRate = form.failureRateOn
    ? {
        threshold: required(form.failureRateThreshold, 'failureRate.threshold', problems),
        windowMs: required(form.failureRateWindowMs, 'failureRate.windowMs', problems),
      }
    : null;
  const consecutiveFailures = single('consecutiveFailures');
  const backlog = single('backlog');
  const responseTimeMs = single('responseTimeMs');
  const cooldownMs = form.cooldownMs.trim() === '' ? DEFAULT_ALERT_SETTINGS.cooldownMs : required(form.cooldownMs, 'cooldownMs', problems);
  const escalateAfterMs = parseNumberList(form.escalateAfterMs);
  if (escalateAfterMs === null) problems.push({ path: 'escalateAfterMs', message: 'must be times in milliseconds, separated by commas' });
  return { value: { failureRate, consecutiveFailures, backlog, responseTimeMs, cooldownMs, escalateAfterMs: escalateAfterMs ?? [] }, problems };
}
