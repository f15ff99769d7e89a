import { newId } from '@dispatch/domain';
import type { Database, PrismaClient } from './prisma';

/** A message of the ingest stream that could never be ingested, as recorded. */
export type NewIngestRejection = {
  organizationId: string | null;
  stream: string;
  subject: string;
  streamSeq: number;
  body: string;
  bodyBytes: number;
  headers: Record<string, string[]>;
  reason: string;
  deliveries: number;
  receivedAt: Date;
};

/** Who lists rejected messages: one organization's, or every one (the operator's organization, which owns the stream). */
export type RejectionScope = { organizationId: string } | 'all';

/** The rejected messages of the NATS ingest stream. */
export class IngestRejectionRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /** Records rejected messages in one statement; one recorded before (same stream, sequence and time) is not recorded again. */
  async record(rejections: readonly NewIngestRejection[]): Promise<void> {
    if (rejections.length === 0) return;
    await this.prisma.ingestRejection.createMany({ data: rejections.map((rejection) => ({ id: newId('rej'), ...rejection })), skipDuplicates: true });
  }

  /** Newest first, `limit` of them before `beforeSeq`. */
  list(scope: RejectionScope, limit: number, beforeSeq?: bigint) {
    return this.prisma.ingestRejection.findMany({
      where: { ...(scope === 'all' ? {} : { organizationId: scope.organizationId }), ...(beforeSeq !== undefined ? { seq: { lt: beforeSeq } } : {}) },
      orderBy: { seq: 'desc' },
      take: limit,
    });
  }

  /** Removes up to `limit` rejections made before `cutoff`, oldest first; answers how many. */
  removeOlderThan(cutoff: Date, limit: number): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM ingest_rejections WHERE id IN (
        SELECT id FROM ingest_rejections WHERE rejected_at < ${cutoff} ORDER BY rejected_at LIMIT ${limit}
      )`;
  }
}
