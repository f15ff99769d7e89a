import type { CircuitBreakerSettings } from './circuit-breaker-settings';

/**
 * A destination's circuit:
 * - `closed`: attempts are made;
 * - `open`: no attempt is made and none is used up, deliveries wait;
 * - `half-open`: after `recoveryTimeoutMs` open, up to `halfOpenMaxCalls` attempts (probes) are
 *   let through; a success closes the circuit, a failure opens it again.
 */
export type Circuit = 'closed' | 'open' | 'half-open';

/** The circuit breaker's metric value of each circuit (`dispatch_circuit_breaker_state`). */
export const CIRCUIT_GAUGE: Readonly<Record<Circuit, number>> = { closed: 0, 'half-open': 1, open: 2 };

/**
 * What one attempt tells the circuit breaker about its receiver (`attemptHealth`): `success`
 * (delivered), `failure` (any other answer, or none: timeout, refused connection, 5xx, 4xx…), or
 * `throttled` (a 429, or any answer with `Retry-After`: the receiver is alive and asks to slow
 * down). A throttled attempt is neither a failure nor a success: it does not count in the
 * consecutive failures (nor break a run of them), nor in the window's attempts, and in half-open
 * it neither closes nor reopens the circuit (the probe it used stays used).
 */
export type AttemptSignal = 'success' | 'failure' | 'throttled';

/** What the breaker has counted for a destination, after an attempt. */
export type CircuitCounts = {
  circuit: Circuit;
  /** Failed attempts since the last success (throttled ones neither count nor break the run). */
  consecutiveFailures: number;
  /** Successful and failed attempts in the last `windowMs`. */
  windowAttempts: number;
  windowFailures: number;
};

/**
 * Why a failed attempt opens a closed circuit, or null when it does not: `failureThreshold`
 * consecutive failures, or at least `minimumRequests` attempts in the window of which a share
 * of at least `failureRateThreshold` failed. A disabled breaker never opens.
 */
export function tripReason(settings: CircuitBreakerSettings, counts: Omit<CircuitCounts, 'circuit'>): string | null {
  if (!settings.enabled) return null;
  if (counts.consecutiveFailures >= settings.failureThreshold) return `${counts.consecutiveFailures} consecutive failed attempts`;
  if (counts.windowAttempts >= settings.minimumRequests && counts.windowFailures / counts.windowAttempts >= settings.failureRateThreshold) {
    return `${counts.windowFailures} of ${counts.windowAttempts} attempts in ${settings.windowMs} ms failed`;
  }
  return null;
}

/** A change of circuit, with why it happened. */
export type CircuitTransition = { to: Circuit; reason: string };

/**
 * What an attempt's outcome does to the circuit it was made under (counted already in `counts`):
 * closed opens on a trip (`tripReason`); half-open closes on a success and opens on a failure;
 * open changes nothing (an attempt that was under way when it opened).
 */
export function transitionAfterAttempt(settings: CircuitBreakerSettings, counts: CircuitCounts, signal: AttemptSignal): CircuitTransition | null {
  if (!settings.enabled || signal === 'throttled') return null;
  if (counts.circuit === 'half-open') return signal === 'success' ? { to: 'closed', reason: 'a probe succeeded' } : { to: 'open', reason: 'a probe failed' };
  if (counts.circuit !== 'closed' || signal !== 'failure') return null;
  const reason = tripReason(settings, counts);
  return reason ? { to: 'open', reason } : null;
}

/**
 * What time alone does to a circuit (`since`: when it last changed): an open one becomes
 * half-open once `recoveryTimeoutMs` has passed since it opened; a half-open one that let probes
 * through which have not answered within `recoveryTimeoutMs` (their worker stopped) becomes
 * half-open afresh, with its probes back (one that let none through waits for deliveries);
 * with the breaker disabled, any circuit closes.
 */
export function transitionInTime(
  settings: CircuitBreakerSettings,
  circuit: { circuit: Circuit; since: number; probesTaken: number },
  now: number,
): CircuitTransition | null {
  if (circuit.circuit === 'closed') return null;
  if (!settings.enabled) return { to: 'closed', reason: 'the circuit breaker was disabled' };
  if (now - circuit.since < settings.recoveryTimeoutMs) return null;
  if (circuit.circuit === 'open') return { to: 'half-open', reason: `${settings.recoveryTimeoutMs} ms passed since it opened` };
  return circuit.probesTaken > 0 ? { to: 'half-open', reason: 'its probes did not answer' } : null;
}

/** Whether an attempt may be made now, given the probes already let through while half-open. */
export function circuitAdmits(settings: CircuitBreakerSettings, circuit: Circuit, probesTaken: number): boolean {
  if (!settings.enabled || circuit === 'closed') return true;
  return circuit === 'half-open' && probesTaken < settings.halfOpenMaxCalls;
}

/** How many buckets a window is counted in: the window slides by a tenth of `windowMs`. */
export const CIRCUIT_WINDOW_BUCKETS = 10;

/** The state a `CircuitBreaker` keeps: what is stored per destination. */
export type BreakerState = {
  circuit: Circuit;
  /** When it last changed circuit (ms); for `open`, when it opened. */
  since: number;
  consecutiveFailures: number;
  /** Probes let through since it became half-open. */
  probesTaken: number;
  /** Attempts and failures per bucket of `windowMs / CIRCUIT_WINDOW_BUCKETS`, by bucket number. */
  buckets: ReadonlyArray<{ bucket: number; attempts: number; failures: number }>;
};

export const CLOSED_CIRCUIT: BreakerState = { circuit: 'closed', since: 0, consecutiveFailures: 0, probesTaken: 0, buckets: [] };

/**
 * The breaker as a pure state machine: each step takes a state and returns the next, with the
 * transition it made, if any. Dispatch keeps the state of each destination in Redis, where one
 * script per step updates the same fields atomically for every worker process (`CircuitBreakers`
 * in @dispatch/queue); the decisions are these functions' in both places.
 */
export const CircuitBreaker = {
  /** Whether an attempt may start now; in half-open a yes uses up a probe. */
  admit(settings: CircuitBreakerSettings, state: BreakerState): { admitted: boolean; state: BreakerState } {
    if (!circuitAdmits(settings, state.circuit, state.probesTaken)) return { admitted: false, state };
    return { admitted: true, state: state.circuit === 'half-open' ? { ...state, probesTaken: state.probesTaken + 1 } : state };
  },

  /** Counts an attempt's outcome at `now` and applies the transition it causes. */
  record(settings: CircuitBreakerSettings, state: BreakerState, signal: AttemptSignal, now: number): { state: BreakerState; transition: CircuitTransition | null } {
    if (signal === 'throttled') return { state, transition: null };
    const width = Math.max(1, Math.floor(settings.windowMs / CIRCUIT_WINDOW_BUCKETS));
    const current = Math.floor(now / width);
    const kept = state.buckets.filter((entry) => entry.bucket > current - CIRCUIT_WINDOW_BUCKETS && entry.bucket !== current);
    const previous = state.buckets.find((entry) => entry.bucket === current) ?? { bucket: current, attempts: 0, failures: 0 };
    const failed = signal === 'failure' ? 1 : 0;
    const buckets = [...kept, { bucket: current, attempts: previous.attempts + 1, failures: previous.failures + failed }];
    const counted: BreakerState = { ...state, buckets, consecutiveFailures: failed ? state.consecutiveFailures + 1 : 0 };
    const transition = transitionAfterAttempt(settings, { circuit: state.circuit, ...windowCounts(counted) }, signal);
    return { state: transition ? enter(transition.to, now) : counted, transition };
  },

  /** Applies what time alone does (`transitionInTime`). */
  tick(settings: CircuitBreakerSettings, state: BreakerState, now: number): { state: BreakerState; transition: CircuitTransition | null } {
    const transition = transitionInTime(settings, state, now);
    return { state: transition ? enter(transition.to, now) : state, transition };
  },
};

function windowCounts(state: BreakerState): Omit<CircuitCounts, 'circuit'> {
  return {
    consecutiveFailures: state.consecutiveFailures,
    windowAttempts: state.buckets.reduce((sum, entry) => sum + entry.attempts, 0),
    windowFailures: state.buckets.reduce((sum, entry) => sum + entry.failures, 0),
  };
}

/** A circuit that changes starts counting afresh: what opened it does not open it again. */
function enter(circuit: Circuit, now: number): BreakerState {
  return { circuit, since: now, consecutiveFailures: 0, probesTaken: 0, buckets: [] };
}
