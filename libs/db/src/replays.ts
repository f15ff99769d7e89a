import type { Database, PrismaClient, Replay } from './prisma';

export class ReplayRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  find(organizationId: string, id: string): Promise<Replay | null> {
    return this.prisma.replay.findFirst({ where: { id, organizationId } });
  }

  list(organizationId: string, limit: number): Promise<Replay[]> {
    return this.prisma.replay.findMany({ where: { organizationId }, orderBy: { createdAt: 'desc' }, take: limit });
  }
}
