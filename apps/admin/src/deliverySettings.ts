// A destination's rate limit, circuit breaker and retry policy as a form holds them (text, as
// typed) and as the API takes them (docs/api.md, docs/delivery.md). Pure, so it is unit-tested on its own.

import type { FieldProblem } from './configSchema';

export interface RateLimit {
  max: number;
  durationMs: number;
  /** A 429 or a Retry-After lowers the rate; it climbs back towards `max` (left out: false). */
  adaptive?: boolean;
}

/** When a destination's circuit opens (no attempts, deliveries wait) and how it recovers. */
export interface CircuitBreaker {
  enabled: boolean;
  failureThreshold: number;
  failureRateThreshold: number;
  minimumRequests: number;
  windowMs: number;
  recoveryTimeoutMs: number;
  halfOpenMaxCalls: number;
}

/** What a new destination gets when it names none (docs/API.md, "Flow control and health"). */
export const DEFAULT_RATE_LIMIT: Required<RateLimit> = { max: 100, durationMs: 1000, adaptive: false };

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreaker = {
  enabled: true,
  failureThreshold: 10,
  failureRateThreshold: 0.5,
  minimumRequests: 20,
  windowMs: 60_000,
  recoveryTimeoutMs: 300_000,
  halfOpenMaxCalls: 3,
};

/** A retry policy as the API stores and takes it; every field is optional on input. */
export interface RetryPolicy {
  maxAttempts?: number;
  schedule?: number[];
  initialDelayMs?: number;
  multiplier?: number;
  maxDelayMs?: number;
  jitter?: number;
  nonRetryableStatuses?: number[];
}

export interface RateLimitForm {
  limited: boolean;
  max: string;
  durationMs: string;
  adaptive: boolean;
}

/** The numbers of a circuit breaker, as typed. */
export type CircuitBreakerNumbers = Exclude<keyof CircuitBreaker, 'enabled'>;

export type CircuitBreakerForm = { enabled: boolean } & Record<CircuitBreakerNumbers, string>;

export const CIRCUIT_BREAKER_NUMBERS: readonly CircuitBreakerNumbers[] = [
  'failureThreshold',
  'failureRateThreshold',
  'minimumRequests',
  'windowMs',
  'recoveryTimeoutMs',
  'halfOpenMaxCalls',
];

/** `default`: the API's own schedule; `schedule`: delays listed; `exponential`: initial × multiplier^(n−1). */
export type Backoff = 'default' | 'schedule' | 'exponential';

export interface RetryForm {
  maxAttempts: string;
  backoff: Backoff;
  /** Delays in ms, comma separated. */
  schedule: string;
  initialDelayMs: string;
  multiplier: string;
  maxDelayMs: string;
  jitter: string;
  /** HTTP statuses, comma separated. */
  nonRetryableStatuses: string;
}

/** The exponential backoff the API applies to a field left out (docs/delivery.md). */
const EXPONENTIAL_DEFAULTS = { initialDelayMs: 5_000, multiplier: 2, maxDelayMs: 36_000_000 };

function text(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

/** The form of a stored limit; `null`: none; `undefined` (a new destination): the API's default limit. */
export function rateLimitForm(rateLimit: RateLimit | null | undefined): RateLimitForm {
  const shown = rateLimit === undefined ? DEFAULT_RATE_LIMIT : rateLimit;
  return shown
    ? { limited: true, max: String(shown.max), durationMs: String(shown.durationMs), adaptive: shown.adaptive ?? false }
    : { limited: false, max: '', durationMs: '1000', adaptive: false };
}

/** The form of a stored circuit breaker; a destination without one (or a new one) shows the defaults. */
export function circuitBreakerForm(circuitBreaker: Partial<CircuitBreaker> | null | undefined): CircuitBreakerForm {
  const shown = { ...DEFAULT_CIRCUIT_BREAKER, ...(circuitBreaker ?? {}) };
  return {
    enabled: shown.enabled,
    failureThreshold: String(shown.failureThreshold),
    failureRateThreshold: String(shown.failureRateThreshold),
    minimumRequests: String(shown.minimumRequests),
    windowMs: String(shown.windowMs),
    recoveryTimeoutMs: String(shown.recoveryTimeoutMs),
    halfOpenMaxCalls: String(shown.halfOpenMaxCalls),
  };
}

export function retryForm(policy: RetryPolicy | null | undefined): RetryForm {
  const stored = policy ?? {};
  const exponential = stored.initialDelayMs !== undefined || stored.multiplier !== undefined || stored.maxDelayMs !== undefined;
  return {
    maxAttempts: text(stored.maxAttempts),
    backoff: stored.schedule ? 'schedule' : exponential ? 'exponential' : 'default',
    schedule: (stored.schedule ?? []).join(', '),
    initialDelayMs: text(exponential ? stored.initialDelayMs : EXPONENTIAL_DEFAULTS.initialDelayMs),
    multiplier: text(exponential ? stored.multiplier : EXPONENTIAL_DEFAULTS.multiplier),
    maxDelayMs: text(exponential ? stored.maxDelayMs : EXPONENTIAL_DEFAULTS.maxDelayMs),
    jitter: text(stored.jitter),
    nonRetryableStatuses: (stored.nonRetryableStatuses ?? []).join(', '),
  };
}

/** "1000, 5000,30000" → [1000, 5000, 30000]; null when an entry is not a number. */
export function parseNumberList(value: string): number[] | null {
  const entries = value
    .split(/[,\s]+/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const numbers = entries.map(Number);
  return numbers.every(Number.isFinite) ? numbers : null;
}

/** Sets `key` of `target` from the text of a number field (left out when blank); `path` names it in a problem. */
function number(target: Record<string, unknown>, key: string, value: string, path: string, problems: FieldProblem[]): void {
  const trimmed = value.trim();
  if (trimmed === '') return;
  const parsed = Number(trimmed);
  if (Number.isFinite(parsed)) target[key] = parsed;
  else problems.push({ path, message: 'must be a number' });
}

/** The `rateLimit` to send: null for none. Numbers go as typed, for the API to check. */
export function rateLimitFromForm(form: RateLimitForm): { value: RateLimit | null; problems: FieldProblem[] } {
  if (!form.limited) return { value: null, problems: [] };
  const problems: FieldProblem[] = [];
  const value: Record<string, unknown> = {};
  number(value, 'max', form.max, 'rateLimit.max', problems);
  number(value, 'durationMs', form.durationMs, 'rateLimit.durationMs', problems);
  for (const key of ['max', 'durationMs'] as const) {
    if (value[key] === undefined && !problems.some((problem) => problem.path === `rateLimit.${key}`)) {
      problems.push({ path: `rateLimit.${key}`, message: 'is required for a rate limit' });
    }
  }
  value.adaptive = form.adaptive;
  return { value: value as unknown as RateLimit, problems };
}

/** The `circuitBreaker` to send, whole (a PATCH replaces it). A blank number is left out: the API's default applies. */
export function circuitBreakerFromForm(form: CircuitBreakerForm): { value: Partial<CircuitBreaker>; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const value: Record<string, unknown> = { enabled: form.enabled };
  for (const key of CIRCUIT_BREAKER_NUMBERS) number(value, key, form[key], `circuitBreaker.${key}`, problems);
  return { value: value as Partial<CircuitBreaker>, problems };
}

/** The `retryPolicy` to send. Blank fields are left out (the API's defaults apply). */
export function retryPolicyFromForm(form: RetryForm): { value: RetryPolicy; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const value: Record<string, unknown> = {};
  number(value, 'maxAttempts', form.maxAttempts, 'retryPolicy.maxAttempts', problems);
  if (form.backoff === 'schedule') {
    const schedule = parseNumberList(form.schedule);
    if (schedule === null) problems.push({ path: 'retryPolicy.schedule', message: 'must be delays in milliseconds, separated by commas' });
    else value.schedule = schedule;
  } else if (form.backoff === 'exponential') {
    number(value, 'initialDelayMs', form.initialDelayMs, 'retryPolicy.initialDelayMs', problems);
    number(value, 'multiplier', form.multiplier, 'retryPolicy.multiplier', problems);
    number(value, 'maxDelayMs', form.maxDelayMs, 'retryPolicy.maxDelayMs', problems);
    if (!('initialDelayMs' in value) && !('multiplier' in value) && !('maxDelayMs' in value) && problems.length === 0) {
      problems.push({ path: 'retryPolicy.initialDelayMs', message: 'give an initial delay, a multiplier or a max delay for exponential backoff' });
    }
  }
  number(value, 'jitter', form.jitter, 'retryPolicy.jitter', problems);
  const statuses = parseNumberList(form.nonRetryableStatuses);
  if (statuses === null) problems.push({ path: 'retryPolicy.nonRetryableStatuses', message: 'must be HTTP status codes, separated by commas' });
  else value.nonRetryableStatuses = statuses;
  return { value: value as RetryPolicy, problems };
}
