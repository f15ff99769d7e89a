import { BreakerState, CircuitBreaker, circuitAdmits, CLOSED_CIRCUIT, transitionAfterAttempt, tripReason } from './circuit-breaker';
import { circuitBreakerSettingsSchema, CircuitBreakerSettings } from './circuit-breaker-settings';

const SMALL = { failureThreshold: 3, failureRateThreshold: 0.5, minimumRequests: 4, windowMs: 10_000, recoveryTimeoutMs: 5_000, halfOpenMaxCalls: 2 };

function setup(overrides: Partial<CircuitBreakerSettings> = {}) {
  const settings = circuitBreakerSettingsSchema.parse({ ...SMALL, ...overrides });
  let state: BreakerState = CLOSED_CIRCUIT;
  const transitions: string[] = [];
  const sut = {
    get state() {
      return state;
    },
    record(signal: 'success' | 'failure' | 'throttled', now: number) {
      const next = CircuitBreaker.record(settings, state, signal, now);
      state = next.state;
      if (next.transition) transitions.push(next.transition.to);
      return next.transition;
    },
    tick(now: number) {
      const next = CircuitBreaker.tick(settings, state, now);
      state = next.state;
      if (next.transition) transitions.push(next.transition.to);
      return next.transition;
    },
    admit() {
      const next = CircuitBreaker.admit(settings, state);
      state = next.state;
      return next.admitted;
    },
  };
  return { sut, mocks: { settings, transitions } };
}

describe('circuit breaker', () => {
  it('opens after failureThreshold consecutive failures and then lets nothing through', () => {
    const { sut, mocks } = setup();
    expect(sut.record('failure', 1000)).toBeNull();
    expect(sut.record('failure', 1001)).toBeNull();
    expect(sut.record('failure', 1002)).toEqual({ to: 'open', reason: '3 consecutive failed attempts' });
    expect(sut.state).toMatchObject({ circuit: 'open', since: 1002 });
    expect(sut.admit()).toBe(false);
    expect(mocks.transitions).toEqual(['open']);
  });

  it('a success breaks a run of failures', () => {
    const { sut } = setup({ minimumRequests: 100 });
    sut.record('failure', 1);
    sut.record('failure', 2);
    sut.record('success', 3);
    sut.record('failure', 4);
    expect(sut.record('failure', 5)).toBeNull();
    expect(sut.state.circuit).toBe('closed');
  });

  it('opens when at least minimumRequests attempts in the window failed at failureRateThreshold or more', () => {
    const { sut } = setup({ failureThreshold: 100 });
    sut.record('success', 0);
    sut.record('failure', 100);
    sut.record('success', 200);
    // 1 of 3 failed, then 2 of 4: the 4th attempt reaches minimumRequests at a rate of 0.5.
    expect(sut.record('failure', 300)).toEqual({ to: 'open', reason: '2 of 4 attempts in 10000 ms failed' });
  });

  it('does not open on a high failure rate below minimumRequests, nor on attempts that left the window', () => {
    const { sut } = setup({ failureThreshold: 100 });
    sut.record('failure', 0);
    sut.record('failure', 1);
    sut.record('success', 2);
    expect(sut.state.circuit).toBe('closed');
    // 11 s later the first three are out of the 10 s window: 1 failure of 2 is under minimumRequests.
    sut.record('success', 11_000);
    expect(sut.record('failure', 11_001)).toBeNull();
    expect(sut.state.circuit).toBe('closed');
  });

  it('does not count throttled attempts (429, Retry-After): neither as failures nor as successes', () => {
    const { sut } = setup();
    sut.record('failure', 1);
    sut.record('failure', 2);
    for (let i = 0; i < 50; i += 1) expect(sut.record('throttled', 3 + i)).toBeNull();
    expect(sut.state.consecutiveFailures).toBe(2);
    expect(sut.record('failure', 100)?.to).toBe('open');
  });

  it('becomes half-open after recoveryTimeoutMs and lets halfOpenMaxCalls probes through', () => {
    const { sut } = setup();
    for (const at of [1, 2, 3]) sut.record('failure', at);
    expect(sut.tick(4_999)).toBeNull();
    expect(sut.tick(5_003)).toEqual({ to: 'half-open', reason: '5000 ms passed since it opened' });
    expect([sut.admit(), sut.admit(), sut.admit()]).toEqual([true, true, false]);
  });

  it('closes on a successful probe and counts afresh', () => {
    const { sut, mocks } = setup();
    for (const at of [1, 2, 3]) sut.record('failure', at);
    sut.tick(6_000);
    sut.admit();
    expect(sut.record('success', 6_100)).toEqual({ to: 'closed', reason: 'a probe succeeded' });
    expect(sut.state).toEqual({ circuit: 'closed', since: 6_100, consecutiveFailures: 0, probesTaken: 0, buckets: [] });
    expect(sut.admit()).toBe(true);
    expect(mocks.transitions).toEqual(['open', 'half-open', 'closed']);
  });

  it('opens again on a failed probe, for another recoveryTimeoutMs', () => {
    const { sut } = setup();
    for (const at of [1, 2, 3]) sut.record('failure', at);
    sut.tick(6_000);
    sut.admit();
    expect(sut.record('failure', 6_100)).toEqual({ to: 'open', reason: 'a probe failed' });
    expect(sut.admit()).toBe(false);
    expect(sut.tick(11_000)).toBeNull();
    expect(sut.tick(11_100)?.to).toBe('half-open');
  });

  it('a throttled probe neither closes nor reopens, and its probe stays used', () => {
    const { sut } = setup({ halfOpenMaxCalls: 1 });
    for (const at of [1, 2, 3]) sut.record('failure', at);
    sut.tick(6_000);
    expect(sut.admit()).toBe(true);
    expect(sut.record('throttled', 6_100)).toBeNull();
    expect(sut.state.circuit).toBe('half-open');
    expect(sut.admit()).toBe(false);
  });

  it('gives a half-open circuit its probes back when they have not answered within recoveryTimeoutMs', () => {
    const { sut } = setup({ halfOpenMaxCalls: 1 });
    for (const at of [1, 2, 3]) sut.record('failure', at);
    sut.tick(6_000);
    sut.admit();
    expect(sut.tick(10_000)).toBeNull();
    expect(sut.tick(11_000)).toEqual({ to: 'half-open', reason: 'its probes did not answer' });
    expect(sut.admit()).toBe(true);
  });

  it('a half-open circuit that let no probe through waits for one, however long', () => {
    const { sut } = setup();
    for (const at of [1, 2, 3]) sut.record('failure', at);
    sut.tick(6_000);
    expect(sut.tick(60_000)).toBeNull();
    expect(sut.state).toMatchObject({ circuit: 'half-open', since: 6_000 });
  });

  it('never opens when disabled, and a disabled breaker closes an open circuit', () => {
    const { sut, mocks } = setup({ enabled: false });
    for (let i = 0; i < 100; i += 1) expect(sut.record('failure', i)).toBeNull();
    expect(sut.admit()).toBe(true);
    expect(tripReason(mocks.settings, { consecutiveFailures: 1000, windowAttempts: 1000, windowFailures: 1000 })).toBeNull();
    const open: BreakerState = { ...CLOSED_CIRCUIT, circuit: 'open', since: 0 };
    expect(CircuitBreaker.tick(mocks.settings, open, 1).transition).toEqual({ to: 'closed', reason: 'the circuit breaker was disabled' });
    expect(circuitAdmits(mocks.settings, 'open', 0)).toBe(true);
  });

  it('an attempt that ends while the circuit is open changes nothing', () => {
    const { mocks } = setup();
    const counts = { circuit: 'open' as const, consecutiveFailures: 1, windowAttempts: 1, windowFailures: 1 };
    expect(transitionAfterAttempt(mocks.settings, counts, 'failure')).toBeNull();
    expect(transitionAfterAttempt(mocks.settings, counts, 'success')).toBeNull();
  });
});
