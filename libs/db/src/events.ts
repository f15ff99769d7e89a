import { writeTogetherOrAlone } from './batcher';
import type { Database, Delivery, DeliveryStatus, Event, Prisma, PrismaClient } from './prisma';

export type NewEvent = {
  organizationId: string;
  id: string;
  type: string;
  source: string | null;
  data: Prisma.InputJsonValue;
  orderingKey: string | null;
  priority: number;
  correlationId: string | null;
  tags: string[];
  /** The trace the event was accepted in (`Event.traceId`); none when tracing is off. */
  traceId?: string | null;
};

export type IngestResult = {
  created: boolean;
  event: { id: string; type: string; priority: number };
  deliveries: { id: string; destinationId: string; status: DeliveryStatus }[];
};

/** A delivery to write with the event; `ordered` when its destination orders by key. */
export type NewDelivery = { id: string; destinationId: string; ordered: boolean };

/** An event to write with its deliveries. */
export type Ingest = { event: NewEvent; planned: readonly NewDelivery[] };

export type EventFilter = { type?: string; correlationId?: string; since?: Date; until?: Date; beforeSeq?: bigint };

/** One event's key in the maps of a write: its organization and its id. */
function eventKey(organizationId: string, id: string): string {
  return `${organizationId}\u0000${id}`;
}

export class EventRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  /** Writes one event and its deliveries; see `ingestMany`. */
  async ingest(event: NewEvent, planned: readonly NewDelivery[]): Promise<IngestResult> {
    const [result] = await this.ingestMany([{ event, planned }]);
    if (result instanceof Error) throw result;
    return result;
  }

  /**
   * Writes events, each with one pending delivery per destination, in one statement (one round
   * trip and one commit for all of them). Deliveries of destinations that order by key get the
   * next numbers of the event's ordering key, in the order the events are given; the row lock
   * on that key makes concurrent statements take numbers in commit order. An event whose id its
   * organization already has (or that comes twice in `ingests`) is not written again: the
   * event and its deliveries as first accepted are returned (`created: false`). Deliveries
   * come in id order. Answers one result per ingest, in order; when the statement fails for a
   * reason other than an unreachable database, each event is tried alone, so one bad event
   * fails alone.
   */
  ingestMany(ingests: readonly Ingest[]): Promise<(IngestResult | Error)[]> {
    return writeTogetherOrAlone(ingests, (some) => this.ingestAll(some));
  }

  /**
   * Writes events as `ingestMany` does, in one statement, but all or nothing: when the
   * statement fails, none of them is written and the error is thrown.
   */
  ingestAll(ingests: readonly Ingest[]): Promise<IngestResult[]> {
    return this.writeEvents(ingests);
  }

  /**
   * Why the statement is shaped so:
   * - One statement for the group: one round trip and one commit for every event in it and
   *   all their deliveries; the caller enqueues their jobs only after it commits.
   * - The group comes as two jsonb parameters (events, planned deliveries) rather than
   *   parallel arrays: each event brings its own `tags` array and JSON `data`, and PostgreSQL
   *   arrays cannot hold arrays of different lengths. A group of any size is the same text, so
   *   it is one named statement, parsed once per connection.
   * - `ON CONFLICT (organization_id, id) DO NOTHING` makes the write idempotent: `planned`
   *   joins only the events this statement inserted, so an event already there gets no second
   *   set of deliveries.
   * - `ORDER BY` on the events and on the ordering keys takes their locks in one order, so
   *   concurrent statements (other API processes) touching the same ids or keys wait for each
   *   other instead of deadlocking.
   * - `sequenced` reserves, per (destination, key), one number per delivery of the group by
   *   raising `last_seq` once; the upsert holds that row to the commit, so concurrent
   *   statements take numbers in commit order. `written` hands the reserved numbers out in
   *   event order (`n`) with a window.
   * - Planned at each execution, not once per connection: see `createDatabase` in prisma.ts.
   */
  private async writeEvents(ingests: readonly Ingest[]): Promise<IngestResult[]> {
    // The first of several ingests with the same id is written; the others find it afterwards.
    const first = new Map<string, number>();
    ingests.forEach(({ event }, index) => {
      const key = eventKey(event.organizationId, event.id);
      if (!first.has(key)) first.set(key, index);
    });
    const written = [...first.values()];
    const rows = await this.database.sql<{ organization_id: string; event_id: string; id: string | null; destination_id: string | null }>(
      `WITH input AS (
         SELECT (e->>'n')::int AS n, e->>'organization_id' AS organization_id, e->>'id' AS id, e->>'type' AS type,
                e->>'source' AS source, e->'data' AS data, e->>'ordering_key' AS ordering_key, (e->>'priority')::int AS priority,
                e->>'correlation_id' AS correlation_id, ARRAY(SELECT jsonb_array_elements_text(e->'tags')) AS tags, e->>'trace_id' AS trace_id
         FROM jsonb_array_elements($1::jsonb) AS e
       ), inserted AS (
         INSERT INTO events (organization_id, id, type, source, data, ordering_key, priority, correlation_id, tags, trace_id)
         SELECT organization_id, id, type, source, data, ordering_key, priority, correlation_id, tags, trace_id FROM input
         ORDER BY organization_id, id
         ON CONFLICT (organization_id, id) DO NOTHING
         RETURNING organization_id, id
       ), planned AS (
         SELECT p.id, p.destination_id, p.ordered AND i.ordering_key IS NOT NULL AS ordered, i.n, i.organization_id, i.id AS event_id, i.ordering_key
         FROM jsonb_to_recordset($2::jsonb) AS p(event int, id text, destination_id text, ordered boolean)
         JOIN input i ON i.n = p.event
         JOIN inserted e ON e.organization_id = i.organization_id AND e.id = i.id
       ), sequenced AS (
         INSERT INTO ordering_keys (destination_id, key, last_seq)
         SELECT destination_id, ordering_key, count(*) FROM planned WHERE ordered
         GROUP BY destination_id, ordering_key ORDER BY destination_id, ordering_key
         ON CONFLICT (destination_id, key) DO UPDATE SET last_seq = ordering_keys.last_seq + EXCLUDED.last_seq
         RETURNING destination_id, key, last_seq
       ), written AS (
         INSERT INTO deliveries (id, organization_id, event_id, destination_id, ordering_key, ordering_seq)
         SELECT p.id, p.organization_id, p.event_id, p.destination_id, CASE WHEN p.ordered THEN p.ordering_key END,
                s.last_seq - count(*) OVER keyed + row_number() OVER (keyed ORDER BY p.n)
         FROM planned p LEFT JOIN sequenced s ON p.ordered AND s.destination_id = p.destination_id AND s.key = p.ordering_key
         WINDOW keyed AS (PARTITION BY p.destination_id, p.ordering_key, p.ordered)
         RETURNING organization_id, event_id, id, destination_id
       )
       SELECT organization_id, id AS event_id, NULL AS id, NULL AS destination_id FROM inserted
       UNION ALL SELECT organization_id, event_id, id, destination_id FROM written`,
      [
        JSON.stringify(
          written.map((index) => {
            const { event } = ingests[index];
            return {
              n: index,
              organization_id: event.organizationId,
              id: event.id,
              type: event.type,
              source: event.source,
              data: event.data,
              ordering_key: event.orderingKey,
              priority: event.priority,
              correlation_id: event.correlationId,
              tags: event.tags,
              trace_id: event.traceId ?? null,
            };
          }),
        ),
        JSON.stringify(
          written.flatMap((index) =>
            ingests[index].planned.map((delivery) => ({ event: index, id: delivery.id, destination_id: delivery.destinationId, ordered: delivery.ordered })),
          ),
        ),
      ],
      'ingest-events',
    );
    const created = new Map<string, { id: string; destinationId: string; status: 'pending' }[]>();
    for (const row of rows) {
      const key = eventKey(row.organization_id, row.event_id);
      const deliveries = created.get(key) ?? [];
      if (row.id !== null) deliveries.push({ id: row.id, destinationId: row.destination_id as string, status: 'pending' });
      created.set(key, deliveries);
    }
    const isNew = (event: NewEvent, index: number) => {
      const key = eventKey(event.organizationId, event.id);
      return created.has(key) && first.get(key) === index;
    };
    const existing = await this.findAccepted(ingests.filter(({ event }, index) => !isNew(event, index)).map(({ event }) => event));
    return ingests.map(({ event }, index) => {
      const key = eventKey(event.organizationId, event.id);
      if (isNew(event, index)) {
        return {
          created: true,
          event: { id: event.id, type: event.type, priority: event.priority },
          deliveries: (created.get(key) ?? []).sort((a, b) => (a.id < b.id ? -1 : 1)),
        };
      }
      const found = existing.get(key);
      if (!found) throw new Error(`Event ${event.id} was neither written nor found`);
      return { ...found, created: false };
    });
  }

  /** The events already accepted among `events`, with their deliveries in id order: one query per organization. */
  private async findAccepted(events: readonly NewEvent[]): Promise<Map<string, IngestResult>> {
    const found = new Map<string, IngestResult>();
    const byOrganization = new Map<string, Set<string>>();
    for (const event of events) byOrganization.set(event.organizationId, (byOrganization.get(event.organizationId) ?? new Set()).add(event.id));
    for (const [organizationId, ids] of byOrganization) {
      const rows = await this.prisma.event.findMany({
        where: { organizationId, id: { in: [...ids] } },
        select: { id: true, type: true, priority: true, deliveries: { orderBy: { id: 'asc' }, select: { id: true, destinationId: true, status: true } } },
      });
      for (const row of rows) {
        found.set(eventKey(organizationId, row.id), { created: false, event: { id: row.id, type: row.type, priority: row.priority }, deliveries: row.deliveries });
      }
    }
    return found;
  }

  find(organizationId: string, id: string): Promise<(Event & { deliveries: Delivery[] }) | null> {
    return this.prisma.event.findUnique({
      where: { organizationId_id: { organizationId, id } },
      include: { deliveries: { orderBy: { id: 'asc' } } },
    });
  }

  list(organizationId: string, filter: EventFilter, limit: number): Promise<Event[]> {
    return this.prisma.event.findMany({
      where: {
        organizationId,
        ...(filter.type ? { type: filter.type } : {}),
        ...(filter.correlationId ? { correlationId: filter.correlationId } : {}),
        ...(filter.since || filter.until ? { receivedAt: { gte: filter.since, lt: filter.until } } : {}),
        ...(filter.beforeSeq !== undefined ? { seq: { lt: filter.beforeSeq } } : {}),
      },
      orderBy: { seq: 'desc' },
      take: limit,
    });
  }
}
