import { Logger } from '@nestjs/common';
import type { DestinationRepository, EventRepository, FileRepository, Ingest, IngestResult, RoutableDestination } from '@dispatch/db';
import type { DeliveryQueues, EnqueueRequest } from '@dispatch/queue';
import type { IngestEventInput } from './event-schema';
import { IngestEvent } from './ingest-event';
import { InvalidEvent } from './invalid-event';
import type { RoutingTable } from './routing-table';

// Only the grouping of writes is taken from @dispatch/db: the collaborators are fakes.
jest.mock('@dispatch/db', () => jest.requireActual<object>('../../db/src/batcher'));
jest.mock('@dispatch/queue', () => ({}));

type Stored = RoutableDestination & { organizationId: string };

const destination = (organizationId: string, id: string, overrides: Partial<Stored> = {}): Stored => ({
  organizationId,
  id,
  eventTypes: ['*'],
  enabled: true,
  ordering: 'none',
  maxAttempts: 8,
  ...overrides,
});

const input = (fields: Partial<IngestEventInput> = {}): IngestEventInput => ({ type: 'order.created', data: {}, priority: 0, tags: [], ...fields });

/** IngestEvent over destinations of two organizations, a store that remembers ids, and queues that record their jobs. */
function setup() {
  const stored = [destination('org_a', 'dst_a', { ordering: 'key' }), destination('org_b', 'dst_b'), destination('org_b', 'dst_users', { eventTypes: ['user.*'] })];
  const seen = new Set<string>();
  const uploaded = new Set(['org_a/fil_1']);
  const routable = ({ organizationId: _organizationId, ...rest }: Stored): RoutableDestination => rest;
  const mocks = {
    destinations: {
      findRoutable: jest.fn(async (organizationId: string, ids: string[]) =>
        stored.filter((row) => row.organizationId === organizationId && ids.includes(row.id)).map(routable),
      ),
    },
    routing: { enabled: jest.fn(async (organizationId: string) => stored.filter((row) => row.organizationId === organizationId).map(routable)) },
    events: {
      ingestMany: jest.fn(async (ingests: readonly Ingest[]): Promise<(IngestResult | Error)[]> =>
        ingests.map(({ event, planned }) => {
          const key = `${event.organizationId}/${event.id}`;
          const created = !seen.has(key);
          seen.add(key);
          return {
            created,
            event: { id: event.id, type: event.type, priority: event.priority },
            deliveries: planned.map((d) => ({ id: d.id, destinationId: d.destinationId, status: 'pending' as const })),
          };
        }),
      ),
    },
    files: {
      missing: jest.fn(async (organizationId: string, ids: readonly string[]) => new Set(ids.filter((id) => !uploaded.has(`${organizationId}/${id}`)))),
    },
    queues: { connected: true, enqueue: jest.fn(async (_requests: readonly EnqueueRequest[]): Promise<void> => undefined) },
  };
  jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  const sut = new IngestEvent(
    mocks.destinations as unknown as DestinationRepository,
    mocks.routing as unknown as RoutingTable,
    mocks.events as unknown as EventRepository,
    mocks.queues as unknown as DeliveryQueues,
    mocks.files as unknown as FileRepository,
  );
  return { sut, mocks };
}

afterEach(() => jest.restoreAllMocks());

describe('IngestEvent.executeEach', () => {
  it('writes the events of several organizations in one statement in the order given, each routed in its own organization, and queues the new ones', async () => {
    const { sut, mocks } = setup();
    const answers = await sut.executeEach([
      { organizationId: 'org_a', id: 'evt_1', input: input({ orderingKey: 'k' }) },
      { organizationId: 'org_b', id: 'evt_2', input: input({ type: 'user.created' }) },
      { organizationId: 'org_a', id: 'evt_3', input: input({ orderingKey: 'k' }) },
    ]);
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1);
    const [[ingests]] = mocks.events.ingestMany.mock.calls;
    expect(ingests.map(({ event, planned }) => [event.organizationId, event.id, planned.map((d) => [d.destinationId, d.ordered])])).toEqual([
      ['org_a', 'evt_1', [['dst_a', true]]],
      [
        'org_b',
        'evt_2',
        [
          ['dst_b', false],
          ['dst_users', false],
        ],
      ],
      ['org_a', 'evt_3', [['dst_a', true]]],
    ]);
    expect(answers.map((answer) => (answer as IngestResult).created)).toEqual([true, true, true]);
    expect(mocks.queues.enqueue.mock.calls[0][0]).toHaveLength(4);
  });

  it('answers an unknown destination with an InvalidEvent for that event alone, and an id seen before with created: false, queueing nothing for it', async () => {
    const { sut, mocks } = setup();
    await sut.executeEach([{ organizationId: 'org_a', id: 'evt_1', input: input() }]);
    mocks.queues.enqueue.mockClear();
    const answers = await sut.executeEach([
      { organizationId: 'org_a', id: 'evt_1', input: input() },
      { organizationId: 'org_a', id: 'evt_2', input: input({ destinations: ['dst_b'] }) },
      { organizationId: 'org_a', id: 'evt_3', input: input({ destinations: ['dst_a'] }) },
    ]);
    expect(answers[0]).toMatchObject({ created: false, event: { id: 'evt_1' } });
    expect(answers[1]).toBeInstanceOf(InvalidEvent);
    expect((answers[1] as InvalidEvent).problems).toEqual([{ path: 'destinations.0', message: 'unknown destination "dst_b"' }]);
    expect(answers[2]).toMatchObject({ created: true, event: { id: 'evt_3' } });
    expect(mocks.events.ingestMany.mock.calls[1][0].map(({ event }) => event.id)).toEqual(['evt_1', 'evt_3']);
    expect(mocks.queues.enqueue.mock.calls.flatMap(([requests]) => requests.map((r) => r.destinationId))).toEqual(['dst_a']);
  });

  it("refuses, for that event alone, an event whose data.fileId names no file of its organization (another's file included)", async () => {
    const { sut, mocks } = setup();
    const answers = await sut.executeEach([
      { organizationId: 'org_a', id: 'evt_1', input: input({ data: { fileId: 'fil_1' } }) },
      { organizationId: 'org_b', id: 'evt_2', input: input({ data: { fileId: 'fil_1' } }) },
      { organizationId: 'org_a', id: 'evt_3', input: input({ data: { fileId: 'fil_gone' }, destinations: ['dst_x'] }) },
    ]);
    expect(answers[0]).toMatchObject({ created: true, event: { id: 'evt_1' } });
    expect((answers[1] as InvalidEvent).problems).toEqual([{ path: 'data.fileId', message: 'unknown file "fil_1": upload it first (POST /v1/files)' }]);
    expect((answers[2] as InvalidEvent).problems.map((problem) => problem.path)).toEqual(['data.fileId', 'destinations.0']);
    expect(mocks.events.ingestMany.mock.calls[0][0].map(({ event }) => event.id)).toEqual(['evt_1']);
  });

  it('throws, queueing nothing, when the write fails as a whole (the database unreachable)', async () => {
    const { sut, mocks } = setup();
    mocks.events.ingestMany.mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    await expect(sut.executeEach([{ organizationId: 'org_a', id: 'evt_1', input: input() }])).rejects.toThrow('Connection terminated unexpectedly');
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });
});
