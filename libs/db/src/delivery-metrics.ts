import { Prisma } from './prisma';
import type { Database, PrismaClient } from './prisma';

/** The width of one bucket of delivery metrics. */
export type MetricsBucket = 'minute' | 'hour';

export type DeliveryMetricsQuery = {
  organizationId: string;
  /** Only this destination's deliveries (already known to be the organization's); all when absent. */
  destinationId?: string;
  /** Attempts started at or after this time… */
  since: Date;
  /** …and before this one. */
  until: Date;
  bucket: MetricsBucket;
};

export type DeliveryMetricsBucket = {
  /** Where the bucket starts: a whole minute or hour, UTC. */
  start: Date;
  delivered: number;
  failed: number;
  retried: number;
  /** Median duration of the bucket's delivered attempts, in milliseconds; null when none. */
  p50Ms: number | null;
  p95Ms: number | null;
};

export type DeliveryMetrics = {
  buckets: DeliveryMetricsBucket[];
  totals: { delivered: number; failed: number; retried: number };
};

type BucketRow = { start: Date; delivered: number; failed: number; retried: number; p50_ms: number | null; p95_ms: number | null };

/**
 * What an organization's deliveries did over time, read from the attempts: each attempt
 * `delivered` is a delivery that became delivered, each `failed` or `gone` one a delivery that
 * became a dead letter, each `retry` one an attempt that ended in a retry; the durations of the
 * delivered attempts give the percentiles. An attempt counts in the bucket in which it started.
 *
 * One statement, at an operator's pace (`$queryRaw`). The attempts of the range are found with
 * the index on `attempts(started_at)`, each joined to its delivery by primary key for the
 * organization and destination. Every bucket of the range is in the answer, those without
 * attempts too (zeros and nulls): `generate_series` makes them, the attempts are grouped per
 * bucket and joined in. The first bucket starts at the whole minute or hour at or before
 * `since`; the last is the one `until` falls in (or ends at); only attempts within
 * [since, until) count, so the first and last buckets may cover part of their span.
 */
export class DeliveryMetricsRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  async read(query: DeliveryMetricsQuery): Promise<DeliveryMetrics> {
    const { organizationId, destinationId, since, until, bucket } = query;
    // The bucket is one of two words, never caller text; it is passed as a value all the same.
    const step = `1 ${bucket}`;
    const rows = await this.prisma.$queryRaw<BucketRow[]>`
      WITH counted AS (
        SELECT date_trunc(${bucket}::text, a.started_at) AS start,
               count(*) FILTER (WHERE a.outcome = 'delivered')::int AS delivered,
               count(*) FILTER (WHERE a.outcome IN ('failed', 'gone'))::int AS failed,
               count(*) FILTER (WHERE a.outcome = 'retry')::int AS retried,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.duration_ms) FILTER (WHERE a.outcome = 'delivered') AS p50_ms,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY a.duration_ms) FILTER (WHERE a.outcome = 'delivered') AS p95_ms
        FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
        WHERE a.started_at >= ${since.toISOString()}::timestamp AND a.started_at < ${until.toISOString()}::timestamp
          AND d.organization_id = ${organizationId}
          ${destinationId === undefined ? Prisma.empty : Prisma.sql`AND d.destination_id = ${destinationId}`}
        GROUP BY 1
      )
      SELECT s.start, coalesce(c.delivered, 0) AS delivered, coalesce(c.failed, 0) AS failed, coalesce(c.retried, 0) AS retried, c.p50_ms, c.p95_ms
      FROM generate_series(date_trunc(${bucket}::text, ${since.toISOString()}::timestamp),
                           ${until.toISOString()}::timestamp - interval '1 microsecond',
                           ${step}::interval) AS s(start)
      LEFT JOIN counted c ON c.start = s.start
      ORDER BY s.start`;
    const buckets = rows.map((row) => ({
      start: row.start,
      delivered: row.delivered,
      failed: row.failed,
      retried: row.retried,
      p50Ms: row.p50_ms,
      p95Ms: row.p95_ms,
    }));
    const totals = { delivered: 0, failed: 0, retried: 0 };
    for (const one of buckets) {
      totals.delivered += one.delivered;
      totals.failed += one.failed;
      totals.retried += one.retried;
    }
    return { buckets, totals };
  }
}
