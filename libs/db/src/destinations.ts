import type { Prisma, PrismaClient, Destination } from './prisma';

export type DestinationRecord = Destination;

export type NewDestination = {
  id: string;
  organizationId: string;
  name: string;
  kind: Destination['kind'];
  config: Prisma.InputJsonObject;
  secret: string | null;
  eventTypes: string[];
  enabled: boolean;
  rateLimitMax: number | null;
  rateLimitDurationMs: number | null;
  retryPolicy: Prisma.InputJsonObject;
  ordering: Destination['ordering'];
};

export type DestinationChanges = Partial<Omit<NewDestination, 'id' | 'organizationId' | 'kind'>> & {
  disabledReason?: string | null;
  paused?: boolean;
};

export class DestinationRepository {
  constructor(private readonly prisma: PrismaClient) {}

  create(destination: NewDestination): Promise<Destination> {
    return this.prisma.destination.create({ data: destination });
  }

  find(organizationId: string, id: string): Promise<Destination | null> {
    return this.prisma.destination.findFirst({ where: { id, organizationId } });
  }

  findById(id: string): Promise<Destination | null> {
    return this.prisma.destination.findUnique({ where: { id } });
  }

  list(organizationId: string, limit: number, after?: string): Promise<Destination[]> {
    return this.prisma.destination.findMany({
      where: { organizationId, ...(after ? { id: { gt: after } } : {}) },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  /** Enabled destinations of the organization, for routing by event type. */
  listEnabled(organizationId: string): Promise<Destination[]> {
    return this.prisma.destination.findMany({ where: { organizationId, enabled: true } });
  }

  findByIds(ids: string[]): Promise<Destination[]> {
    return this.prisma.destination.findMany({ where: { id: { in: ids } } });
  }

  findMany(organizationId: string, ids: string[]): Promise<Destination[]> {
    return this.prisma.destination.findMany({ where: { organizationId, id: { in: ids } } });
  }

  update(id: string, changes: DestinationChanges): Promise<Destination> {
    return this.prisma.destination.update({ where: { id }, data: changes });
  }

  async delete(id: string): Promise<void> {
    await this.prisma.destination.delete({ where: { id } });
  }

  /** Turns a destination off after its receiver said it is gone, keeping the reason. */
  async disable(id: string, reason: string): Promise<void> {
    await this.prisma.destination.update({ where: { id }, data: { enabled: false, disabledReason: reason } });
  }
}
