import { Logger } from '@nestjs/common';
import type { Job, WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { DispatchConfig } from '@dispatch/config';
import type { ClaimedDelivery, DeliveryScans, DestinationRecord, DestinationRepository } from '@dispatch/db';
import { DestinationSettings, destinationSettings, Senders, webhookKind } from '@dispatch/destinations';
import { AttemptOutcome, encryptionKeyId, SecretBox } from '@dispatch/domain';
import { deliveryBackoff, DeliveryJobData, DeliveryQueues } from '@dispatch/queue';
import { deferred } from '@dispatch/testing';
import { AttemptObservers } from '../delivery/attempt-observers';
import { AttemptSlots, SlotsClosedError } from '../delivery/attempt-slots';
import type { DeliveryProcessor } from '../delivery/delivery-processor';
import type { DestinationCircuits } from '../delivery/destination-circuits';
import type { WorkerMetrics } from '../operations/worker-metrics';
import { DestinationSupervisor } from './destination-supervisor';

/** What the stand-in for BullMQ's Worker keeps of its construction, and lets a test do to it. */
type FakeWorker = {
  name: string;
  processor: (job: Job<DeliveryJobData>, token?: string) => Promise<void>;
  opts: WorkerOptions;
  /** Emits a worker event (`active`, `completed`, `failed`, `error`) to the supervisor's listeners. */
  emit(event: string, ...args: unknown[]): void;
  close: jest.Mock<Promise<void>, []>;
  pause: jest.Mock;
  resume: jest.Mock;
};

// A Worker would open Redis connections: the stand-in only records what the supervisor asks of it.
jest.mock('bullmq', () => {
  const workers: unknown[] = [];
  class Worker {
    private readonly listeners = new Map<string, ((...args: unknown[]) => void)[]>();
    readonly close = jest.fn(async () => undefined);
    readonly pause = jest.fn(async () => undefined);
    readonly resume = jest.fn();
    constructor(
      readonly name: string,
      readonly processor: unknown,
      readonly opts: unknown,
    ) {
      workers.push(this);
    }
    on(event: string, listener: (...args: unknown[]) => void): this {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
      return this;
    }
    emit(event: string, ...args: unknown[]): void {
      for (const listener of this.listeners.get(event) ?? []) listener(...args);
    }
  }
  return { ...jest.requireActual('bullmq'), Worker, workers };
});
// The supervisor takes only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({}));

const workers = (jest.requireMock('bullmq') as { workers: FakeWorker[] }).workers;

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const IDLE_MS = 60_000;
const SLICE_MS = 1_000;
const PREFIX = 'dsp';
/** The key the worker holds; the stored destinations are sealed with it. */
const secrets = new SecretBox({ current: Buffer.alloc(32, 1) });

function destinationRecord(id: string, overrides: Partial<DestinationRecord> = {}): DestinationRecord {
  return {
    id,
    organizationId: 'org_1',
    name: id,
    kind: 'webhook',
    config: { url: `https://receiver.test/${id}` },
    secret: secrets.seal('whsec_current', { row: id, field: ['secret'] }),
    previousSecret: null,
    previousSecretExpiresAt: null,
    eventTypes: ['*'],
    enabled: true,
    disabledReason: null,
    disabledAt: null,
    paused: false,
    rateLimitMax: null,
    rateLimitDurationMs: null,
    rateLimitAdaptive: false,
    circuitBreaker: null,
    retryPolicy: {},
    ordering: 'none',
    createdAt: new Date(NOW),
    updatedAt: new Date(NOW),
    ...overrides,
  };
}

/** Lets every pending promise callback run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const job = (deliveryId: string) => ({ id: deliveryId, data: { deliveryId } }) as unknown as Job<DeliveryJobData>;

function setup(records: DestinationRecord[] = [destinationRecord('dst_A')], turns = { maxQueues: 100, sliceMs: SLICE_MS }) {
  const stored = new Map(records.map((record) => [record.id, record]));
  const handlers = new Map<string, (...args: unknown[]) => void>();
  const subscriber = {
    on: jest.fn((event: string, handler: (...args: unknown[]) => void) => handlers.set(event, handler)),
    subscribe: jest.fn(async (..._channels: string[]) => undefined),
    disconnect: jest.fn(),
  };
  /** Destinations with work due, as the periodic scan finds them. */
  const due = new Set<string>();
  /** Jobs waiting per destination queue (none unless set). */
  const queued = new Map<string, number>();
  const mocks = {
    stored,
    due,
    queued,
    config: { queuePrefix: PREFIX, worker: { concurrency: 4, lockMs: 30_000, idleMs: IDLE_MS, scanMs: 5_000, ...turns } },
    redis: { duplicate: jest.fn(() => subscriber) },
    subscriber,
    destinations: {
      findById: jest.fn(async (id: string): Promise<DestinationRecord | null> => stored.get(id) ?? null),
      findByIds: jest.fn(async (ids: string[]): Promise<DestinationRecord[]> => ids.flatMap((id) => stored.get(id) ?? [])),
    },
    deliveries: { destinationsWithWorkDue: jest.fn(async (_horizon: Date): Promise<string[]> => [...due]) },
    queues: {
      queue: jest.fn((id: string) => ({ getJobCounts: jest.fn(async () => ({ wait: queued.get(id) ?? 0, active: 0, prioritized: 0 })) })),
      forget: jest.fn(async (_id: string) => undefined),
    },
    processor: {
      process: jest.fn(
        async (_job: Job<DeliveryJobData>, _token: string | undefined, _destination: DestinationSettings, _slots: AttemptSlots): Promise<void> => undefined,
      ),
      flush: jest.fn(async () => undefined),
    },
    metrics: { runningWorkers: { set: jest.fn() } },
    // Every circuit closed: nothing holds a destination.
    circuits: { holds: () => false, onChange: jest.fn(), noticed: jest.fn(), scan: jest.fn(async () => undefined) },
    senders: { release: jest.fn(async (_kind: string, _destinationId: string) => undefined) },
    observers: new AttemptObservers(),
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
    log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
    debug: jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined),
    /** A notice on a pub/sub channel, as Redis would hand it to the supervisor's subscriber. */
    publish: (channel: string, destinationId: string) => handlers.get('message')?.(channel, destinationId),
  };
  const sut = new DestinationSupervisor(
    mocks.config as unknown as DispatchConfig,
    mocks.redis as unknown as Redis,
    mocks.destinations as unknown as DestinationRepository,
    mocks.deliveries as unknown as DeliveryScans,
    mocks.queues as unknown as DeliveryQueues,
    mocks.processor as unknown as DeliveryProcessor,
    mocks.metrics as unknown as WorkerMetrics,
    mocks.senders as unknown as Senders,
    secrets,
    mocks.observers,
    mocks.circuits as unknown as DestinationCircuits,
  );
  return { sut, mocks };
}

/** An attempt report as the processor gives it to the observers. */
function report(destination: DestinationSettings, outcome: AttemptOutcome) {
  const delivery = { id: 'dlv_1', destinationId: destination.id, attemptNumber: 1 } as ClaimedDelivery;
  return { destination, delivery, attemptId: 'att_1', result: { verdict: 'delivered' as const, durationMs: 1 }, outcome };
}

beforeEach(() => {
  workers.length = 0;
  jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('DestinationSupervisor starting workers', () => {
  it('starts no worker for a destination of a kind this deployment lacks, and says why', async () => {
    const { sut, mocks } = setup([destinationRecord('dst_P', { kind: 'carrier-pigeon' }), destinationRecord('dst_A')]);
    mocks.due.add('dst_P').add('dst_A');
    await sut.scan();
    expect(workers.map((worker) => worker.name)).toEqual(['{dst_A}']);
    expect(mocks.warn).toHaveBeenCalledWith('destination dst_P is of kind "carrier-pigeon", which this deployment cannot deliver to');
  });

  it('starts no worker for a destination whose secrets it cannot open, and names the destination and the key', async () => {
    const otherKey = Buffer.alloc(32, 2);
    const sealedElsewhere = new SecretBox({ current: otherKey }).seal('whsec_current', { row: 'dst_K', field: ['secret'] });
    const { sut, mocks } = setup([destinationRecord('dst_K', { secret: sealedElsewhere }), destinationRecord('dst_A')]);
    mocks.due.add('dst_K').add('dst_A');
    await sut.scan();
    expect(workers.map((worker) => worker.name)).toEqual(['{dst_A}']);
    expect(mocks.warn).toHaveBeenCalledWith(
      expect.stringMatching(new RegExp(`^destination dst_K: cannot read its secret: it is encrypted with key ${encryptionKeyId(otherKey)}, `)),
    );
    expect(JSON.stringify(mocks.warn.mock.calls)).not.toContain('whsec_current');
  });

  it("starts a worker on the destination's queue with its rate limit as BullMQ's limiter, taking one job ahead per attempt slot", async () => {
    const { sut, mocks } = setup([destinationRecord('dst_A', { rateLimitMax: 10, rateLimitDurationMs: 1_000 })]);
    await sut.wake('dst_A');
    expect(workers).toHaveLength(1);
    expect(workers[0].name).toBe('{dst_A}');
    expect(workers[0].opts).toEqual({
      connection: mocks.redis,
      prefix: PREFIX,
      concurrency: 8,
      lockDuration: 30_000,
      stalledInterval: 30_000,
      limiter: { max: 10, duration: 1_000 },
      settings: { backoffStrategy: deliveryBackoff },
    });
    expect(mocks.metrics.runningWorkers.set).toHaveBeenLastCalledWith(1);
  });

  it('sets no limiter for a destination without a rate limit', async () => {
    const { sut } = setup();
    await sut.wake('dst_A');
    expect(workers).toHaveLength(1);
    expect(workers[0].opts).not.toHaveProperty('limiter');
  });

  it.each([
    ['disabled', { enabled: false }],
    ['paused', { paused: true }],
  ])('starts no worker for a %s destination', async (_name, stopped) => {
    const { sut } = setup([destinationRecord('dst_A', stopped)]);
    await sut.wake('dst_A');
    expect(workers).toHaveLength(0);
  });

  it("hands each job to the processor with the destination's settings", async () => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    await workers[0].processor(job('dlv_1'), 'token-1');
    expect(mocks.processor.process).toHaveBeenCalledWith(
      job('dlv_1'),
      'token-1',
      destinationSettings(destinationRecord('dst_A'), secrets),
      expect.objectContaining({ size: 4 }),
    );
    expect(mocks.processor.process.mock.calls[0][2].kind).toBe(webhookKind);
  });

  it('runs one worker per destination however often it is woken', async () => {
    const { sut, mocks } = setup();
    await Promise.all([sut.wake('dst_A'), sut.wake('dst_A')]);
    await sut.wake('dst_A');
    expect(workers).toHaveLength(1);
    expect(mocks.destinations.findById).toHaveBeenCalledTimes(1);
  });
});

describe('DestinationSupervisor idle workers', () => {
  it('closes the attempt slots of a worker it closes, so jobs claimed ahead that find no free slot give their claims back instead of sending', async () => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    await workers[0].processor(job('dlv_1'), 'token-1');
    const slots = mocks.processor.process.mock.calls[0][3];
    jest.setSystemTime(NOW + IDLE_MS + 1);
    await sut.scan();
    expect(workers[0].close).toHaveBeenCalledTimes(1);
    const underWay = deferred<void>();
    const attempts = Array.from({ length: slots.size }, () => slots.run(() => underWay.promise));
    await expect(slots.run(async () => 'sent')).rejects.toBeInstanceOf(SlotsClosedError);
    underWay.resolve();
    await Promise.all(attempts);
  });

  it("closes a worker idle for longer than the idle time and releases its kind's sender for the destination", async () => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    jest.setSystemTime(NOW + IDLE_MS + 1);
    await sut.scan();
    expect(workers[0].close).toHaveBeenCalledTimes(1);
    expect(mocks.senders.release).toHaveBeenCalledWith('webhook', 'dst_A');
    expect(mocks.senders.release.mock.invocationCallOrder[0]).toBeGreaterThan(workers[0].close.mock.invocationCallOrder[0]);
    expect(mocks.metrics.runningWorkers.set).toHaveBeenLastCalledWith(0);
    await sut.wake('dst_A');
    expect(workers).toHaveLength(2);
  });

  it('keeps no queue object of a destination whose counts it read (a worker process looks at many in turn)', async () => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    jest.setSystemTime(NOW + IDLE_MS + 1);
    await sut.scan();
    expect(mocks.queues.queue).toHaveBeenCalledWith('dst_A');
    expect(mocks.queues.forget).toHaveBeenCalledWith('dst_A');
    expect(mocks.queues.forget.mock.invocationCallOrder[0]).toBeGreaterThan(mocks.queues.queue.mock.invocationCallOrder[0]);
  });

  it.each([
    ['it has not been idle long enough', IDLE_MS, () => undefined],
    ['its queue has jobs waiting', IDLE_MS + 1, (mocks: ReturnType<typeof setup>['mocks']) => mocks.queued.set('dst_A', 3)],
    ['its destination has work due', IDLE_MS + 1, (mocks: ReturnType<typeof setup>['mocks']) => mocks.due.add('dst_A')],
  ])('keeps a worker when %s', async (_name, elapsed, arrange) => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    arrange(mocks);
    jest.setSystemTime(NOW + elapsed);
    await sut.scan();
    expect(workers[0].close).not.toHaveBeenCalled();
    expect(mocks.senders.release).not.toHaveBeenCalled();
  });

  it.each(['active', 'completed', 'failed'])('counts a job %s as activity that keeps the worker', async (event) => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    jest.setSystemTime(NOW + IDLE_MS - 1_000);
    workers[0].emit(event);
    jest.setSystemTime(NOW + IDLE_MS + 1_000);
    await sut.scan();
    expect(workers[0].close).not.toHaveBeenCalled();
    expect(mocks.senders.release).not.toHaveBeenCalled();
  });
});

describe('DestinationSupervisor reloading a destination', () => {
  it('reloads a destination whose receiver answered gone and stops its worker now that it is disabled', async () => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    const settings = destinationSettings(destinationRecord('dst_A'), secrets);
    mocks.stored.set('dst_A', destinationRecord('dst_A', { enabled: false, disabledReason: 'receiver answered 410 Gone' }));
    mocks.observers.notify(report(settings, { kind: 'gone', reason: 'receiver answered 410 Gone' }));
    await turn();
    expect(mocks.destinations.findById).toHaveBeenCalledTimes(2);
    expect(workers[0].close).toHaveBeenCalledTimes(1);
    expect(mocks.senders.release).toHaveBeenCalledWith('webhook', 'dst_A');
    expect(mocks.metrics.runningWorkers.set).toHaveBeenLastCalledWith(0);
  });

  it.each([
    ['delivered', { kind: 'delivered' }],
    ['retry', { kind: 'retry', delayMs: 1_000, reason: 'HTTP 503' }],
    ['failed', { kind: 'failed', reason: 'HTTP 422' }],
  ] as const)('does not reload the destination after an attempt that ended %s', async (_name, outcome) => {
    const { sut, mocks } = setup();
    await sut.wake('dst_A');
    mocks.observers.notify(report(destinationSettings(destinationRecord('dst_A'), secrets), outcome));
    await turn();
    expect(mocks.destinations.findById).toHaveBeenCalledTimes(1);
    expect(workers[0].close).not.toHaveBeenCalled();
  });

  it('logs a wake notice it cannot act on while PostgreSQL times out, starts nothing, and starts the worker at the next notice', async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    mocks.destinations.findById.mockRejectedValueOnce(new Error('Connection terminated due to connection timeout'));
    mocks.publish(`${PREFIX}:wake`, 'dst_A');
    await turn();
    await turn();
    expect(workers).toHaveLength(0);
    expect(mocks.warn).toHaveBeenCalledWith('Waking dst_A failed (the next scan tries again): Connection terminated due to connection timeout');
    mocks.publish(`${PREFIX}:wake`, 'dst_A');
    await turn();
    expect(workers.map((worker) => worker.name)).toEqual(['{dst_A}']);
  });

  it('makes jobs that start while announced settings are read wait for them; a job already running keeps its own', async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    expect(mocks.subscriber.subscribe).toHaveBeenCalledWith(`${PREFIX}:wake`, `${PREFIX}:destination-changed`, `${PREFIX}:circuit`);
    mocks.publish(`${PREFIX}:wake`, 'dst_A');
    await turn();
    expect(workers).toHaveLength(1);
    const running = deferred<void>();
    mocks.processor.process.mockReturnValueOnce(running.promise);
    const first = workers[0].processor(job('dlv_1'), 'token-1');

    const read = deferred<DestinationRecord | null>();
    mocks.destinations.findById.mockReturnValueOnce(read.promise);
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    const second = workers[0].processor(job('dlv_2'), 'token-2');
    await turn();
    expect(mocks.processor.process).toHaveBeenCalledTimes(1);

    read.resolve(destinationRecord('dst_A', { config: { url: 'https://receiver.test/moved' } }));
    await second;
    expect(mocks.processor.process).toHaveBeenCalledTimes(2);
    expect(mocks.processor.process.mock.calls[0][2].config).toMatchObject({ url: 'https://receiver.test/dst_A' });
    expect(mocks.processor.process.mock.calls[1][2].config).toMatchObject({ url: 'https://receiver.test/moved' });
    expect(workers).toHaveLength(1);
    expect(workers[0].close).not.toHaveBeenCalled();
    running.resolve();
    await first;
    await sut.beforeApplicationShutdown();
  });

  it('stops the worker of a destination announced paused', async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    mocks.stored.set('dst_A', destinationRecord('dst_A', { paused: true }));
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    await turn();
    expect(workers[0].close).toHaveBeenCalledTimes(1);
    expect(mocks.senders.release).toHaveBeenCalledWith('webhook', 'dst_A');
    await sut.beforeApplicationShutdown();
  });

  it('restarts the worker with the new limiter when the announced rate limit changed', async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    mocks.stored.set('dst_A', destinationRecord('dst_A', { rateLimitMax: 5, rateLimitDurationMs: 1_000 }));
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    await turn();
    expect(workers).toHaveLength(2);
    expect(workers[0].close).toHaveBeenCalledTimes(1);
    expect(workers[1].opts.limiter).toEqual({ max: 5, duration: 1_000 });
    await sut.beforeApplicationShutdown();
  });

  it('gives a job waiting for announced settings the new ones even when the rate limit changed with them', async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    const read = deferred<DestinationRecord | null>();
    mocks.destinations.findById.mockReturnValueOnce(read.promise);
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    const waiting = workers[0].processor(job('dlv_2'), 'token-2');
    read.resolve(destinationRecord('dst_A', { config: { url: 'https://receiver.test/moved' }, rateLimitMax: 5, rateLimitDurationMs: 1_000 }));
    await waiting;
    expect(mocks.processor.process.mock.calls[0][2].config).toMatchObject({ url: 'https://receiver.test/moved' });
    await turn();
    expect(workers).toHaveLength(2);
    await sut.beforeApplicationShutdown();
  });

  it("keeps a kind's connections while a worker woken during a close runs", async () => {
    const { sut, mocks } = setup();
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    const closing = deferred<void>();
    workers[0].close.mockReturnValueOnce(closing.promise);
    mocks.stored.set('dst_A', destinationRecord('dst_A', { paused: true }));
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    await turn();
    mocks.stored.set('dst_A', destinationRecord('dst_A'));
    await sut.wake('dst_A');
    expect(workers).toHaveLength(2);
    closing.resolve();
    await turn();
    expect(mocks.senders.release).not.toHaveBeenCalled();
    await sut.beforeApplicationShutdown();
  });
});

describe('DestinationSupervisor taking turns', () => {
  const records = ['dst_A', 'dst_B', 'dst_C'].map((id) => destinationRecord(id));
  const names = () => workers.map((worker) => worker.name);
  const open = () => workers.filter((worker) => worker.close.mock.calls.length === 0).map((worker) => worker.name);

  it('runs at most DISPATCH_WORKER_MAX_QUEUES workers; a destination woken beyond that starts when one closes', async () => {
    const { sut, mocks } = setup(records, { maxQueues: 2, sliceMs: SLICE_MS });
    await sut.wake('dst_A');
    await sut.wake('dst_B');
    await sut.wake('dst_C');
    expect(names()).toEqual(['{dst_A}', '{dst_B}']);
    mocks.stored.set('dst_A', destinationRecord('dst_A', { paused: true }));
    await sut.onApplicationBootstrap();
    mocks.publish(`${PREFIX}:destination-changed`, 'dst_A');
    await turn();
    await turn();
    expect(open()).toEqual(['{dst_B}', '{dst_C}']);
    await sut.beforeApplicationShutdown();
  });

  it('has a worker whose queue ran dry give its turn at once to a destination in line', async () => {
    const { sut } = setup(records, { maxQueues: 2, sliceMs: SLICE_MS });
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    await sut.wake('dst_B');
    await sut.wake('dst_C');
    workers[1].emit('drained');
    await turn();
    await turn();
    expect(workers[1].close).toHaveBeenCalledTimes(1);
    expect(open()).toEqual(['{dst_A}', '{dst_C}']);
    await sut.beforeApplicationShutdown();
  });

  it('keeps a worker whose queue ran dry while nobody waits', async () => {
    const { sut } = setup(records, { maxQueues: 2, sliceMs: SLICE_MS });
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    workers[0].emit('drained');
    await jest.advanceTimersByTimeAsync(2 * SLICE_MS);
    expect(workers[0].close).not.toHaveBeenCalled();
    await sut.beforeApplicationShutdown();
  });

  it('has a busy worker give up its turn once its slice is over, and puts its destination back in line with its jobs left', async () => {
    const { sut, mocks } = setup(records, { maxQueues: 1, sliceMs: SLICE_MS });
    await sut.onApplicationBootstrap();
    mocks.queued.set('dst_A', 500);
    await sut.wake('dst_A');
    await sut.wake('dst_B');
    await jest.advanceTimersByTimeAsync(SLICE_MS / 2);
    expect(open()).toEqual(['{dst_A}']);
    await jest.advanceTimersByTimeAsync(SLICE_MS / 2);
    expect(open()).toEqual(['{dst_B}']);
    // dst_B has nothing queued once its turn is over; dst_A, still flooded, has its turn again.
    await jest.advanceTimersByTimeAsync(SLICE_MS);
    expect(open()).toEqual(['{dst_A}']);
    expect(names()).toEqual(['{dst_A}', '{dst_B}', '{dst_A}']);
    await sut.beforeApplicationShutdown();
  });

  it('keeps the turn of a rate-limited destination whose queue looks dry until its slice is over', async () => {
    const { sut } = setup([destinationRecord('dst_A', { rateLimitMax: 1, rateLimitDurationMs: 60_000 }), destinationRecord('dst_B')], {
      maxQueues: 1,
      sliceMs: SLICE_MS,
    });
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    await sut.wake('dst_B');
    workers[0].emit('drained');
    await jest.advanceTimersByTimeAsync(SLICE_MS / 2);
    expect(open()).toEqual(['{dst_A}']);
    await jest.advanceTimersByTimeAsync(SLICE_MS / 2);
    expect(open()).toEqual(['{dst_B}']);
    await sut.beforeApplicationShutdown();
  });

  it('looks again at a queue whose turn ended while enqueuers still announce nothing new for it, and starts it when jobs came', async () => {
    const { sut, mocks } = setup(records, { maxQueues: 1, sliceMs: SLICE_MS });
    await sut.onApplicationBootstrap();
    await sut.wake('dst_A');
    await sut.wake('dst_B');
    workers[0].emit('drained');
    await turn();
    await turn();
    expect(open()).toEqual(['{dst_B}']);
    // A job for dst_A added within a second of its wake notice comes without a notice of its own.
    mocks.queued.set('dst_A', 1);
    workers[1].emit('drained');
    await jest.advanceTimersByTimeAsync(1_500);
    expect(open()).toEqual(['{dst_A}']);
    await sut.beforeApplicationShutdown();
  });
});
