import { useMemo, useState, type FormEvent, type InputHTMLAttributes } from 'react';
import { ApiError, errorMessage, type Api, type CreatedDestination, type Destination, type DestinationChanges, type DestinationKind } from './api';
import { ConfigFields } from './ConfigFields';
import { configFromValues, fieldsFromSchema, humanize, initialValues, valuesForVariant, variantKeyOf, type ConfigValues, type FieldProblem } from './configSchema';
import {
  circuitBreakerForm,
  circuitBreakerFromForm,
  rateLimitForm,
  rateLimitFromForm,
  retryForm,
  retryPolicyFromForm,
  type Backoff,
  type CircuitBreakerForm,
  type CircuitBreakerNumbers,
  type RateLimitForm,
  type RetryForm,
} from './deliverySettings';
import { ErrorAlert, type ShownError } from './ErrorAlert';

interface Props {
  api: Api;
  /** The kinds the API offers; null when they could not be read (config is then not editable). */
  kinds: DestinationKind[] | null;
  /** The id of the heading that names the form. */
  labelledBy: string;
  /** Prefix of the inputs' ids, unique on the page. */
  idPrefix: string;
  /** Edit this destination; without it, the form creates one. */
  destination?: Destination;
  onCreated?: (created: CreatedDestination) => void | Promise<void>;
  onSaved?: (saved: Destination | null) => void | Promise<void>;
  onCancel?: () => void;
}

interface Body {
  name: string;
  kind?: string;
  config?: Record<string, unknown>;
  eventTypes: string[];
  rateLimit: DestinationChanges['rateLimit'];
  circuitBreaker: NonNullable<DestinationChanges['circuitBreaker']>;
  retryPolicy: NonNullable<DestinationChanges['retryPolicy']>;
}

function parseEventTypes(text: string): string[] {
  const types = text
    .split(',')
    .map((type) => type.trim())
    .filter((type) => type !== '');
  return types.length > 0 ? types : ['*'];
}

function problemsError(problems: FieldProblem[]): ShownError {
  return { message: problems.map((problem) => `${problem.path}: ${problem.message}`).join('; '), details: problems };
}

const BACKOFFS: { value: Backoff; label: string }[] = [
  { value: 'default', label: 'Default schedule' },
  { value: 'schedule', label: 'Fixed delays' },
  { value: 'exponential', label: 'Exponential' },
];

/** The circuit breaker's numbers: label, input attributes and what each means. */
const CIRCUIT_FIELDS: { key: CircuitBreakerNumbers; name: string; label: string; step: string; hint: string }[] = [
  { key: 'failureThreshold', name: 'cb-failures', label: 'Consecutive failures', step: '1', hint: 'Failed attempts in a row that open the circuit.' },
  { key: 'failureRateThreshold', name: 'cb-rate', label: 'Failure rate', step: 'any', hint: 'Share of failed attempts in the window (0 to 1) that opens it…' },
  { key: 'minimumRequests', name: 'cb-minimum', label: 'Minimum attempts', step: '1', hint: '…once the window holds at least this many attempts.' },
  { key: 'windowMs', name: 'cb-window', label: 'Window (ms)', step: '1', hint: 'How far back the failure rate looks.' },
  { key: 'recoveryTimeoutMs', name: 'cb-recovery', label: 'Recovery after (ms)', step: '1', hint: 'How long it stays open before probing (half-open).' },
  { key: 'halfOpenMaxCalls', name: 'cb-probes', label: 'Half-open probes', step: '1', hint: 'Attempts let through while half-open; a success closes it.' },
];

/** Creates a destination, or edits one: name, kind's config (from its schema), event types, rate limit, circuit breaker, retry policy. */
export function DestinationForm({ api, kinds, labelledBy, idPrefix, destination, onCreated, onSaved, onCancel }: Props) {
  const editing = destination !== undefined;
  const [kind, setKind] = useState<string>(destination?.kind ?? kinds?.[0]?.kind ?? '');
  const kindInfo = kinds?.find((candidate) => candidate.kind === kind) ?? null;
  // A kind whose config is one of several variants (an email's `transport`): the fields follow the chosen one.
  const variantKey = useMemo(() => (kindInfo ? variantKeyOf(kindInfo.configSchema) : null), [kindInfo]);
  const [configValues, setConfigValues] = useState<ConfigValues>(() => {
    if (!kindInfo) return {};
    const stored = variantKey ? destination?.config?.[variantKey] : undefined;
    return initialValues(fieldsFromSchema(kindInfo.configSchema, kindInfo.secretFields, typeof stored === 'string' ? stored : undefined), destination?.config);
  });
  const variant = variantKey && typeof configValues[variantKey] === 'string' ? (configValues[variantKey] as string) : undefined;
  const fields = useMemo(() => (kindInfo ? fieldsFromSchema(kindInfo.configSchema, kindInfo.secretFields, variant) : null), [kindInfo, variant]);

  const [name, setName] = useState(destination?.name ?? '');
  const [eventTypes, setEventTypes] = useState(destination ? destination.eventTypes.join(', ') : '*');
  const [rateLimit, setRateLimit] = useState<RateLimitForm>(() => rateLimitForm(destination?.rateLimit));
  const [circuit, setCircuit] = useState<CircuitBreakerForm>(() => circuitBreakerForm(destination?.circuitBreaker));
  const [retry, setRetry] = useState<RetryForm>(() => retryForm(destination?.retryPolicy));
  const [error, setError] = useState<ShownError | null>(null);
  const [busy, setBusy] = useState(false);

  /** What the form would send as it was first shown: an edit sends only what differs from it. */
  const [initial] = useState(() => ({
    config: fields ? configFromValues(fields, initialValues(fields, destination?.config)).config : undefined,
    name: destination?.name.trim(),
    eventTypes: destination?.eventTypes,
    rateLimit: rateLimitFromForm(rateLimitForm(destination?.rateLimit)).value,
    circuitBreaker: circuitBreakerFromForm(circuitBreakerForm(destination?.circuitBreaker)).value,
    retryPolicy: retryPolicyFromForm(retryForm(destination?.retryPolicy)).value,
  }));

  const details = error?.details ?? [];
  const invalidAt = (path: string) => (details.some((detail) => detail.path === path || detail.path.startsWith(`${path}.`)) ? true : undefined);
  const invalidConfig = new Set((fields ?? []).filter((field) => invalidAt(`config.${field.name}`)).map((field) => field.name));

  function chooseKind(next: string) {
    setKind(next);
    const info = kinds?.find((candidate) => candidate.kind === next);
    setConfigValues(info ? initialValues(fieldsFromSchema(info.configSchema, info.secretFields)) : {});
    setError(null);
  }

  function build(): { body: Body; problems: FieldProblem[] } {
    const config = fields ? configFromValues(fields, configValues) : null;
    const limit = rateLimitFromForm(rateLimit);
    const breaker = circuitBreakerFromForm(circuit);
    const policy = retryPolicyFromForm(retry);
    return {
      body: {
        name: name.trim(),
        ...(config ? { config: config.config } : {}),
        eventTypes: parseEventTypes(eventTypes),
        rateLimit: limit.value,
        circuitBreaker: breaker.value,
        retryPolicy: policy.value,
      },
      problems: [...(config?.problems ?? []), ...limit.problems, ...breaker.problems, ...policy.problems],
    };
  }

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const { body, problems } = build();
    if (problems.length > 0) {
      setError(problemsError(problems));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      if (destination) {
        const changes: DestinationChanges = {};
        const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
        if (body.name !== initial.name) changes.name = body.name;
        if (differs(body.eventTypes, initial.eventTypes)) changes.eventTypes = body.eventTypes;
        if (body.config && differs(body.config, initial.config)) changes.config = body.config;
        if (differs(body.rateLimit, initial.rateLimit)) changes.rateLimit = body.rateLimit;
        if (differs(body.circuitBreaker, initial.circuitBreaker)) changes.circuitBreaker = body.circuitBreaker;
        if (differs(body.retryPolicy, initial.retryPolicy)) changes.retryPolicy = body.retryPolicy;
        const saved = Object.keys(changes).length === 0 ? null : await api.updateDestination(destination.id, changes);
        await onSaved?.(saved);
      } else {
        const created = await api.createDestination({
          name: body.name,
          kind,
          config: body.config ?? {},
          eventTypes: body.eventTypes,
          rateLimit: body.rateLimit,
          ...(JSON.stringify(body.circuitBreaker) !== JSON.stringify(initial.circuitBreaker) ? { circuitBreaker: body.circuitBreaker } : {}),
          ...(JSON.stringify(body.retryPolicy) !== JSON.stringify(initial.retryPolicy) ? { retryPolicy: body.retryPolicy } : {}),
        });
        setName('');
        setConfigValues(kindInfo ? initialValues(fieldsFromSchema(kindInfo.configSchema, kindInfo.secretFields)) : {});
        setEventTypes('*');
        setRateLimit(rateLimitForm(undefined));
        setCircuit(circuitBreakerForm(undefined));
        setRetry(retryForm(null));
        await onCreated?.(created);
      }
    } catch (caught) {
      setError({ message: errorMessage(caught), details: caught instanceof ApiError ? caught.details : [] });
    } finally {
      setBusy(false);
    }
  }

  const id = (suffix: string) => `${idPrefix}-${suffix}`;
  const setRetryField = (key: keyof RetryForm) => (value: string) => setRetry((current) => ({ ...current, [key]: value }));
  /** One labelled input of the retry policy, marked invalid when the API names its field, with an optional hint. */
  const retryInput = (field: Exclude<keyof RetryForm, 'backoff'>, name: string, label: string, attributes: InputHTMLAttributes<HTMLInputElement>, hint?: string) => (
    <>
      <label htmlFor={id(name)}>{label}</label>
      <input
        id={id(name)}
        {...attributes}
        aria-describedby={hint ? id(`${name}-hint`) : undefined}
        aria-invalid={invalidAt(`retryPolicy.${field}`)}
        value={retry[field]}
        onChange={(event) => setRetryField(field)(event.target.value)}
      />
      {hint && (
        <p id={id(`${name}-hint`)} className="hint">
          {hint}
        </p>
      )}
    </>
  );

  return (
    <form aria-labelledby={labelledBy} onSubmit={submit} noValidate>
      <label htmlFor={id('name')}>Name</label>
      <input id={id('name')} type="text" aria-invalid={invalidAt('name')} value={name} onChange={(event) => setName(event.target.value)} />

      {editing ? (
        <p className="kind-line">
          <span className="field-title">Kind</span> {destination.kind}
        </p>
      ) : (
        <>
          <label htmlFor={id('kind')}>Kind</label>
          <select id={id('kind')} value={kind} aria-invalid={invalidAt('kind')} onChange={(event) => chooseKind(event.target.value)}>
            {(kinds ?? []).map((candidate) => (
              <option key={candidate.kind} value={candidate.kind}>
                {candidate.kind}
              </option>
            ))}
          </select>
        </>
      )}

      {fields ? (
        <fieldset className="group">
          <legend>{humanize(kind)} settings</legend>
          <ConfigFields
            idPrefix={id('config')}
            fields={fields}
            values={configValues}
            editing={editing}
            invalid={invalidConfig}
            onChange={(field, value) =>
              setConfigValues((current) =>
                field === variantKey && kindInfo && typeof value === 'string'
                  ? valuesForVariant(kindInfo.configSchema, kindInfo.secretFields, current, value)
                  : { ...current, [field]: value },
              )
            }
          />
        </fieldset>
      ) : (
        <p className="hint">
          {kinds === null
            ? 'The settings of this kind cannot be edited: the destination kinds could not be read.'
            : `The API offers no "${kind}" destinations: their settings cannot be edited here.`}
        </p>
      )}

      <label htmlFor={id('event-types')}>Event types</label>
      <input
        id={id('event-types')}
        type="text"
        aria-describedby={id('event-types-hint')}
        aria-invalid={invalidAt('eventTypes')}
        value={eventTypes}
        onChange={(event) => setEventTypes(event.target.value)}
      />
      <p id={id('event-types-hint')} className="hint">
        Comma separated patterns, e.g. <code>order.created, invoice.*</code>; <code>*</code> matches every event.
      </p>

      <fieldset className="group">
        <legend>Rate limit</legend>
        <div className="check">
          <input
            id={id('rate-limited')}
            type="checkbox"
            checked={rateLimit.limited}
            onChange={(event) => setRateLimit((current) => ({ ...current, limited: event.target.checked }))}
          />
          <label htmlFor={id('rate-limited')}>Limit the rate</label>
        </div>
        {rateLimit.limited ? (
          <div className="inline-fields">
            <label htmlFor={id('rate-max')}>Max requests</label>
            <input
              id={id('rate-max')}
              type="number"
              min={1}
              step={1}
              aria-invalid={invalidAt('rateLimit.max')}
              value={rateLimit.max}
              onChange={(event) => setRateLimit((current) => ({ ...current, max: event.target.value }))}
            />
            <label htmlFor={id('rate-duration')}>Per (ms)</label>
            <input
              id={id('rate-duration')}
              type="number"
              min={1}
              step={1}
              aria-invalid={invalidAt('rateLimit.durationMs')}
              value={rateLimit.durationMs}
              onChange={(event) => setRateLimit((current) => ({ ...current, durationMs: event.target.value }))}
            />
          </div>
        ) : null}
        {rateLimit.limited ? (
          <>
            <div className="check">
              <input
                id={id('rate-adaptive')}
                type="checkbox"
                aria-describedby={id('rate-adaptive-hint')}
                checked={rateLimit.adaptive}
                onChange={(event) => setRateLimit((current) => ({ ...current, adaptive: event.target.checked }))}
              />
              <label htmlFor={id('rate-adaptive')}>Adaptive</label>
            </div>
            <p id={id('rate-adaptive-hint')} className="hint">
              A 429 or a Retry-After from the receiver lowers the rate; it climbs back towards the max while the receiver keeps up.
            </p>
          </>
        ) : (
          <p className="hint">No limit: attempts go out as fast as the workers send them.</p>
        )}
      </fieldset>

      <fieldset className="group">
        <legend>Circuit breaker</legend>
        <div className="check">
          <input
            id={id('cb-enabled')}
            type="checkbox"
            checked={circuit.enabled}
            onChange={(event) => setCircuit((current) => ({ ...current, enabled: event.target.checked }))}
          />
          <label htmlFor={id('cb-enabled')}>Open the circuit on failures</label>
        </div>
        {circuit.enabled ? (
          <div className="inline-fields">
            {CIRCUIT_FIELDS.map((field) => (
              <CircuitInput
                key={field.key}
                id={id(field.name)}
                label={field.label}
                hint={field.hint}
                step={field.step}
                invalid={invalidAt(`circuitBreaker.${field.key}`)}
                value={circuit[field.key]}
                onChange={(value) => setCircuit((current) => ({ ...current, [field.key]: value }))}
              />
            ))}
          </div>
        ) : (
          <p className="hint">Off: attempts go on whatever the receiver answers.</p>
        )}
      </fieldset>

      <fieldset className="group">
        <legend>Retry policy</legend>
        {retryInput('maxAttempts', 'max-attempts', 'Max attempts', { type: 'number', min: 1, step: 1, placeholder: 'default' })}
        <label htmlFor={id('backoff')}>Backoff</label>
        <select id={id('backoff')} value={retry.backoff} onChange={(event) => setRetry((current) => ({ ...current, backoff: event.target.value as Backoff }))}>
          {BACKOFFS.map((backoff) => (
            <option key={backoff.value} value={backoff.value}>
              {backoff.label}
            </option>
          ))}
        </select>
        {retry.backoff === 'default' && <p className="hint">After 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h.</p>}
        {retry.backoff === 'schedule' &&
          retryInput(
            'schedule',
            'schedule',
            'Schedule (ms)',
            { type: 'text', inputMode: 'numeric', placeholder: '1000, 30000, 300000' },
            'Delays after attempt 1, 2, …, comma separated; the last one repeats.',
          )}
        {retry.backoff === 'exponential' && (
          <div className="inline-fields">
            {retryInput('initialDelayMs', 'initial-delay', 'Initial delay (ms)', { type: 'number', min: 0, step: 1 })}
            {retryInput('multiplier', 'multiplier', 'Multiplier', { type: 'number', min: 1, step: 'any' })}
            {retryInput('maxDelayMs', 'max-delay', 'Max delay (ms)', { type: 'number', min: 0, step: 1 })}
          </div>
        )}
        {retryInput(
          'jitter',
          'jitter',
          'Jitter',
          { type: 'number', min: 0, max: 1, step: 'any', placeholder: 'default' },
          'Each delay is spread by ± this fraction (0 to 1).',
        )}
        {retryInput(
          'nonRetryableStatuses',
          'non-retryable',
          'Non-retryable statuses',
          { type: 'text', inputMode: 'numeric', placeholder: '400, 404, 422' },
          'HTTP statuses (300–599) that fail a delivery at once, comma separated.',
        )}
      </fieldset>

      {error && <ErrorAlert message={error.message} details={error.details} />}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={busy || (!editing && !kindInfo)}>
          {editing ? 'Save changes' : 'Create destination'}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

interface CircuitInputProps {
  id: string;
  label: string;
  hint: string;
  step: string;
  invalid: true | undefined;
  value: string;
  onChange: (value: string) => void;
}

/** One number of the circuit breaker: label and input on a row of the grid, its meaning below them. */
function CircuitInput({ id, label, hint, step, invalid, value, onChange }: CircuitInputProps) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        min={0}
        step={step}
        aria-describedby={`${id}-hint`}
        aria-invalid={invalid}
        value={value}
        onChange={(event) => onChange(event.target.value)}
      />
      <p id={`${id}-hint`} className="hint span-2">
        {hint}
      </p>
    </>
  );
}
