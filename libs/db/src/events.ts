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
};

export type IngestResult = {
  created: boolean;
  event: { id: string; type: string; priority: number };
  deliveries: { id: string; destinationId: string; status: DeliveryStatus }[];
};

/** A delivery to write with the event; `ordered` when its destination orders by key. */
export type NewDelivery = { id: string; destinationId: string; ordered: boolean };

export type EventFilter = { type?: string; since?: Date; until?: Date; beforeSeq?: bigint };

export class EventRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  /**
   * Writes the event and one pending delivery per destination in one statement (so one
   * round trip, atomically). Deliveries of destinations that order by key get the next number
   * of the event's ordering key; the row lock on that key makes concurrent ingests take numbers
   * in commit order. When the organization already has an event with this id, nothing is
   * written and the event and its deliveries as first accepted are returned (`created: false`).
   * Deliveries come in id order either way.
   */
  async ingest(event: NewEvent, planned: readonly NewDelivery[]): Promise<IngestResult> {
    const ids = planned.map((delivery) => delivery.id);
    const destinationIds = planned.map((delivery) => delivery.destinationId);
    const ordered = planned.map((delivery) => delivery.ordered && event.orderingKey !== null);
    const created = await this.database.sql<{ id: string; destination_id: string | null }>(
      `WITH inserted AS (
         INSERT INTO events (organization_id, id, type, source, data, ordering_key, priority, correlation_id, tags)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9::text[])
         ON CONFLICT (organization_id, id) DO NOTHING
         RETURNING id
       ), planned AS (
         SELECT * FROM unnest($10::text[], $11::text[], $12::boolean[]) AS p(id, destination_id, ordered)
         WHERE EXISTS (SELECT 1 FROM inserted)
       ), sequenced AS (
         INSERT INTO ordering_keys (destination_id, key, last_seq)
         SELECT destination_id, $6, 1 FROM planned WHERE ordered
         ON CONFLICT (destination_id, key) DO UPDATE SET last_seq = ordering_keys.last_seq + 1
         RETURNING destination_id, last_seq
       ), written AS (
         INSERT INTO deliveries (id, organization_id, event_id, destination_id, ordering_key, ordering_seq)
         SELECT p.id, $1, $2, p.destination_id, CASE WHEN p.ordered THEN $6 END, s.last_seq
         FROM planned p LEFT JOIN sequenced s ON s.destination_id = p.destination_id
         RETURNING id, destination_id
       )
       SELECT id, NULL AS destination_id FROM inserted
       UNION ALL SELECT id, destination_id FROM written`,
      [
        event.organizationId,
        event.id,
        event.type,
        event.source,
        JSON.stringify(event.data),
        event.orderingKey,
        event.priority,
        event.correlationId,
        event.tags,
        ids,
        destinationIds,
        ordered,
      ],
      'ingest-event',
    );
    if (created.length > 0) {
      return {
        created: true,
        event: { id: event.id, type: event.type, priority: event.priority },
        deliveries: created
          .filter((row) => row.destination_id !== null)
          .map((row) => ({ id: row.id, destinationId: row.destination_id as string, status: 'pending' as const }))
          .sort((a, b) => (a.id < b.id ? -1 : 1)),
      };
    }
    const existing = await this.find(event.organizationId, event.id);
    if (!existing) throw new Error(`Event ${event.id} was neither written nor found`);
    return {
      created: false,
      event: { id: existing.id, type: existing.type, priority: existing.priority },
      deliveries: existing.deliveries.map((delivery) => ({ id: delivery.id, destinationId: delivery.destinationId, status: delivery.status })),
    };
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
        ...(filter.since || filter.until ? { receivedAt: { gte: filter.since, lt: filter.until } } : {}),
        ...(filter.beforeSeq !== undefined ? { seq: { lt: filter.beforeSeq } } : {}),
      },
      orderBy: { seq: 'desc' },
      take: limit,
    });
  }
}
