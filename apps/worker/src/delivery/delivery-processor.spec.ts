import { Logger } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import type { AttemptRecord, AttemptRepository, AttemptSettlement, ClaimedDelivery } from '@dispatch/db';
import { DestinationKind, DestinationSettings, EgressGuard, SendRequest, SendResult, Sender, Senders } from '@dispatch/destinations';
import { DEFAULT_CIRCUIT_BREAKER } from '@dispatch/domain';
import { DeliveryJobData, DeliveryQueues, RetryLaterError } from '@dispatch/queue';
import { deferred, emptyFileStore } from '@dispatch/testing';
import { AttemptObservers, AttemptReport } from './attempt-observers';
import { AttemptSlots } from './attempt-slots';
import type { DestinationCircuits } from './destination-circuits';
import { DeliveryProcessor } from './delivery-processor';

// The processor takes only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({}));

/** The fields every line about the fixture's claimed delivery carries. */
const DELIVERY_FIELDS = { organizationId: 'org_1', eventId: 'evt_1', deliveryId: 'dlv_1', destinationId: 'dst_A', attemptNumber: 1, correlationId: 'order-42' };

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const TOKEN = 'lock-token';

type Blocker = { id: string; status: 'pending' | 'delivering' | 'retrying'; nextAttemptAt: Date | null };
type Answer = SendResult | Error | ((request: SendRequest<unknown>, signal: AbortSignal) => Promise<SendResult>);

const DELIVERED: SendResult = { verdict: 'delivered', statusCode: 200, reply: 'ok', durationMs: 12 };
const UNAVAILABLE: SendResult = { verdict: 'transient', statusCode: 503, reply: 'down for maintenance', reason: 'HTTP 503', durationMs: 20 };
const UNPROCESSABLE: SendResult = { verdict: 'permanent', statusCode: 422, reply: '{"error":"bad"}', reason: 'HTTP 422, not retryable', durationMs: 37 };
const GONE: SendResult = { verdict: 'gone', statusCode: 410, reply: '', reason: 'receiver answered 410 Gone', durationMs: 9 };

/** A sender of a made-up kind that answers from a script, one answer per attempt (delivered once the script runs out). */
class ScriptedSender implements Sender<unknown> {
  readonly requests: { request: SendRequest<unknown>; signal: AbortSignal }[] = [];
  readonly close = jest.fn(async () => undefined);
  private readonly script: Answer[];

  constructor(...answers: Answer[]) {
    this.script = answers;
  }

  async send(request: SendRequest<unknown>, signal: AbortSignal): Promise<SendResult> {
    this.requests.push({ request, signal });
    const answer = this.script.shift() ?? DELIVERED;
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer(request, signal) : answer;
  }

  test(): Promise<SendResult> {
    throw new Error('not used by the processor');
  }
}

/** Freezes settings the way a caller would expect them to stay: every nested object but the kind. */
function frozen(settings: DestinationSettings): DestinationSettings {
  const freeze = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return;
    Object.freeze(value);
    for (const nested of Object.values(value)) freeze(nested);
  };
  for (const [key, nested] of Object.entries(settings)) if (key !== 'kind') freeze(nested);
  return Object.freeze(settings);
}

/** Tracks whether a promise has settled yet (and keeps its rejection handled). */
function track<T>(promise: Promise<T>) {
  let settled = false;
  const value = promise.finally(() => (settled = true));
  value.catch(() => undefined);
  return { settled: () => settled, value };
}

/** Lets every pending promise callback run. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { answers?: Answer[]; destination?: Partial<DestinationSettings>; delivery?: Partial<ClaimedDelivery> } = {}) {
  const sender = new ScriptedSender(...(options.answers ?? []));
  const kind: DestinationKind = { kind: 'carrier', configSchema: z.unknown(), secretFields: [], signsWithSecret: true, endpoints: () => [], createSender: () => sender };
  const destination = frozen({
    id: 'dst_A',
    organizationId: 'org_A',
    kind,
    config: { url: 'https://receiver.test/hook', headers: { 'x-tenant': 't1' } },
    retryPolicy: { maxAttempts: 3, schedule: [1_000, 60_000], jitter: 0, nonRetryableStatuses: [422] },
    signing: { secret: 'whsec_current', previousSecret: 'whsec_previous', previousSecretExpiresAt: new Date(NOW + 3_600_000) },
    enabled: true,
    paused: false,
    ordered: false,
    rateLimit: null,
    circuitBreaker: DEFAULT_CIRCUIT_BREAKER,
    ...options.destination,
  });
  const claimed: ClaimedDelivery = {
    id: 'dlv_1',
    organizationId: 'org_1',
    eventId: 'evt_1',
    destinationId: 'dst_A',
    attemptNumber: 1,
    trigger: 'scheduled',
    event: { id: 'evt_1', type: 'order.created', data: { orderId: 42 }, receivedAt: new Date(NOW - 1_000) },
    correlationId: 'order-42',
    claimedFrom: { status: 'pending', manualRetryAt: null, nextAttemptAt: null },
    ...options.delivery,
  };
  const reports: AttemptReport[] = [];
  const observers = new AttemptObservers();
  observers.subscribe({ attempted: (report) => reports.push(report) });
  const mocks = {
    sender,
    destination,
    claimed,
    observers,
    reports,
    deliveries: {
      orderingBlocker: jest.fn(async (_id: string): Promise<Blocker | null> => null),
      claim: jest.fn(async (_id: string, _destinationId: string): Promise<ClaimedDelivery | null> => claimed),
      destinationOf: jest.fn(async (_id: string): Promise<string | null> => 'dst_A'),
      settleAttempt: jest.fn(async (_attempt: AttemptRecord, _settlement: AttemptSettlement, _destinationId: string): Promise<void> => undefined),
      nextInOrder: jest.fn(async (_id: string): Promise<{ id: string; destinationId: string } | null> => null),
      release: jest.fn(async (_claimed: ClaimedDelivery): Promise<void> => undefined),
      flush: jest.fn(async () => undefined),
    },
    queues: { promote: jest.fn(async (_destinationId: string, _deliveryId: string) => undefined) },
    slots: new AttemptSlots(1),
    // A closed circuit unless a test says otherwise.
    circuits: { admit: jest.fn(async (_destination: DestinationSettings) => true), isOpen: jest.fn((_destinationId: string) => false) },
    job: {
      id: 'dlv_1',
      data: { deliveryId: 'dlv_1' },
      attemptsMade: 0,
      opts: { attempts: 8 } as { attempts?: number },
      /** A first attempt of an event of priority 5. */
      priority: 6,
      moveToDelayed: jest.fn(async (_timestamp: number, _token?: string) => undefined),
      changePriority: jest.fn(async (_opts: { priority?: number }) => undefined),
    },
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
    error: jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined),
  };
  const sut = new DeliveryProcessor(
    mocks.deliveries as unknown as AttemptRepository,
    mocks.queues as unknown as DeliveryQueues,
    new Senders({ timeoutMs: 1_000, replyMaxBytes: 4_096, egress: new EgressGuard([]), files: emptyFileStore() }),
    observers,
    mocks.circuits as unknown as DestinationCircuits,
  );
  return { sut, mocks };
}

type Setup = ReturnType<typeof setup>;

/** One job run of the delivery, as the destination's worker would start it. */
const run = ({ sut, mocks }: Setup) => sut.process(mocks.job as unknown as Job<DeliveryJobData>, TOKEN, mocks.destination, mocks.slots);

/** The job ran and sent nothing: no attempt, no record, nothing told. */
function expectNothingSent({ mocks }: Setup) {
  expect(mocks.sender.requests).toEqual([]);
  expect(mocks.deliveries.settleAttempt).not.toHaveBeenCalled();
  expect(mocks.reports).toEqual([]);
}

beforeEach(() => {
  jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('DeliveryProcessor gate', () => {
  it.each([
    ['disabled', { enabled: false }],
    ['paused', { paused: true }],
  ])('sends nothing to a %s destination and claims nothing; the job completes', async (_name, stopped) => {
    const s = setup({ destination: { ...stopped, ordered: true } });
    await expect(run(s)).resolves.toBeUndefined();
    expect(s.mocks.deliveries.orderingBlocker).not.toHaveBeenCalled();
    expect(s.mocks.deliveries.claim).not.toHaveBeenCalled();
    expect(s.mocks.job.moveToDelayed).not.toHaveBeenCalled();
    expectNothingSent(s);
  });

  it('claims the delivery for the destination of its queue, without asking for a blocker when the destination is unordered', async () => {
    const s = setup();
    await run(s);
    expect(s.mocks.deliveries.claim).toHaveBeenCalledWith('dlv_1', 'dst_A');
    expect(s.mocks.deliveries.orderingBlocker).not.toHaveBeenCalled();
    expect(s.mocks.sender.requests).toHaveLength(1);
  });

  it('parks an ordered delivery behind an earlier one of its key without claiming it', async () => {
    const s = setup({ destination: { ordered: true } });
    s.mocks.deliveries.orderingBlocker.mockResolvedValue({ id: 'dlv_0', status: 'delivering', nextAttemptAt: null });
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.deliveries.orderingBlocker).toHaveBeenCalledWith('dlv_1');
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + 2_000, TOKEN);
    expect(s.mocks.deliveries.claim).not.toHaveBeenCalled();
    expectNothingSent(s);
  });

  it.each([
    ['a minute from now', 60_000, 61_000],
    ['in an hour (waits five minutes at most)', 3_600_000, 300_000],
    ['already past (waits two seconds at least)', -10_000, 2_000],
  ])('behind a delivery retrying %s, waits until just after that retry', async (_name, retryIn, expectedWait) => {
    const s = setup({ destination: { ordered: true } });
    s.mocks.deliveries.orderingBlocker.mockResolvedValue({ id: 'dlv_0', status: 'retrying', nextAttemptAt: new Date(NOW + retryIn) });
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + expectedWait, TOKEN);
    expect(s.mocks.deliveries.claim).not.toHaveBeenCalled();
  });

  it.each([
    ['looking for a blocker', 'orderingBlocker'],
    ['claiming', 'claim'],
  ] as const)('parks the job for five seconds when the database fails while %s, sending nothing', async (_name, step) => {
    const s = setup({ destination: { ordered: true } });
    s.mocks.deliveries[step].mockRejectedValue(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + 5_000, TOKEN);
    expect(s.mocks.warn).toHaveBeenCalledWith({
      organizationId: 'org_A', // the destination's: the job is not claimed
      deliveryId: 'dlv_1',
      destinationId: 'dst_A',
      msg: expect.stringContaining('waits for the database: connect ECONNREFUSED'),
    });
    expectNothingSent(s);
  });

  it.each([
    ['belongs to this destination (cancelled or already delivered)', 'dst_A'],
    ['no longer exists', null],
  ])('sends nothing and warns of nothing when the delivery cannot be claimed and %s', async (_name, owner) => {
    const s = setup();
    s.mocks.deliveries.claim.mockResolvedValue(null);
    s.mocks.deliveries.destinationOf.mockResolvedValue(owner);
    await expect(run(s)).resolves.toBeUndefined();
    expect(s.mocks.job.moveToDelayed).not.toHaveBeenCalled();
    expect(s.mocks.warn).not.toHaveBeenCalled();
    expectNothingSent(s);
  });

  it("drops a job naming another destination's delivery with a warning, sending nothing", async () => {
    const s = setup();
    s.mocks.deliveries.claim.mockResolvedValue(null);
    s.mocks.deliveries.destinationOf.mockResolvedValue('dst_B');
    await expect(run(s)).resolves.toBeUndefined();
    expect(s.mocks.deliveries.destinationOf).toHaveBeenCalledWith('dlv_1');
    expect(s.mocks.warn).toHaveBeenCalledTimes(1);
    expect(s.mocks.warn).toHaveBeenCalledWith({
      organizationId: 'org_A', // the destination's: the job is not claimed
      deliveryId: 'dlv_1',
      destinationId: 'dst_A',
      ownerDestinationId: 'dst_B',
      msg: expect.stringMatching(/belongs to another destination; nothing was sent/),
    });
    expect(s.mocks.job.moveToDelayed).not.toHaveBeenCalled();
    expectNothingSent(s);
  });
});

describe('DeliveryProcessor attempt', () => {
  it("claims while the destination's attempt slots are busy, and sends once one is free, its start counted from then", async () => {
    const s = setup();
    const busy = deferred<void>();
    const other = s.mocks.slots.run(() => busy.promise);
    const job = track(run(s));
    await turn();
    expect(s.mocks.deliveries.claim).toHaveBeenCalledWith('dlv_1', 'dst_A');
    expect(s.mocks.sender.requests).toEqual([]);
    jest.setSystemTime(NOW + 5_000);
    busy.resolve();
    await other;
    await job.value;
    expect(s.mocks.sender.requests).toHaveLength(1);
    expect(s.mocks.deliveries.settleAttempt.mock.calls[0][0].startedAt).toEqual(new Date(NOW + 5_000));
  });

  it('parks the job for a second, claiming and sending nothing, while its circuit lets no attempt through', async () => {
    const s = setup();
    s.mocks.circuits.admit.mockResolvedValue(false);
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + 1_000, TOKEN);
    expect(s.mocks.deliveries.claim).not.toHaveBeenCalled();
    expectNothingSent(s);
  });

  it('gives back its claim, sending nothing, when the circuit opened while it waited for a slot', async () => {
    const s = setup();
    s.mocks.circuits.isOpen.mockReturnValue(true);
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.deliveries.release).toHaveBeenCalledWith(expect.objectContaining({ id: 'dlv_1' }));
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW, TOKEN);
    expectNothingSent(s);
  });

  it('gives back its claim and puts the job back on its queue, sending nothing, when the worker closes while it waits for a slot', async () => {
    const s = setup();
    const busy = deferred<void>();
    const other = s.mocks.slots.run(() => busy.promise);
    const job = track(run(s));
    await turn();
    s.mocks.slots.close();
    await expect(job.value).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.deliveries.release).toHaveBeenCalledWith(expect.objectContaining({ id: 'dlv_1', attemptNumber: 1 }));
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW, TOKEN);
    expectNothingSent(s);
    busy.resolve();
    await other;
  });

  it('still puts the job back when giving back its claim fails, with a warning', async () => {
    const s = setup();
    s.mocks.deliveries.release.mockRejectedValue(new Error('Connection terminated unexpectedly'));
    const busy = deferred<void>();
    const other = s.mocks.slots.run(() => busy.promise);
    s.mocks.slots.close();
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    busy.resolve();
    await other;
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW, TOKEN);
    expect(s.mocks.warn).toHaveBeenCalledWith({ ...DELIVERY_FIELDS, msg: expect.stringContaining('unused claim failed: Connection terminated unexpectedly') });
    expectNothingSent(s);
  });

  it("gives the kind's sender the parsed config, the live signing secrets, the retry policy and the event", async () => {
    const s = setup({ delivery: { attemptNumber: 2, trigger: 'manual' } });
    await run(s);
    expect(s.mocks.sender.requests).toHaveLength(1);
    const { request, signal } = s.mocks.sender.requests[0];
    expect(request).toEqual({
      destinationId: 'dst_A',
      organizationId: 'org_A',
      config: { url: 'https://receiver.test/hook', headers: { 'x-tenant': 't1' } },
      secrets: ['whsec_current', 'whsec_previous'],
      retryPolicy: { maxAttempts: 3, schedule: [1_000, 60_000], jitter: 0, nonRetryableStatuses: [422] },
      deliveryId: 'dlv_1',
      attemptNumber: 2,
      event: { id: 'evt_1', type: 'order.created', data: { orderId: 42 }, receivedAt: new Date(NOW - 1_000) },
    });
    expect(request.config).toBe(s.mocks.destination.config);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
  });

  it('signs only with the current secret once the previous one has expired', async () => {
    const s = setup({ destination: { signing: { secret: 'whsec_current', previousSecret: 'whsec_previous', previousSecretExpiresAt: new Date(NOW - 1) } } });
    await run(s);
    expect(s.mocks.sender.requests[0].request.secrets).toEqual(['whsec_current']);
  });

  it('counts a sender that throws as a transient failure: recorded with its error and retried', async () => {
    const s = setup({ answers: [new Error('socket hang up')] });
    const error = await run(s).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(RetryLaterError);
    expect(error).toMatchObject({ delayMs: 1_000, message: 'error: socket hang up' });
    const [attempt, settlement] = s.mocks.deliveries.settleAttempt.mock.calls[0];
    expect(attempt).toMatchObject({ outcome: 'retry', statusCode: null, responseBody: null, error: 'error: socket hang up' });
    expect(settlement).toEqual({
      status: 'retrying',
      nextAttemptAt: new Date(NOW + 1_000),
      lastError: 'error: socket hang up',
      health: 'failure',
      failureCategory: null,
    });
    expect(s.mocks.reports.map((report) => report.result.verdict)).toEqual(['transient']);
  });

  it('aborts the attempt in flight and closes the senders on shutdown', async () => {
    const aborted = (_request: SendRequest<unknown>, signal: AbortSignal) =>
      new Promise<SendResult>((resolve) => signal.addEventListener('abort', () => resolve({ verdict: 'transient', error: 'aborted', durationMs: 3 })));
    const s = setup({ answers: [aborted] });
    const job = track(run(s));
    await turn();
    expect(job.settled()).toBe(false);
    await s.sut.onApplicationShutdown();
    await expect(job.value).rejects.toBeInstanceOf(RetryLaterError);
    expect(s.mocks.sender.requests[0].signal.aborted).toBe(true);
    expect(s.mocks.sender.close).toHaveBeenCalledTimes(1);
  });
});

describe('DeliveryProcessor settle', () => {
  it('records the attempt with its number, trigger, start, duration, outcome, status code and reply', async () => {
    const s = setup({ answers: [UNPROCESSABLE], delivery: { attemptNumber: 2, trigger: 'manual' } });
    await expect(run(s)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.mocks.deliveries.settleAttempt).toHaveBeenCalledTimes(1);
    const [attempt, , destinationId] = s.mocks.deliveries.settleAttempt.mock.calls[0];
    expect(attempt).toEqual({
      id: expect.stringMatching(/^att_[0-9a-z]{26}$/),
      deliveryId: 'dlv_1',
      number: 2,
      trigger: 'manual',
      startedAt: new Date(NOW),
      durationMs: 37,
      outcome: 'failed',
      statusCode: 422,
      responseBody: '{"error":"bad"}',
      error: null,
    });
    expect(destinationId).toBe('dst_A');
  });

  it("stores a reply and an error holding NUL characters with U+FFFD in their place, so the peer's bytes never fail the record", async () => {
    const s = setup({
      answers: [{ verdict: 'transient', statusCode: 502, reply: 'bad\u0000gateway\u0000', reason: 'HTTP 502', durationMs: 5 }, new Error('reset by \u0000peer')],
    });
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    const [first, second] = s.mocks.deliveries.settleAttempt.mock.calls.map(([attempt]) => attempt);
    expect(first).toMatchObject({ statusCode: 502, responseBody: 'bad\uFFFDgateway\uFFFD', error: null });
    expect(second).toMatchObject({ statusCode: null, responseBody: null, error: 'error: reset by \uFFFDpeer' });
    for (const attempt of [first, second]) expect(JSON.stringify(attempt)).not.toContain('\\u0000');
  });

  it.each([
    ['delivered', DELIVERED, 1, { status: 'delivered', nextAttemptAt: null, lastError: null, health: 'success', failureCategory: null }, undefined],
    [
      'a transient failure with attempts left',
      UNAVAILABLE,
      1,
      { status: 'retrying', nextAttemptAt: new Date(NOW + 1_000), lastError: 'HTTP 503', health: 'failure', failureCategory: null },
      RetryLaterError,
    ],
    [
      'a transient failure on the last attempt',
      UNAVAILABLE,
      3,
      { status: 'failed', nextAttemptAt: null, lastError: 'HTTP 503; gave up after 3 attempts', health: 'failure', failureCategory: 'receiver_5xx' },
      UnrecoverableError,
    ],
    [
      'a permanent failure',
      UNPROCESSABLE,
      1,
      { status: 'failed', nextAttemptAt: null, lastError: 'HTTP 422, not retryable', health: 'failure', failureCategory: 'receiver_4xx' },
      UnrecoverableError,
    ],
    [
      'a sender that threw on the last attempt',
      new Error('socket hang up'),
      3,
      { status: 'failed', nextAttemptAt: null, lastError: 'error: socket hang up; gave up after 3 attempts', health: 'failure', failureCategory: 'timeout_or_network' },
      UnrecoverableError,
    ],
    [
      'an address the egress guard refused, on the last attempt',
      { verdict: 'transient', error: 'connection error: refused', failure: 'egress_refused', durationMs: 1 },
      3,
      { status: 'failed', nextAttemptAt: null, lastError: 'connection error: refused; gave up after 3 attempts', health: 'failure', failureCategory: 'egress_refused' },
      UnrecoverableError,
    ],
    [
      'a failure at once without a receiver status (a template the event cannot fill)',
      { verdict: 'permanent', error: 'topic: {data.region} is not in the event', durationMs: 1 },
      1,
      { status: 'failed', nextAttemptAt: null, lastError: 'topic: {data.region} is not in the event', health: 'failure', failureCategory: 'configuration' },
      UnrecoverableError,
    ],
    [
      'a gone receiver (the destination is disabled)',
      GONE,
      1,
      {
        status: 'failed',
        nextAttemptAt: null,
        lastError: 'receiver answered 410 Gone',
        disableDestination: 'receiver answered 410 Gone',
        health: 'failure',
        failureCategory: 'receiver_4xx',
      },
      UnrecoverableError,
    ],
  ] as [string, Answer, number, AttemptSettlement, unknown][])('settles %s and answers BullMQ accordingly', async (_name, answer, attemptNumber, expected, thrown) => {
    const s = setup({ answers: [answer], delivery: { attemptNumber } });
    const answered = await run(s).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (thrown) expect(answered).toBeInstanceOf(thrown);
    else expect(answered).toBeUndefined();
    expect(s.mocks.deliveries.settleAttempt).toHaveBeenCalledTimes(1);
    expect(s.mocks.deliveries.settleAttempt.mock.calls[0][1]).toEqual(expected);
    expect(s.mocks.job.moveToDelayed).not.toHaveBeenCalled();
  });

  it("retries no sooner than the receiver's Retry-After: the record and BullMQ's delay agree", async () => {
    const s = setup({ answers: [{ ...UNAVAILABLE, retryAfterMs: 90_000 }] });
    const error = await run(s).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(RetryLaterError);
    expect((error as RetryLaterError).delayMs).toBe(90_000);
    expect(s.mocks.deliveries.settleAttempt.mock.calls[0][1].nextAttemptAt).toEqual(new Date(NOW + 90_000));
    expect(s.mocks.deliveries.settleAttempt.mock.calls[0][1].health).toBe('throttled');
  });

  it.each([
    ['delivered', DELIVERED, 'delivered'],
    ['retry', UNAVAILABLE, 'retry'],
    ['failed', UNPROCESSABLE, 'failed'],
    ['gone', GONE, 'gone'],
  ] as const)('tells the observers once about an attempt that ended %s', async (_name, answer, kind) => {
    const s = setup({ answers: [answer] });
    await run(s).catch(() => undefined);
    expect(s.mocks.reports).toHaveLength(1);
    const [report] = s.mocks.reports;
    expect(report.destination).toBe(s.mocks.destination);
    expect(report.delivery).toBe(s.mocks.claimed);
    // The id of the attempt's record, for its log line.
    expect(report.attemptId).toBe(s.mocks.deliveries.settleAttempt.mock.calls[0][0].id);
    expect(report.result).toEqual(answer);
    expect(report.outcome.kind).toBe(kind);
  });

  it('tells the observers of a gone attempt only once its record (which disables the destination) is written', async () => {
    const s = setup({ answers: [GONE] });
    const record = deferred<void>();
    s.mocks.deliveries.settleAttempt.mockReturnValue(record.promise);
    const job = track(run(s));
    await turn();
    expect(s.mocks.deliveries.settleAttempt).toHaveBeenCalledTimes(1);
    expect(s.mocks.reports).toEqual([]);
    expect(job.settled()).toBe(false);
    record.resolve();
    await expect(job.value).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.mocks.reports.map((report) => report.outcome.kind)).toEqual(['gone']);
  });

  it('keeps answering BullMQ when an observer throws', async () => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.observers.subscribe({
      attempted: () => {
        throw new Error('metrics are broken');
      },
    });
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    expect(s.mocks.error).toHaveBeenCalledWith('An attempt observer failed: metrics are broken');
  });

  it('completes a delivered attempt of an unordered destination without waiting for its record, and logs a record that fails', async () => {
    const s = setup();
    const record = deferred<void>();
    s.mocks.deliveries.settleAttempt.mockReturnValue(record.promise);
    const job = track(run(s));
    await turn();
    expect(job.settled()).toBe(true);
    await expect(job.value).resolves.toBeUndefined();
    expect(s.mocks.reports.map((report) => report.outcome.kind)).toEqual(['delivered']);
    expect(s.mocks.warn).not.toHaveBeenCalled();
    record.reject(new Error('connection terminated'));
    await turn();
    expect(s.mocks.warn).toHaveBeenCalledWith({
      ...DELIVERY_FIELDS,
      attemptId: s.mocks.deliveries.settleAttempt.mock.calls[0][0].id,
      msg: 'Delivered; recording the attempt failed: connection terminated',
    });
    expect(s.mocks.deliveries.nextInOrder).not.toHaveBeenCalled();
  });

  it('waits for the record of a delivered ordered attempt, then wakes the next delivery of its key', async () => {
    const s = setup({ destination: { ordered: true } });
    const record = deferred<void>();
    s.mocks.deliveries.settleAttempt.mockReturnValue(record.promise);
    s.mocks.deliveries.nextInOrder.mockResolvedValue({ id: 'dlv_2', destinationId: 'dst_A' });
    const job = track(run(s));
    await turn();
    expect(job.settled()).toBe(false);
    expect(s.mocks.deliveries.nextInOrder).not.toHaveBeenCalled();
    expect(s.mocks.queues.promote).not.toHaveBeenCalled();
    record.resolve();
    await expect(job.value).resolves.toBeUndefined();
    expect(s.mocks.deliveries.nextInOrder).toHaveBeenCalledWith('dlv_1');
    expect(s.mocks.queues.promote).toHaveBeenCalledWith('dst_A', 'dlv_2');
  });

  it.each([
    ['failed', UNPROCESSABLE],
    ['gone', GONE],
  ])('wakes the next delivery of the key after an ordered delivery %s for good', async (_name, answer) => {
    const s = setup({ answers: [answer], destination: { ordered: true } });
    s.mocks.deliveries.nextInOrder.mockResolvedValue({ id: 'dlv_2', destinationId: 'dst_A' });
    await expect(run(s)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.mocks.queues.promote).toHaveBeenCalledWith('dst_A', 'dlv_2');
    expect(s.mocks.deliveries.nextInOrder.mock.invocationCallOrder[0]).toBeGreaterThan(s.mocks.deliveries.settleAttempt.mock.invocationCallOrder[0]);
  });

  it('keeps a dead letter a dead letter when waking the next delivery of its key fails', async () => {
    const s = setup({ answers: [UNPROCESSABLE], destination: { ordered: true } });
    s.mocks.deliveries.nextInOrder.mockRejectedValue(new Error('connection terminated'));
    await expect(run(s)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(s.mocks.warn).toHaveBeenCalledWith({
      ...DELIVERY_FIELDS,
      msg: expect.stringContaining('waking the next delivery of its ordering key failed: connection terminated'),
    });
  });

  it('parks the job without using up a BullMQ attempt when the record of a failed attempt cannot be written, telling no observer', async () => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.deliveries.settleAttempt.mockRejectedValue(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + 5_000, TOKEN);
    expect(s.mocks.reports).toEqual([]);
    expect(s.mocks.warn).toHaveBeenCalledWith({
      ...DELIVERY_FIELDS,
      attemptId: expect.stringMatching(/^att_/),
      msg: expect.stringContaining('Recording the attempt failed; it waits for the database'),
    });
  });

  it('keeps the next delivery of the key waiting while an ordered delivery retries', async () => {
    const s = setup({ answers: [UNAVAILABLE], destination: { ordered: true } });
    s.mocks.deliveries.nextInOrder.mockResolvedValue({ id: 'dlv_2', destinationId: 'dst_A' });
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    expect(s.mocks.deliveries.nextInOrder).not.toHaveBeenCalled();
    expect(s.mocks.queues.promote).not.toHaveBeenCalled();
  });

  it('promotes nothing when no delivery of the key is waiting', async () => {
    const s = setup({ destination: { ordered: true } });
    await expect(run(s)).resolves.toBeUndefined();
    expect(s.mocks.deliveries.nextInOrder).toHaveBeenCalledWith('dlv_1');
    expect(s.mocks.queues.promote).not.toHaveBeenCalled();
  });

  it.each([
    ['its last BullMQ attempt', 7, 8],
    ['no attempts option (one attempt)', 0, undefined],
  ])('parks a retry for the policy delay instead of failing the job when it runs %s', async (_name, attemptsMade, attempts) => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.job.attemptsMade = attemptsMade;
    s.mocks.job.opts = attempts === undefined ? {} : { attempts };
    await expect(run(s)).rejects.toBeInstanceOf(DelayedError);
    expect(s.mocks.job.moveToDelayed).toHaveBeenCalledWith(NOW + 1_000, TOKEN);
    expect(s.mocks.deliveries.settleAttempt.mock.calls[0][1]).toMatchObject({ status: 'retrying', nextAttemptAt: new Date(NOW + 1_000) });
  });

  it('answers RetryLaterError while BullMQ attempts are left', async () => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.job.attemptsMade = 6;
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    expect(s.mocks.job.moveToDelayed).not.toHaveBeenCalled();
  });

  it.each([
    ['with BullMQ attempts left', 0, RetryLaterError],
    ['parked for lack of BullMQ attempts', 7, DelayedError],
  ])("moves a job that will retry behind the destination's first attempts, keeping its event's priority (%s)", async (_name, attemptsMade, answer) => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.job.attemptsMade = attemptsMade;
    await expect(run(s)).rejects.toBeInstanceOf(answer);
    expect(s.mocks.job.changePriority).toHaveBeenCalledWith({ priority: 17 });
    expect(s.mocks.job.changePriority.mock.invocationCallOrder[0]).toBeLessThan(s.mocks.job.moveToDelayed.mock.invocationCallOrder[0] ?? Number.MAX_SAFE_INTEGER);
  });

  it('leaves the priority of a job already in the retry group, and of a job that does not retry', async () => {
    const retrying = setup({ answers: [UNAVAILABLE] });
    retrying.mocks.job.priority = 17;
    await expect(run(retrying)).rejects.toBeInstanceOf(RetryLaterError);
    expect(retrying.mocks.job.changePriority).not.toHaveBeenCalled();
    for (const answer of [DELIVERED, UNPROCESSABLE]) {
      const s = setup({ answers: [answer] });
      await run(s).catch(() => undefined);
      expect(s.mocks.job.changePriority).not.toHaveBeenCalled();
    }
  });

  it('still retries, with a warning, when Redis refuses the retry its priority', async () => {
    const s = setup({ answers: [UNAVAILABLE] });
    s.mocks.job.changePriority.mockRejectedValue(new Error('Connection is closed.'));
    await expect(run(s)).rejects.toBeInstanceOf(RetryLaterError);
    expect(s.mocks.warn).toHaveBeenCalledWith({ ...DELIVERY_FIELDS, msg: expect.stringContaining('Connection is closed.') });
  });

  it.each([
    ['delivered', DELIVERED, false],
    ['retry', UNAVAILABLE, false],
    ['gone', GONE, false],
    ['gone, ordered', GONE, true],
  ])('never changes the destination settings it was given (%s)', async (_name, answer, ordered) => {
    const s = setup({ answers: [answer], destination: { ordered } });
    const before = structuredClone({ ...s.mocks.destination, kind: undefined });
    expect(Object.isFrozen(s.mocks.destination)).toBe(true);
    const error = await run(s).catch((thrown: unknown) => thrown);
    expect(error).not.toBeInstanceOf(TypeError);
    expect({ ...s.mocks.destination, kind: undefined }).toEqual(before);
    expect(s.mocks.destination.enabled).toBe(true);
  });
});
