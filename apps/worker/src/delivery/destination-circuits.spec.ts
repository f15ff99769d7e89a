import { Logger } from '@nestjs/common';
import type { AuditRepository, DestinationRecord, DestinationRepository } from '@dispatch/db';
import type { DestinationSettings } from '@dispatch/destinations';
import { AttemptOutcome, circuitBreakerSettingsSchema, SendResult } from '@dispatch/domain';
import type { CircuitBreakers, CircuitSnapshot, DeliveryQueues } from '@dispatch/queue';
import type { OperationalEvents } from '@dispatch/ingest';
import type { WorkerMetrics } from '../operations/worker-metrics';
import { OpenCircuits } from '../alerts/open-circuits';
import { AttemptObservers, AttemptReport } from './attempt-observers';
import { DestinationCircuits } from './destination-circuits';

const BREAKER = circuitBreakerSettingsSchema.parse({ failureThreshold: 2, recoveryTimeoutMs: 5_000, halfOpenMaxCalls: 1 });
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { breaker?: Partial<typeof BREAKER>; snapshot?: Partial<CircuitSnapshot>; transitionMade?: boolean; paused?: boolean } = {}) {
  const destination = { id: 'dst_A', circuitBreaker: { ...BREAKER, ...options.breaker } } as unknown as DestinationSettings;
  const record = {
    id: 'dst_A',
    organizationId: 'org_1',
    name: 'A',
    kind: 'webhook',
    enabled: true,
    paused: options.paused ?? false,
    eventTypes: ['*'],
    circuitBreaker: BREAKER,
  };
  const mocks = {
    circuits: {
      record: jest.fn(async () => ({ circuit: 'closed', generation: 4, consecutiveFailures: 1, windowAttempts: 1, windowFailures: 1, ...options.snapshot })),
      transition: jest.fn(async () => options.transitionMade ?? true),
      probe: jest.fn(async () => ({ admitted: true, circuit: 'half-open' })),
      state: jest.fn(async () => ({ circuit: 'open', openedAt: new Date(1_000) })),
      notClosed: jest.fn(async () => new Map()),
      read: jest.fn(),
      unlist: jest.fn(),
      remove: jest.fn(),
    },
    queues: { pause: jest.fn(async () => undefined), resume: jest.fn(async () => undefined), forget: jest.fn(async () => undefined), queue: jest.fn() },
    destinations: { findById: jest.fn(async () => record), findByIds: jest.fn(async () => [record]) },
    audit: { record: jest.fn(async () => undefined) },
    metrics: { circuitTrips: { inc: jest.fn() }, circuitState: { set: jest.fn(), remove: jest.fn(), reset: jest.fn() } },
    events: { emit: jest.fn(async () => ({})) },
    observers: new AttemptObservers(),
    openCircuits: new OpenCircuits(),
    changed: jest.fn(),
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
    log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
  };
  const sut = new DestinationCircuits(
    mocks.circuits as unknown as CircuitBreakers,
    mocks.queues as unknown as DeliveryQueues,
    mocks.destinations as unknown as DestinationRepository,
    mocks.audit as unknown as AuditRepository,
    mocks.metrics as unknown as WorkerMetrics,
    mocks.events as unknown as OperationalEvents,
    mocks.observers,
    mocks.openCircuits,
  );
  sut.onChange(mocks.changed);
  const attempt = (result: Partial<SendResult>, outcome: AttemptOutcome = { kind: 'retry', delayMs: 1000, reason: 'HTTP 500' }) =>
    mocks.observers.notify({ destination, result: { verdict: 'transient', durationMs: 5, ...result }, outcome } as unknown as AttemptReport);
  return { sut, mocks, destination, record: record as unknown as DestinationRecord, attempt };
}

afterEach(() => jest.restoreAllMocks());

describe('DestinationCircuits', () => {
  it('lets every attempt through a circuit it knows nothing against, asking Redis nothing', async () => {
    const { sut, mocks, destination } = setup();
    expect(await sut.admit(destination)).toBe(true);
    expect(sut.holds('dst_A')).toBe(false);
    expect(mocks.circuits.probe).not.toHaveBeenCalled();
  });

  it('counts a failure and, on a trip, opens the circuit once: pauses the queue, audits, announces, counts the trip', async () => {
    const { sut, mocks, destination, attempt } = setup({ snapshot: { consecutiveFailures: 2 } });
    attempt({ statusCode: 500 });
    await turn();
    await turn();
    expect(mocks.circuits.record).toHaveBeenCalledWith('dst_A', { successes: 0, failures: 1 }, 60_000);
    expect(mocks.circuits.transition).toHaveBeenCalledWith('dst_A', expect.objectContaining({ circuit: 'closed', generation: 4 }), 'open');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(mocks.queues.pause).toHaveBeenCalledWith('dst_A');
    expect(mocks.metrics.circuitTrips.inc).toHaveBeenCalledTimes(1);
    expect(mocks.metrics.circuitState.set).toHaveBeenCalledWith({ destination: 'dst_A' }, 2);
    expect(mocks.audit.record).toHaveBeenCalledWith({
      organizationId: 'org_1',
      actor: 'dispatch',
      action: 'destination.circuit_opened',
      target: 'dst_A',
      details: { from: 'closed', to: 'open', reason: '2 consecutive failed attempts' },
    });
    expect(mocks.events.emit).toHaveBeenCalledWith(
      'org_1',
      'dispatch.destination.circuit_opened',
      expect.objectContaining({ reason: '2 consecutive failed attempts', openedAt: new Date(1_000).toISOString() }),
      { aboutDestinationId: 'dst_A', id: 'dst_A.circuit_opened.1000' },
    );
    expect(sut.holds('dst_A')).toBe(true);
    expect(mocks.changed).toHaveBeenCalledWith('dst_A');
    expect(await sut.admit(destination)).toBe(false);
  });

  it('counts the successes of a closed circuit together, once a while; a failure at once, after the successes made before it', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const { sut, mocks, attempt } = setup();
      const delivered: AttemptOutcome = { kind: 'delivered' };
      for (let i = 0; i < 3; i += 1) attempt({ statusCode: 200, verdict: 'delivered' }, delivered);
      expect(mocks.circuits.record).not.toHaveBeenCalled();
      jest.advanceTimersByTime(100);
      expect(mocks.circuits.record).toHaveBeenCalledTimes(1);
      expect(mocks.circuits.record).toHaveBeenLastCalledWith('dst_A', { successes: 3, failures: 0 }, 60_000);

      attempt({ statusCode: 200, verdict: 'delivered' }, delivered);
      attempt({ statusCode: 500 });
      expect(mocks.circuits.record).toHaveBeenCalledTimes(2);
      expect(mocks.circuits.record).toHaveBeenLastCalledWith('dst_A', { successes: 1, failures: 1 }, 60_000);
      jest.advanceTimersByTime(100);
      expect(mocks.circuits.record).toHaveBeenCalledTimes(2);

      attempt({ statusCode: 200, verdict: 'delivered' }, delivered);
      await sut.onApplicationShutdown();
      expect(mocks.circuits.record).toHaveBeenLastCalledWith('dst_A', { successes: 1, failures: 0 }, 60_000);
    } finally {
      jest.useRealTimers();
    }
  });

  it('does nothing more when another process made the transition first', async () => {
    const { mocks, attempt } = setup({ snapshot: { consecutiveFailures: 2 }, transitionMade: false });
    attempt({ statusCode: 500 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(mocks.circuits.transition).toHaveBeenCalled();
    expect(mocks.queues.pause).not.toHaveBeenCalled();
    expect(mocks.audit.record).not.toHaveBeenCalled();
    expect(mocks.metrics.circuitTrips.inc).not.toHaveBeenCalled();
  });

  it('counts nothing for a throttled answer or a disabled breaker', async () => {
    const throttled = setup();
    throttled.attempt({ statusCode: 429 });
    throttled.attempt({ statusCode: 503, retryAfterMs: 1000 });
    const disabled = setup({ breaker: { enabled: false } });
    disabled.attempt({ statusCode: 500 });
    await turn();
    expect(throttled.mocks.circuits.record).not.toHaveBeenCalled();
    expect(disabled.mocks.circuits.record).not.toHaveBeenCalled();
  });

  it('in half-open takes a probe per attempt; once they are all taken it holds the destination without asking again', async () => {
    const { sut, mocks, destination } = setup();
    sut.noticed('dst_A half-open');
    expect(sut.holds('dst_A')).toBe(false);
    expect(await sut.admit(destination)).toBe(true);
    mocks.circuits.probe.mockResolvedValueOnce({ admitted: false, circuit: 'half-open' });
    expect(await sut.admit(destination)).toBe(false);
    expect(sut.holds('dst_A')).toBe(true);
    expect(await sut.admit(destination)).toBe(false);
    expect(mocks.circuits.probe).toHaveBeenCalledTimes(2);
    // Made half-open afresh (its probes never answered): its probes are back.
    sut.noticed('dst_A half-open');
    expect(sut.holds('dst_A')).toBe(false);
    expect(await sut.admit(destination)).toBe(true);
    // It closes: the destination is let go and its series leaves the metric.
    sut.noticed('dst_A closed');
    expect(sut.holds('dst_A')).toBe(false);
    expect(mocks.metrics.circuitState.remove).toHaveBeenCalledWith({ destination: 'dst_A' });
    expect(await sut.admit(destination)).toBe(true);
  });

  it('scan: makes an open circuit half-open after recoveryTimeoutMs and resumes its queue, unless an operator paused it', async () => {
    for (const paused of [false, true]) {
      const { sut, mocks } = setup({ paused });
      mocks.circuits.notClosed.mockResolvedValue(new Map([['dst_A', 'open']]));
      mocks.circuits.read.mockResolvedValue({ circuit: 'open', since: 1_000, generation: 7, openedAt: 1_000, probesTaken: 0 });
      mocks.queues.queue.mockReturnValue({ isPaused: async () => true });
      await sut.scan(5_999);
      expect(mocks.circuits.transition).not.toHaveBeenCalled();
      await sut.scan(6_000);
      expect(mocks.circuits.transition).toHaveBeenCalledWith('dst_A', expect.objectContaining({ circuit: 'open', generation: 7 }), 'half-open');
      expect(mocks.queues.resume).toHaveBeenCalledTimes(paused ? 0 : 1);
      expect(mocks.audit.record).toHaveBeenCalledWith(expect.objectContaining({ action: 'destination.circuit_half_opened' }));
    }
  });

  it('scan: pauses again the queue of an open circuit that was resumed, and forgets circuits of deleted destinations', async () => {
    const { sut, mocks } = setup();
    mocks.circuits.notClosed.mockResolvedValue(
      new Map([
        ['dst_A', 'open'],
        ['dst_gone', 'open'],
      ]),
    );
    mocks.circuits.read.mockResolvedValue({ circuit: 'open', since: 1_000, generation: 7, openedAt: 1_000, probesTaken: 0 });
    mocks.queues.queue.mockReturnValue({ isPaused: async () => false });
    await sut.scan(2_000);
    expect(mocks.queues.pause).toHaveBeenCalledWith('dst_A');
    expect(mocks.circuits.remove).toHaveBeenCalledWith('dst_gone');
    expect(sut.holds('dst_A')).toBe(true);
  });

  it('gives the circuit_open alert the circuits that are not closed', async () => {
    const { mocks } = setup();
    mocks.circuits.notClosed.mockResolvedValue(
      new Map([
        ['dst_A', 'open'],
        ['dst_B', 'half-open'],
      ]),
    );
    expect(await mocks.openCircuits.read()).toEqual(new Set(['dst_A', 'dst_B']));
  });
});
