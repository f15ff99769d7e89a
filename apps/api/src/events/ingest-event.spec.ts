import { BadRequestException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Caller, DestinationRepository, EventRepository, EventStories, FileRepository, Ingest, IngestResult, RoutableDestination } from '@dispatch/db';
import type { DeliveryQueues, EnqueueRequest } from '@dispatch/queue';
import { deferred } from '@dispatch/testing';
import { IngestEvent, type IngestEventInput, type RoutingTable } from '@dispatch/ingest';
import type { Metrics } from '../operations/metrics';
import { EventsController } from './events.controller';

// The real Prisma client, BullMQ and prom-client are not needed here (the collaborators are
// fakes), and loading them would take most of this file's run time: only the grouping of
// writes and the unreachable-database check are taken from @dispatch/db.
jest.mock('@dispatch/db', () => ({
  ...jest.requireActual<object>('../../../../libs/db/src/batcher'),
  ...jest.requireActual<object>('../../../../libs/db/src/unavailable'),
}));
jest.mock('@dispatch/queue', () => ({}));
jest.mock('../operations/metrics', () => ({}));

const ORG = 'org_a';
const OTHER_ORG = 'org_b';

type StoredDestination = RoutableDestination & { organizationId: string };

function destination(id: string, overrides: Partial<StoredDestination> = {}): StoredDestination {
  return { organizationId: ORG, id, eventTypes: ['*'], enabled: true, ordering: 'none', maxAttempts: 8, ...overrides };
}

function routable({ organizationId: _organizationId, ...rest }: StoredDestination): RoutableDestination {
  return rest;
}

/** Lets every promise callback queued so far run (no timers involved). */
async function settle(): Promise<void> {
  for (let round = 0; round < 20; round += 1) await Promise.resolve();
}

/** The input as the controller passes it after validation (defaults filled in). */
function input(fields: Partial<IngestEventInput> = {}): IngestEventInput {
  return { type: 'order.created', data: { orderId: '12345' }, priority: 0, tags: [], ...fields };
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: Error) => error,
  );
}

/** The 400 a user would receive: status and body details. */
function answerOf(error: Error) {
  expect(error).toBeInstanceOf(BadRequestException);
  const exception = error as BadRequestException;
  return { status: exception.getStatus(), body: exception.getResponse() as { message: string; details: { path: string; message: string }[] } };
}

/**
 * IngestEvent with in-memory fakes: destinations of two organizations, an event store that
 * remembers ids (a repeated id answers what was first accepted, as the database does), queues
 * that record what they were asked to add, and a metrics counter.
 */
function setup(options: { destinations?: StoredDestination[] } = {}) {
  const stored = options.destinations ?? [destination('dst_a')];
  const accepted = new Map<string, IngestResult>();
  /** Event ids the fake database refuses (each fails alone, as `writeTogetherOrAlone` makes it). */
  const refuse = new Set<string>();
  const write = (ingests: readonly Ingest[]): (IngestResult | Error)[] =>
    ingests.map(({ event, planned }) => {
      if (refuse.has(event.id)) return new Error(`invalid input for event ${event.id}`);
      const key = `${event.organizationId}/${event.id}`;
      const first = accepted.get(key);
      if (first) return { ...first, created: false };
      const deliveries = planned
        .map((delivery) => ({ id: delivery.id, destinationId: delivery.destinationId, status: 'pending' as const }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
      const result = { created: true, event: { id: event.id, type: event.type, priority: event.priority }, deliveries };
      accepted.set(key, result);
      return result;
    });
  const mocks = {
    refuse,
    destinations: {
      findRoutable: jest.fn(async (organizationId: string, ids: string[]) =>
        stored.filter((row) => row.organizationId === organizationId && ids.includes(row.id)).map(routable),
      ),
    },
    routing: {
      enabled: jest.fn(async (organizationId: string) => stored.filter((row) => row.organizationId === organizationId && row.enabled).map(routable)),
    },
    events: {
      ingestMany: jest.fn(async (ingests: readonly Ingest[]): Promise<(IngestResult | Error)[]> => write(ingests)),
      /** All or nothing, as one statement: a refused event fails the whole write and nothing is kept. */
      ingestAll: jest.fn(async (ingests: readonly Ingest[]): Promise<IngestResult[]> => {
        const refused = ingests.find(({ event }) => refuse.has(event.id));
        if (refused) throw new Error(`invalid input for event ${refused.event.id}`);
        return write(ingests) as IngestResult[];
      }),
    },
    files: { missing: jest.fn(async (_organizationId: string, _ids: readonly string[]) => new Set<string>()) },
    queues: {
      connected: true,
      enqueue: jest.fn(async (_requests: readonly EnqueueRequest[]): Promise<void> => undefined),
    },
    metrics: { eventsAccepted: { inc: jest.fn() }, eventsReceived: { inc: jest.fn() } },
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  };
  const sut = new IngestEvent(
    mocks.destinations as unknown as DestinationRepository,
    mocks.routing as unknown as RoutingTable,
    mocks.events as unknown as EventRepository,
    mocks.queues as unknown as DeliveryQueues,
    mocks.files as unknown as FileRepository,
  );
  metricsOf.set(sut, mocks.metrics as unknown as Metrics);
  return { sut, mocks };
}

/** The metrics the controller of each `sut` counts in. */
const metricsOf = new WeakMap<IngestEvent, Metrics>();

/** `POST /v1/events` as the controller answers it: the status it sets and the body. */
async function post(sut: IngestEvent, body: unknown, idempotencyKey?: string, organizationId = ORG) {
  const controller = new EventsController(sut, {} as EventRepository, {} as EventStories, metricsOf.get(sut) as Metrics);
  const response = { status: jest.fn() };
  const answer = await controller.ingest({ organizationId } as Caller, body, idempotencyKey, response as unknown as FastifyReply);
  return { status: response.status.mock.calls.at(-1)?.[0] as number, body: answer };
}

/** `POST /v1/events/batch` as the controller answers it: the status it sets and the body. */
async function postBatch(sut: IngestEvent, body: unknown, idempotencyKey?: string) {
  const controller = new EventsController(sut, {} as EventRepository, {} as EventStories, metricsOf.get(sut) as Metrics);
  const response = { status: jest.fn() };
  const answer = await controller.ingestBatch({ organizationId: ORG } as Caller, body, idempotencyKey, response as unknown as FastifyReply);
  return { status: response.status.mock.calls.at(-1)?.[0] as number, body: answer };
}

/** Every job the queues were asked to add, over all calls. */
/** The jobs queued, without their trace context (tracing is off here; test/traces.spec.ts follows it). */
function jobs(mocks: ReturnType<typeof setup>['mocks']): Omit<EnqueueRequest, 'trace'>[] {
  return mocks.queues.enqueue.mock.calls.flatMap(([requests]) => requests.map(({ trace: _trace, ...job }) => job));
}

afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('IngestEvent routing', () => {
  it('without `destinations`, makes one pending delivery per enabled destination of the organization whose event types match', async () => {
    const { sut, mocks } = setup({
      destinations: [
        destination('dst_orders', { eventTypes: ['order.*'] }),
        destination('dst_exact', { eventTypes: ['user.created', 'order.created'] }),
        destination('dst_all', { eventTypes: ['*'] }),
        destination('dst_users', { eventTypes: ['user.*'] }),
        destination('dst_off', { eventTypes: ['*'], enabled: false }),
        destination('dst_theirs', { eventTypes: ['*'], organizationId: OTHER_ORG }),
      ],
    });
    const answer = await post(sut, { id: 'evt_1', type: 'order.created', data: {} });
    expect(answer.status).toBe(202);
    expect(answer.body.id).toBe('evt_1');
    expect(answer.body.type).toBe('order.created');
    expect(answer.body.deliveries.map((delivery) => delivery.destinationId).sort()).toEqual(['dst_all', 'dst_exact', 'dst_orders']);
    expect(answer.body.deliveries.every((delivery) => delivery.status === 'pending' && delivery.id.startsWith('dlv_'))).toBe(true);
    expect(mocks.routing.enabled).toHaveBeenCalledWith(ORG);
    expect(mocks.destinations.findRoutable).not.toHaveBeenCalled();
  });

  it('accepts an event no destination wants, with no deliveries and no jobs', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_users', { eventTypes: ['user.*'] })] });
    const answer = await post(sut, { id: 'evt_1', type: 'order.created', data: {} });
    expect(answer).toEqual({ status: 202, body: { id: 'evt_1', type: 'order.created', deliveries: [] } });
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1);
    expect(jobs(mocks)).toEqual([]);
  });

  it('with `destinations`, delivers to exactly those (once each, whatever their event types), not to the routing table', async () => {
    const { sut, mocks } = setup({
      destinations: [destination('dst_a', { eventTypes: ['user.*'] }), destination('dst_b'), destination('dst_c')],
    });
    const answer = await post(sut, { id: 'evt_1', type: 'order.created', data: {}, destinations: ['dst_a', 'dst_b', 'dst_a'] });
    expect(answer.status).toBe(202);
    expect(answer.body.deliveries.map((delivery) => delivery.destinationId).sort()).toEqual(['dst_a', 'dst_b']);
    expect(mocks.destinations.findRoutable).toHaveBeenCalledWith(ORG, ['dst_a', 'dst_b']);
    expect(mocks.routing.enabled).not.toHaveBeenCalled();
  });

  it("answers 400 naming `destinations.N` for each unknown id (another organization's too), and writes nothing", async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_a'), destination('dst_theirs', { organizationId: OTHER_ORG })] });
    const error = await failure(post(sut, { id: 'evt_1', type: 'order.created', data: {}, destinations: ['dst_a', 'dst_nope', 'dst_theirs', 'dst_nope'] }));
    const answer = answerOf(error);
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([
      { path: 'destinations.1', message: 'unknown destination "dst_nope"' },
      { path: 'destinations.2', message: 'unknown destination "dst_theirs"' },
      { path: 'destinations.3', message: 'unknown destination "dst_nope"' },
    ]);
    expect(answer.body.message).toContain('destinations.1: unknown destination "dst_nope"');
    expect(mocks.events.ingestMany).not.toHaveBeenCalled();
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });
});

describe('IngestEvent idempotency', () => {
  it("answers a repeated id with the first event's deliveries, 200 instead of 202, and queues nothing again", async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_a'), destination('dst_b')] });
    const first = await post(sut, { id: 'evt_1', type: 'order.created', data: { n: 1 } });
    const again = await post(sut, { id: 'evt_1', type: 'order.created', data: { n: 2 } });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(first.body.deliveries).toHaveLength(2);
    expect(
      jobs(mocks)
        .map((job) => job.deliveryId)
        .sort(),
    ).toEqual(first.body.deliveries.map((delivery) => delivery.id).sort());
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(1);
    expect(mocks.metrics.eventsAccepted.inc.mock.calls).toEqual([[]]);
    // Both were received; only the first was new.
    expect(mocks.metrics.eventsReceived.inc.mock.calls).toEqual([[], []]);
  });

  it('takes the id from the body, else from the Idempotency-Key header, else makes an evt_ id', async () => {
    const { sut, mocks } = setup();
    await expect(sut.execute(ORG, input({ id: 'evt_body' }), 'key-1')).resolves.toMatchObject({ created: true, event: { id: 'evt_body' } });
    await expect(sut.execute(ORG, input(), 'key-1')).resolves.toMatchObject({ created: true, event: { id: 'key-1' } });
    await expect(sut.execute(ORG, input(), 'key-1')).resolves.toMatchObject({ created: false, event: { id: 'key-1' } });
    const made = await sut.execute(ORG, input(), undefined);
    expect(made.created).toBe(true);
    expect(made.event.id).toMatch(/^evt_/);
    const ids = mocks.events.ingestMany.mock.calls.flatMap(([ingests]) => ingests.map((ingest) => ingest.event.id));
    expect(ids).toEqual(['evt_body', 'key-1', 'key-1', made.event.id]);
  });

  it('passes the event fields to the write as given, with nulls for what was left out', async () => {
    const { sut, mocks } = setup();
    await sut.execute(ORG, input({ id: 'evt_1', source: 'billing', orderingKey: 'order-1', priority: 7, correlationId: 'c-1', tags: ['eu'] }), undefined);
    await sut.execute(ORG, input({ id: 'evt_2' }), undefined);
    const events = mocks.events.ingestMany.mock.calls.map(([[ingest]]) => ingest.event);
    expect(events).toEqual([
      {
        organizationId: ORG,
        id: 'evt_1',
        type: 'order.created',
        source: 'billing',
        data: { orderId: '12345' },
        orderingKey: 'order-1',
        priority: 7,
        correlationId: 'c-1',
        tags: ['eu'],
        traceId: null, // tracing is off
      },
      {
        organizationId: ORG,
        id: 'evt_2',
        type: 'order.created',
        source: null,
        data: { orderId: '12345' },
        orderingKey: null,
        priority: 0,
        correlationId: null,
        tags: [],
        traceId: null,
      },
    ]);
  });
});

describe('IngestEvent ordering keys', () => {
  it('marks the deliveries of destinations with ordering "key" as ordered, and the others not', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_keyed', { ordering: 'key' }), destination('dst_free', { ordering: 'none' })] });
    await sut.execute(ORG, input({ id: 'evt_1', orderingKey: 'order-12345' }), undefined);
    const [[[ingest]]] = mocks.events.ingestMany.mock.calls;
    expect(ingest.event.orderingKey).toBe('order-12345');
    const ordered = Object.fromEntries(ingest.planned.map((delivery) => [delivery.destinationId, delivery.ordered]));
    expect(ordered).toEqual({ dst_keyed: true, dst_free: false });
  });
});

describe('IngestEvent enqueueing', () => {
  it('queues one job per new delivery only after the write has finished: delivery id, destination, its attempts and the event priority', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_a', { maxAttempts: 3 }), destination('dst_b', { maxAttempts: 8 })] });
    const write = deferred<void>();
    const fakeWrite = mocks.events.ingestMany.getMockImplementation()!;
    mocks.events.ingestMany.mockImplementationOnce(async (ingests) => {
      await write.promise;
      return fakeWrite(ingests);
    });
    const result = sut.execute(ORG, input({ id: 'evt_1', priority: 4 }), undefined);
    await settle();
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();

    write.resolve();
    const accepted = await result;
    const byDestination = new Map(accepted.deliveries.map((delivery) => [delivery.destinationId, delivery.id]));
    expect(jobs(mocks).sort((a, b) => a.destinationId.localeCompare(b.destinationId))).toEqual([
      { deliveryId: byDestination.get('dst_a'), destinationId: 'dst_a', attempts: 3, priority: 4 },
      { deliveryId: byDestination.get('dst_b'), destinationId: 'dst_b', attempts: 8, priority: 4 },
    ]);
  });

  it("queues nothing and fails the ingest with the write's error when the write fails", async () => {
    const { sut, mocks } = setup();
    const down = Object.assign(new Error("Can't reach database server"), { code: 'P1001' });
    mocks.events.ingestMany.mockRejectedValueOnce(down);
    await expect(sut.execute(ORG, input({ id: 'evt_1' }), undefined)).rejects.toBe(down);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
    expect(mocks.metrics.eventsAccepted.inc).not.toHaveBeenCalled();
    expect(mocks.metrics.eventsReceived.inc).not.toHaveBeenCalled();
  });

  it('writes a destination named in `destinations` that is disabled (its delivery is held) but queues no job for it', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_on'), destination('dst_off', { enabled: false })] });
    const answer = await post(sut, { id: 'evt_1', type: 'order.created', data: {}, destinations: ['dst_on', 'dst_off'] });
    expect(answer.body.deliveries.map((delivery) => delivery.destinationId).sort()).toEqual(['dst_off', 'dst_on']);
    expect(jobs(mocks).map((job) => job.destinationId)).toEqual(['dst_on']);
  });

  it('writes requests that arrive during a write together in the next statement, queues their jobs in one call, and answers each on its own', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_a')] });
    const write = deferred<void>();
    const fakeWrite = mocks.events.ingestMany.getMockImplementation()!;
    mocks.events.ingestMany.mockImplementationOnce(async (ingests) => {
      await write.promise;
      return fakeWrite(ingests);
    });
    const lone = sut.execute(ORG, input({ id: 'evt_0' }), undefined);
    await settle();
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1); // a lone request goes at once

    mocks.refuse.add('evt_bad');
    const later = ['evt_1', 'evt_bad', 'evt_2', 'evt_0'].map((id) =>
      sut.execute(ORG, input({ id }), undefined).then(
        (result) => ({ id, created: result.created }),
        (error: Error) => ({ id, error: error.message }),
      ),
    );
    await settle();
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1);

    write.resolve();
    await expect(lone).resolves.toMatchObject({ created: true });
    expect(await Promise.all(later)).toEqual([
      { id: 'evt_1', created: true },
      { id: 'evt_bad', error: 'invalid input for event evt_bad' },
      { id: 'evt_2', created: true },
      { id: 'evt_0', created: false },
    ]);
    const statements = mocks.events.ingestMany.mock.calls.map(([ingests]) => ingests.map((ingest) => ingest.event.id));
    expect(statements).toEqual([['evt_0'], ['evt_1', 'evt_bad', 'evt_2', 'evt_0']]);
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(2);
    expect(mocks.queues.enqueue.mock.calls[1][0]).toHaveLength(2); // evt_1 and evt_2 only
  });
});

describe('IngestEvent refusing the NUL character', () => {
  it.each([
    ['a string inside `data`', 'data', { id: 'evt_1', type: 'order.created', data: { note: 'a\u0000b' } }],
    ['a key inside `data`', 'data', { id: 'evt_1', type: 'order.created', data: { ['k\u0000']: 1 } }],
    ['a tag', 'tags', { id: 'evt_1', type: 'order.created', data: {}, tags: ['eu', '\u0000'] }],
    ['the id', 'id', { id: 'evt\u00001', type: 'order.created', data: {} }],
  ])('answers 400 for NUL in %s, naming the top-level field `%s`, and writes nothing', async (_where, path, body) => {
    const { sut, mocks } = setup();
    const answer = answerOf(await failure(post(sut, body)));
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([{ path, message: 'must not contain the NUL character (\\u0000)' }]);
    expect(mocks.routing.enabled).not.toHaveBeenCalled();
    expect(mocks.events.ingestMany).not.toHaveBeenCalled();
  });
});

describe('IngestEvent with Redis down', () => {
  const UNREACHABLE = 'Redis is unreachable: events are accepted and the reconciler will enqueue their deliveries';

  it('accepts events without trying Redis while it is disconnected, and logs the outage once until it is back', async () => {
    const { sut, mocks } = setup();
    mocks.queues.connected = false;
    const first = await post(sut, { id: 'evt_1', type: 'order.created', data: {} });
    const second = await post(sut, { id: 'evt_2', type: 'order.created', data: {} });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.body.deliveries).toHaveLength(1);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
    expect(mocks.warn.mock.calls).toEqual([[UNREACHABLE]]);

    mocks.queues.connected = true;
    await post(sut, { id: 'evt_3', type: 'order.created', data: {} });
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(1);
    mocks.queues.connected = false;
    await post(sut, { id: 'evt_4', type: 'order.created', data: {} });
    expect(mocks.warn.mock.calls).toEqual([[UNREACHABLE], [UNREACHABLE]]);
  });

  it('accepts the event when adding its jobs fails, and logs that its deliveries wait for the reconciler', async () => {
    const { sut, mocks } = setup();
    mocks.queues.enqueue.mockRejectedValueOnce(new Error('Connection is closed.'));
    const answer = await post(sut, { id: 'evt_1', type: 'order.created', data: {} });
    expect(answer.status).toBe(202);
    expect(answer.body.deliveries).toHaveLength(1);
    expect(mocks.warn.mock.calls).toEqual([['Events evt_1 accepted; their deliveries wait for the reconciler: Connection is closed.']]);
  });

  it('answers after 2 s when Redis does not answer, and logs it', async () => {
    jest.useFakeTimers();
    const { sut, mocks } = setup();
    mocks.queues.enqueue.mockImplementationOnce(() => new Promise<void>(() => undefined));
    let answered = false;
    const result = sut.execute(ORG, input({ id: 'evt_1' }), undefined).then((value) => {
      answered = true;
      return value;
    });
    await jest.advanceTimersByTimeAsync(1_999);
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(1);
    expect(answered).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    expect(answered).toBe(true);
    await expect(result).resolves.toMatchObject({ created: true, event: { id: 'evt_1' } });
    expect(mocks.warn.mock.calls).toEqual([['Events evt_1 accepted; their deliveries wait for the reconciler: Redis did not answer within 2000 ms']]);
  });

  it('names at most five events of a group in the log line, and counts the rest', async () => {
    const { sut, mocks } = setup();
    mocks.queues.enqueue.mockRejectedValueOnce(new Error('Connection is closed.'));
    const ids = ['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5', 'evt_6', 'evt_7'];
    const results = await Promise.all(ids.map((id) => sut.execute(ORG, input({ id }), undefined)));
    expect(results.every((result) => result.created)).toBe(true);
    expect(mocks.warn.mock.calls).toEqual([
      ['Events evt_1, evt_2, evt_3, evt_4, evt_5 and 2 more accepted; their deliveries wait for the reconciler: Connection is closed.'],
    ]);
  });
});

describe('IngestEvent batches', () => {
  it('writes the whole batch in one all-or-nothing write, routing by type or `destinations` with one lookup each, and queues its jobs in one call after it', async () => {
    const { sut, mocks } = setup({
      destinations: [
        destination('dst_orders', { eventTypes: ['order.*'], maxAttempts: 3 }),
        destination('dst_users', { eventTypes: ['user.*'] }),
        destination('dst_named', { eventTypes: ['audit.*'] }),
      ],
    });
    const write = deferred<void>();
    const fakeWrite = mocks.events.ingestAll.getMockImplementation()!;
    mocks.events.ingestAll.mockImplementationOnce(async (ingests) => {
      await write.promise;
      return fakeWrite(ingests);
    });
    const answer = postBatch(sut, {
      events: [
        { id: 'evt_1', type: 'order.created', data: {} },
        { id: 'evt_2', type: 'user.created', data: {}, priority: 3 },
        { id: 'evt_3', type: 'order.created', data: {}, destinations: ['dst_named', 'dst_users'] },
        { id: 'evt_4', type: 'nobody.wants', data: {}, destinations: ['dst_named'] },
      ],
    });
    await settle();
    expect(mocks.events.ingestAll).toHaveBeenCalledTimes(1);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
    write.resolve();
    const { status, body } = await answer;

    expect(status).toBe(202);
    expect(body.events.map((event) => [event.id, event.type, event.created, event.deliveries.map((delivery) => delivery.destinationId).sort()])).toEqual([
      ['evt_1', 'order.created', true, ['dst_orders']],
      ['evt_2', 'user.created', true, ['dst_users']],
      ['evt_3', 'order.created', true, ['dst_named', 'dst_users']],
      ['evt_4', 'nobody.wants', true, ['dst_named']],
    ]);
    expect(mocks.events.ingestMany).not.toHaveBeenCalled();
    expect(mocks.routing.enabled).toHaveBeenCalledTimes(1);
    expect(mocks.destinations.findRoutable.mock.calls).toEqual([[ORG, ['dst_named', 'dst_users']]]);
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(1);
    const deliveryOf = (index: number, destinationId: string) => body.events[index].deliveries.find((delivery) => delivery.destinationId === destinationId)?.id;
    expect(jobs(mocks)).toEqual(
      expect.arrayContaining([
        { deliveryId: deliveryOf(0, 'dst_orders'), destinationId: 'dst_orders', attempts: 3, priority: 0 },
        { deliveryId: deliveryOf(1, 'dst_users'), destinationId: 'dst_users', attempts: 8, priority: 3 },
      ]),
    );
    expect(jobs(mocks)).toHaveLength(5);
    expect(mocks.metrics.eventsAccepted.inc.mock.calls).toEqual([[4]]);
    expect(mocks.metrics.eventsReceived.inc.mock.calls).toEqual([[4]]);
  });

  it('answers 200 when no event of the batch is new, 202 with `created` per event when some are, and queues only the new ones', async () => {
    const { sut, mocks } = setup();
    const first = await postBatch(sut, { events: [{ id: 'evt_1', type: 'order.created', data: {} }] });
    const again = await postBatch(sut, { events: [{ id: 'evt_1', type: 'order.created', data: {} }] });
    expect(again).toEqual({ status: 200, body: { events: [{ ...first.body.events[0], created: false }] } });

    mocks.queues.enqueue.mockClear();
    const mixed = await postBatch(sut, {
      events: [
        { id: 'evt_2', type: 'order.created', data: {} },
        { id: 'evt_1', type: 'order.created', data: {} },
      ],
    });
    expect(mixed.status).toBe(202);
    expect(mixed.body.events.map((event) => [event.id, event.created])).toEqual([
      ['evt_2', true],
      ['evt_1', false],
    ]);
    expect(jobs(mocks).map((job) => job.deliveryId)).toEqual(mixed.body.events[0].deliveries.map((delivery) => delivery.id));
  });

  it('makes a distinct evt_ id for each event that has none', async () => {
    const { sut } = setup();
    const { body } = await postBatch(sut, { events: [0, 1, 2].map((i) => ({ type: 'order.created', data: { i } })) });
    const ids = body.events.map((event) => event.id);
    expect(ids.every((id) => id.startsWith('evt_'))).toBe(true);
    expect(new Set(ids).size).toBe(3);
  });

  it.each([
    ['an invalid type', ['events.3.type'], { events: [0, 1, 2, 3].map((i) => ({ type: i === 3 ? 'Not A Type' : 'order.created', data: {} })) }],
    ['a missing data', ['events.0.data'], { events: [{ type: 'order.created' }, { type: 'order.created', data: {} }] }],
    ['no events', ['events'], { events: [] }],
    ['501 events', ['events'], { events: Array.from({ length: 501 }, () => ({ type: 'order.created', data: {} })) }],
    ['an unknown field beside `events`', [''], { events: [{ type: 'order.created', data: {} }], extra: 1 }],
    [
      'NUL in an event',
      ['events.1.data'],
      {
        events: [
          { type: 'order.created', data: {} },
          { type: 'order.created', data: { note: 'a\u0000b' } },
        ],
      },
    ],
    [
      'an unknown destination',
      ['events.1.destinations.1'],
      {
        events: [
          { type: 'order.created', data: {} },
          { type: 'order.created', data: {}, destinations: ['dst_a', 'dst_nope'] },
        ],
      },
    ],
  ])('refuses a batch with %s with 400 naming %j, and writes nothing', async (_what, paths, body) => {
    const { sut, mocks } = setup();
    const answer = answerOf(await failure(postBatch(sut, body)));
    expect(answer.status).toBe(400);
    expect(answer.body.details.map((detail) => detail.path)).toEqual(paths);
    expect(mocks.events.ingestAll).not.toHaveBeenCalled();
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });

  it('refuses the Idempotency-Key header with 400 naming it, and writes nothing', async () => {
    const { sut, mocks } = setup();
    const answer = answerOf(await failure(postBatch(sut, { events: [{ type: 'order.created', data: {} }] }, 'key-1')));
    expect(answer.body.details).toEqual([{ path: 'Idempotency-Key', message: expect.stringContaining('give each event an id') }]);
    expect(mocks.events.ingestAll).not.toHaveBeenCalled();
  });

  it('fails the whole batch, queueing nothing, when its write fails', async () => {
    const { sut, mocks } = setup();
    mocks.refuse.add('evt_bad');
    await expect(sut.executeBatch(ORG, [input({ id: 'evt_1' }), input({ id: 'evt_bad' })])).rejects.toThrow('invalid input for event evt_bad');
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
    expect(mocks.metrics.eventsAccepted.inc).not.toHaveBeenCalled();
    expect(mocks.metrics.eventsReceived.inc).not.toHaveBeenCalled();
    await expect(sut.executeBatch(ORG, [input({ id: 'evt_1' })])).resolves.toMatchObject([{ created: true }]);
  });
});
