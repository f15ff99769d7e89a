import type { Attempt, Database, Delivery, DeliveryStatus, PrismaClient } from './prisma';

export type DeliveryFilter = {
  status?: DeliveryStatus;
  destinationId?: string;
  eventId?: string;
  since?: Date;
  until?: Date;
  /** Only deliveries created before this one (the cursor). */
  before?: string;
};

/**
 * Deliveries as the API shows them: lists, one delivery with its attempts, a replay's
 * progress. Reads only; what changes deliveries is in `attempts.ts` (the worker) and
 * `operator-actions.ts` (retry, replay, cancel).
 */
export class DeliveryRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  list(organizationId: string, filter: DeliveryFilter, limit: number): Promise<Delivery[]> {
    return this.prisma.delivery.findMany({
      where: {
        organizationId,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.destinationId ? { destinationId: filter.destinationId } : {}),
        ...(filter.eventId ? { eventId: filter.eventId } : {}),
        ...(filter.since || filter.until ? { createdAt: { gte: filter.since, lt: filter.until } } : {}),
        ...(filter.before !== undefined ? { id: { lt: filter.before } } : {}),
      },
      orderBy: { id: 'desc' },
      take: limit,
    });
  }

  find(organizationId: string, id: string): Promise<(Delivery & { attempts: Attempt[]; event: { priority: number; correlationId: string | null } }) | null> {
    return this.prisma.delivery.findFirst({
      where: { id, organizationId },
      include: { attempts: { orderBy: { number: 'asc' } }, event: { select: { priority: true, correlationId: true } } },
    });
  }

  /** Progress of a replay: how many of its deliveries are in each status. */
  async replayProgress(replayId: string): Promise<Partial<Record<DeliveryStatus, number>>> {
    const rows = await this.prisma.delivery.groupBy({ by: ['status'], where: { replayId }, _count: { _all: true } });
    return Object.fromEntries(rows.map((row) => [row.status, row._count._all]));
  }
}
