import type { Attempt, Database, Delivery, Event, PrismaClient } from './prisma';

/** A delivery of an event, with its destination and every attempt made, oldest first. */
export type DeliveryStory = Delivery & { destination: { id: string; name: string; kind: string; config: unknown }; attempts: Attempt[] };

/** What happened to an event: the event, the size of its data, and each of its deliveries. */
export type EventStory = { event: Event; dataBytes: number; deliveries: DeliveryStory[] };

/** The operator's view of one event (`GET /v1/events/:id`): everything that happened to it. */
export class EventStories {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /**
   * The event of the organization with this id, its deliveries (in id order, so creation
   * order) each with its destination and attempts (by number), or null. `dataBytes` is the
   * size of the event's data as JSON text, as the database writes it out (what the dead
   * letter preview sums).
   */
  async find(organizationId: string, id: string): Promise<EventStory | null> {
    const event = await this.prisma.event.findUnique({
      where: { organizationId_id: { organizationId, id } },
      include: {
        deliveries: {
          orderBy: { id: 'asc' },
          include: { destination: { select: { id: true, name: true, kind: true, config: true } }, attempts: { orderBy: { number: 'asc' } } },
        },
      },
    });
    if (!event) return null;
    const [size] = await this.prisma.$queryRaw<{ bytes: number }[]>`
      SELECT octet_length(data::text)::int AS bytes FROM events WHERE organization_id = ${organizationId} AND id = ${id}`;
    const { deliveries, ...rest } = event;
    return { event: rest, dataBytes: size?.bytes ?? 0, deliveries };
  }
}
