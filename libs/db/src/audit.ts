import { newId } from '@dispatch/domain';
import type { AuditEntry, Database, Prisma, PrismaClient } from './prisma';

export type AuditRecord = { organizationId: string; actor: string; action: string; target: string; details?: Prisma.InputJsonObject };

/** The trail of operator actions: who did what to which object, and when. */
export class AuditRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  async record(entry: AuditRecord): Promise<void> {
    await this.prisma.auditEntry.create({ data: { id: newId('aud'), details: {}, ...entry } });
  }

  list(organizationId: string, limit: number, beforeSeq?: bigint): Promise<AuditEntry[]> {
    return this.prisma.auditEntry.findMany({
      where: { organizationId, ...(beforeSeq !== undefined ? { seq: { lt: beforeSeq } } : {}) },
      orderBy: { seq: 'desc' },
      take: limit,
    });
  }
}
