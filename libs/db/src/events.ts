import type { Delivery, Event, Prisma, PrismaClient } from './prisma';

type Transaction = Prisma.TransactionClient;

/**
 * The next place in a destination's sequence for one ordering key. The row lock makes
 * concurrent ingests of the same key take numbers in commit order.
 */
async function nextOrderingSeq(tx: Transaction, destinationId: string, key: string): Promise<bigint> {
  const [row] = await tx.$queryRaw<{ last_seq: bigint }[]>`
    INSERT INTO ordering_keys (destination_id, key, last_seq) VALUES (${destinationId}, ${key}, 1)
    ON CONFLICT (destination_id, key) DO UPDATE SET last_seq = ordering_keys.last_seq + 1
    RETURNING last_seq`;
  return row.last_seq;
}

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

export type IngestResult = { created: boolean; event: Event; deliveries: Delivery[] };

/** A delivery to write with the event; `ordered` when its destination orders by key. */
export type NewDelivery = { id: string; destinationId: string; ordered: boolean };

export type EventFilter = { type?: string; since?: Date; until?: Date; beforeSeq?: bigint };

export class EventRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Writes the event and one pending delivery per destination in one transaction. When the
   * organization already has an event with this id, nothing is written and the existing
   * event and its deliveries are returned (`created: false`).
   */
  async ingest(event: NewEvent, planned: readonly NewDelivery[]): Promise<IngestResult> {
    return this.prisma.$transaction(async (tx) => {
      const inserted = await tx.event.createMany({ data: [event], skipDuplicates: true });
      if (inserted.count > 0) {
        const rows = [];
        for (const delivery of planned) {
          const orderingKey = delivery.ordered ? event.orderingKey : null;
          rows.push({
            id: delivery.id,
            organizationId: event.organizationId,
            eventId: event.id,
            destinationId: delivery.destinationId,
            orderingKey,
            orderingSeq: orderingKey === null ? null : await nextOrderingSeq(tx, delivery.destinationId, orderingKey),
          });
        }
        await tx.delivery.createMany({ data: rows });
      }
      const { deliveries, ...stored } = await tx.event.findUniqueOrThrow({
        where: { organizationId_id: { organizationId: event.organizationId, id: event.id } },
        include: { deliveries: { orderBy: { seq: 'asc' } } },
      });
      return { created: inserted.count > 0, event: stored, deliveries };
    });
  }

  find(organizationId: string, id: string): Promise<(Event & { deliveries: Delivery[] }) | null> {
    return this.prisma.event.findUnique({
      where: { organizationId_id: { organizationId, id } },
      include: { deliveries: { orderBy: { seq: 'asc' } } },
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
