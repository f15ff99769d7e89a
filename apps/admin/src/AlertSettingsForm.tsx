import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { type Api, type AlertSettings } from './api';
import { alertSettingsForm, alertSettingsFromForm, type AlertSettingsForm as Form, type SingleCondition } from './alertSettings';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';

interface Props {
  api: Api;
  /** The signed-in key may not change the settings (not an admin key): shown, not editable. */
  readOnly: boolean;
}

const SINGLE_CONDITIONS: { key: SingleCondition; name: string; label: string; unit: string; hint: string }[] = [
  {
    key: 'consecutiveFailures',
    name: 'consecutive',
    label: 'Consecutive failures',
    unit: 'Failed attempts in a row',
    hint: 'Failed attempts in a row that open an alert.',
  },
  {
    key: 'backlog',
    name: 'backlog',
    label: 'Backlog',
    unit: 'Open deliveries',
    hint: 'Pending, delivering and retrying deliveries above which a destination is backlogged.',
  },
  {
    key: 'responseTimeMs',
    name: 'response-time',
    label: 'Response time',
    unit: 'Average response (ms)',
    hint: 'Average attempt duration above which a destination is slow (also what makes it degraded).',
  },
];

/** The organization's alert settings (GET|PUT /v1/alert-settings): every admin key may change them; the API names a bad field. */
export function AlertSettingsForm({ api, readOnly }: Props) {
  const [form, setForm] = useState<Form | null>(null);
  const [loadError, setLoadError] = useState<ShownError | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setForm(alertSettingsForm(await api.getAlertSettings()));
      setLoadError(null);
    } catch (caught) {
      setLoadError(toShownError(caught));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!form) return;
    setNotice(null);
    const { value, problems } = alertSettingsFromForm(form);
    if (problems.length > 0) {
      setError({ message: problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '), details: problems });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const saved: AlertSettings = await api.updateAlertSettings(value);
      setForm(alertSettingsForm(saved));
      setNotice('Alert settings saved.');
    } catch (caught) {
      setError(toShownError(caught));
    } finally {
      setBusy(false);
    }
  }

  const details = error?.details ?? [];
  const invalidAt = (path: string) => (details.some((detail) => detail.path === path || detail.path.startsWith(`${path}.`)) ? true : undefined);
  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm((current) => (current ? { ...current, [key]: value } : current));

  return (
    <section aria-labelledby="alert-settings-heading" className="card">
      <h2 id="alert-settings-heading">Alert settings</h2>
      {loadError && <ErrorAlert message={`Cannot read the alert settings: ${loadError.message}`} details={loadError.details} />}
      {form === null ? (
        loadError ? null : (
          <p className="muted">Loading alert settings…</p>
        )
      ) : (
        <form aria-labelledby="alert-settings-heading" onSubmit={submit} noValidate>
          <p className="hint" id="alert-settings-hint">
            Applies to every destination of the organization. A condition not ticked never opens an alert.{' '}
            {readOnly ? 'Only admin keys can change these: this key can read them.' : 'Only admin keys can change these.'}
          </p>
          <fieldset className="plain" disabled={readOnly}>
            <fieldset className="group">
              <legend>Failure rate</legend>
              <div className="check">
                <input id="alert-failure-rate-on" type="checkbox" checked={form.failureRateOn} onChange={(event) => set('failureRateOn', event.target.checked)} />
                <label htmlFor="alert-failure-rate-on">Alert on the failure rate</label>
              </div>
              {form.failureRateOn && (
                <div className="inline-fields">
                  <label htmlFor="alert-failure-rate">Failure rate (0 to 1)</label>
                  <input
                    id="alert-failure-rate"
                    type="number"
                    min={0}
                    max={1}
                    step="any"
                    aria-invalid={invalidAt('failureRate.threshold')}
                    value={form.failureRateThreshold}
                    onChange={(event) => set('failureRateThreshold', event.target.value)}
                  />
                  <label htmlFor="alert-failure-window">Window (ms)</label>
                  <input
                    id="alert-failure-window"
                    type="number"
                    min={1000}
                    step={1}
                    aria-invalid={invalidAt('failureRate.windowMs')}
                    value={form.failureRateWindowMs}
                    onChange={(event) => set('failureRateWindowMs', event.target.value)}
                  />
                  <p className="hint span-2">Failed attempts over attempts made in the window; 429 and Retry-After answers are not failures.</p>
                </div>
              )}
            </fieldset>

            {SINGLE_CONDITIONS.map((condition) => (
              <fieldset key={condition.key} className="group">
                <legend>{condition.label}</legend>
                <div className="check">
                  <input
                    id={`alert-${condition.name}-on`}
                    type="checkbox"
                    checked={form[`${condition.key}On`]}
                    onChange={(event) => set(`${condition.key}On`, event.target.checked)}
                  />
                  <label htmlFor={`alert-${condition.name}-on`}>{`Alert on ${condition.label.toLowerCase()}`}</label>
                </div>
                {form[`${condition.key}On`] && (
                  <div className="inline-fields">
                    <label htmlFor={`alert-${condition.name}`}>{condition.unit}</label>
                    <input
                      id={`alert-${condition.name}`}
                      type="number"
                      min={0}
                      step={1}
                      aria-describedby={`alert-${condition.name}-hint`}
                      aria-invalid={invalidAt(condition.key)}
                      value={form[condition.key]}
                      onChange={(event) => set(condition.key, event.target.value)}
                    />
                    <p id={`alert-${condition.name}-hint`} className="hint span-2">
                      {condition.hint}
                    </p>
                  </div>
                )}
              </fieldset>
            ))}

            <fieldset className="group">
              <legend>Repeats and escalation</legend>
              <label htmlFor="alert-cooldown">Cooldown (ms)</label>
              <input
                id="alert-cooldown"
                type="number"
                min={0}
                step={1}
                aria-describedby="alert-cooldown-hint"
                aria-invalid={invalidAt('cooldownMs')}
                value={form.cooldownMs}
                onChange={(event) => set('cooldownMs', event.target.value)}
              />
              <p id="alert-cooldown-hint" className="hint">
                After an alert resolves, the same condition of the same destination opens no other one for this long.
              </p>
              <label htmlFor="alert-escalate">Escalate after (ms)</label>
              <input
                id="alert-escalate"
                type="text"
                inputMode="numeric"
                aria-describedby="alert-escalate-hint"
                aria-invalid={invalidAt('escalateAfterMs')}
                value={form.escalateAfterMs}
                onChange={(event) => set('escalateAfterMs', event.target.value)}
              />
              <p id="alert-escalate-hint" className="hint">
                Times after opening, increasing and comma separated, at which an alert not acknowledged escalates to level 1, 2, 3….
              </p>
            </fieldset>
          </fieldset>

          {error && <ErrorAlert message={error.message} details={error.details} />}
          {notice && (
            <p role="status" className="notice">
              {notice}
            </p>
          )}
          {!readOnly && (
            <div className="form-actions">
              <button type="submit" className="primary" disabled={busy}>
                Save alert settings
              </button>
            </div>
          )}
        </form>
      )}
    </section>
  );
}
