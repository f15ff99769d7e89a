import type { Delivery, Event, Prisma, PrismaClient } from './prisma';

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

export type EventFilter = { type?: string; since?: Date; until?: Date; beforeSeq?: bigint };

export class EventRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Writes the event and one pending delivery per destination in one transaction. When the
   * organization already has an event with this id, nothing is written and the existing
   * event and its deliveries are returned (`created: false`).
   */
  async ingest(event: NewEvent, deliveryIds: ReadonlyMap<string, string>): Promise<IngestResult> {
    return this.prisma.$transaction(async (tx) => {
      const inserted = await tx.event.createMany({ data: [event], skipDuplicates: true });
      if (inserted.count === 0) {
        const existing = await tx.event.findUniqueOrThrow({
          where: { organizationId_id: { organizationId: event.organizationId, id: event.id } },
          include: { deliveries: { orderBy: { seq: 'asc' } } },
        });
        const { deliveries, ...stored } = existing;
        return { created: false, event: stored, deliveries };
      }
      const rows = [...deliveryIds].map(([destinationId, id]) => ({
        id,
        organizationId: event.organizationId,
        eventId: event.id,
        destinationId,
      }));
      await tx.delivery.createMany({ data: rows });
      const stored = await tx.event.findUniqueOrThrow({
        where: { organizationId_id: { organizationId: event.organizationId, id: event.id } },
        include: { deliveries: { orderBy: { seq: 'asc' } } },
      });
      const { deliveries, ...plain } = stored;
      return { created: true, event: plain, deliveries };
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
