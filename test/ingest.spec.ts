import { Database, EventRepository, Ingest, IngestResult, NewEvent } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { openRepositoryFixture, RepositoryFixture } from './repositories';

/** Events written together (what the API does with requests that arrive at once). */
describe('ingest of several events in one statement', () => {
  let fixture: RepositoryFixture;
  let database: Database;
  let events: EventRepository;
  let organizationId: string;

  beforeAll(async () => {
    fixture = await openRepositoryFixture('ingest');
    ({ database, organizationId } = fixture);
    events = new EventRepository(database);
  });

  afterAll(async () => {
    await fixture.close();
  });

  const destination = (ordering: 'none' | 'key') => fixture.createDestination(ordering);

  function event(id: string, overrides: Partial<NewEvent> = {}): NewEvent {
    return { organizationId, id, type: 'order.created', source: null, data: { id }, orderingKey: null, priority: 0, correlationId: null, tags: [], ...overrides };
  }

  function ingest(id: string, destinations: { id: string; ordered: boolean }[], overrides: Partial<NewEvent> = {}): Ingest {
    return { event: event(id, overrides), planned: destinations.map((d) => ({ id: newId('dlv'), destinationId: d.id, ordered: d.ordered })) };
  }

  function created(result: IngestResult | Error): IngestResult {
    if (result instanceof Error) throw result;
    return result;
  }

  it('answers each event on its own: new ones created, a repeated id (even within the batch) with the first deliveries', async () => {
    const plain = await destination('none');
    const other = await destination('none');
    const earlier = created((await events.ingestMany([ingest('evt_b_earlier', [{ id: plain, ordered: false }])]))[0]);

    const results = (
      await events.ingestMany([
        ingest('evt_b_1', [
          { id: plain, ordered: false },
          { id: other, ordered: false },
        ]),
        ingest('evt_b_1', [{ id: plain, ordered: false }]),
        ingest('evt_b_earlier', [{ id: plain, ordered: false }]),
        ingest('evt_b_2', []),
      ])
    ).map(created);

    expect(results.map((result) => [result.event.id, result.created])).toEqual([
      ['evt_b_1', true],
      ['evt_b_1', false],
      ['evt_b_earlier', false],
      ['evt_b_2', true],
    ]);
    expect(results[0].deliveries.map((d) => d.destinationId).sort()).toEqual([plain, other].sort());
    expect(results[1].deliveries).toEqual(results[0].deliveries.map((d) => ({ ...d, status: 'pending' })));
    expect(results[2].deliveries.map((d) => d.id)).toEqual(earlier.deliveries.map((d) => d.id));
    expect(results[3].deliveries).toEqual([]);
    const stored = await database.prisma.delivery.findMany({ where: { eventId: 'evt_b_1' } });
    expect(stored).toHaveLength(2);
  });

  it('numbers the deliveries of one ordering key in the order the events are given, continuing from earlier ones', async () => {
    const ordered = await destination('key');
    const plain = await destination('none');
    const both = [
      { id: ordered, ordered: true },
      { id: plain, ordered: false },
    ];
    await events.ingestMany([ingest('evt_o_0', both, { orderingKey: 'k1' })]);
    await events.ingestMany([
      ingest('evt_o_3', both, { orderingKey: 'k1' }),
      ingest('evt_o_1', both, { orderingKey: 'k2' }),
      ingest('evt_o_2', both, { orderingKey: 'k1' }),
      ingest('evt_o_4', both),
    ]);
    const rows = await database.prisma.delivery.findMany({ where: { destinationId: ordered }, orderBy: { orderingSeq: 'asc' } });
    const byKey = (key: string) => rows.filter((row) => row.orderingKey === key).map((row) => [row.eventId, Number(row.orderingSeq)]);
    expect(byKey('k1')).toEqual([
      ['evt_o_0', 1],
      ['evt_o_3', 2],
      ['evt_o_2', 3],
    ]);
    expect(byKey('k2')).toEqual([['evt_o_1', 1]]);
    expect(rows.find((row) => row.eventId === 'evt_o_4')).toMatchObject({ orderingKey: null, orderingSeq: null });
    const unordered = await database.prisma.delivery.findMany({ where: { destinationId: plain } });
    expect(unordered.every((row) => row.orderingKey === null && row.orderingSeq === null)).toBe(true);
  });

  it('fails an event the database refuses on its own, and writes the others', async () => {
    const plain = await destination('none');
    const results = await events.ingestMany([
      ingest('evt_f_1', [{ id: plain, ordered: false }]),
      // PostgreSQL cannot store the NUL character in JSON text.
      ingest('evt_f_bad', [{ id: plain, ordered: false }], { data: { text: 'a\u0000b' } }),
      ingest('evt_f_2', [{ id: plain, ordered: false }]),
    ]);
    expect(results[1]).toBeInstanceOf(Error);
    expect(created(results[0]).created).toBe(true);
    expect(created(results[2]).created).toBe(true);
    expect(await events.find(organizationId, 'evt_f_bad')).toBeNull();
    expect(await database.prisma.delivery.count({ where: { destinationId: plain } })).toBe(2);
  });
});
