import { FAILURE_CATEGORIES, FailureCategory } from '@dispatch/domain';
import { Prisma } from './prisma';
import type { Database, PrismaClient } from './prisma';

/** The dead letters of one failure category. */
export type DeadLetterCategory = {
  category: FailureCategory;
  count: number;
  /** The sum of the sizes of their events' data (as JSON text). */
  bytes: number;
  /** The destinations they belong to, most dead letters first. */
  destinations: { id: string; name: string; count: number }[];
  /** When the oldest and the newest of them were created; null when there is none. */
  oldestAt: Date | null;
  newestAt: Date | null;
};

export type DeadLetterFilter = {
  /** Deliveries created at or after this time (as the replay selection counts them). */
  since?: Date;
  /** Deliveries created before this time. */
  until?: Date;
  destinationId?: string;
};

/** Dead letters (deliveries `failed` for good) grouped by why they failed. */
export class DeadLetterRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /**
   * Every failure category, in the order of FAILURE_CATEGORIES, those without a dead letter
   * too (count 0). One statement: the failed deliveries of the organization (the partial index
   * on organization, category and creation time holds only them), counted per category and
   * destination; the categories' figures are the sums of their destinations'.
   */
  async categories(organizationId: string, filter: DeadLetterFilter): Promise<DeadLetterCategory[]> {
    const conditions = [Prisma.sql`d.organization_id = ${organizationId}`, Prisma.sql`d.status = 'failed'`, Prisma.sql`d.failure_category IS NOT NULL`];
    if (filter.destinationId) conditions.push(Prisma.sql`d.destination_id = ${filter.destinationId}`);
    if (filter.since) conditions.push(Prisma.sql`d.created_at >= ${filter.since}`);
    if (filter.until) conditions.push(Prisma.sql`d.created_at < ${filter.until}`);
    const rows = await this.prisma.$queryRaw<
      { category: FailureCategory; destination_id: string; name: string; count: number; bytes: bigint; oldest_at: Date; newest_at: Date }[]
    >`
      SELECT d.failure_category::text AS category, d.destination_id, dst.name, count(*)::int AS count,
             coalesce(sum(octet_length(e.data::text)), 0)::bigint AS bytes, min(d.created_at) AS oldest_at, max(d.created_at) AS newest_at
      FROM deliveries d
      JOIN events e ON e.organization_id = d.organization_id AND e.id = d.event_id
      JOIN destinations dst ON dst.id = d.destination_id
      WHERE ${Prisma.join(conditions, ' AND ')}
      GROUP BY d.failure_category, d.destination_id, dst.name
      ORDER BY count(*) DESC, d.destination_id`;
    return FAILURE_CATEGORIES.map((category) => {
      const of = rows.filter((row) => row.category === category);
      return {
        category,
        count: of.reduce((sum, row) => sum + row.count, 0),
        bytes: of.reduce((sum, row) => sum + Number(row.bytes), 0),
        destinations: of.map((row) => ({ id: row.destination_id, name: row.name, count: row.count })),
        oldestAt: of.length === 0 ? null : new Date(Math.min(...of.map((row) => row.oldest_at.getTime()))),
        newestAt: of.length === 0 ? null : new Date(Math.max(...of.map((row) => row.newest_at.getTime()))),
      };
    });
  }
}
