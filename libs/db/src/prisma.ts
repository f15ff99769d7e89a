import { Logger } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool, types } from 'pg';
import { PrismaClient } from '../generated/client';

export { Prisma, PrismaClient } from '../generated/client';
export type {
  ApiKey,
  Attempt,
  AttemptTrigger,
  AuditEntry,
  Delivery,
  DeliveryStatus,
  Destination,
  AttemptOutcome,
  Event,
  Organization,
  Replay,
} from '../generated/client';

const TIMESTAMP = 1114;
const INT8 = 20;

/** Row types for SQL run directly: timestamps are UTC (the session's zone), int8 is bigint. */
const sqlTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === TIMESTAMP) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
    if (oid === INT8) return (value: string) => BigInt(value);
    return types.getTypeParser(oid, format);
  },
};

/**
 * PostgreSQL access: one pg pool (sessions in UTC), used by Prisma through its driver adapter
 * for everything, and directly through `sql` by the few statements on the hot path (ingest,
 * routing, claim and settle, ordering), where Prisma's per-query work would cost more than the
 * query. Which to use when: see index.ts.
 */
export class Database {
  readonly prisma: PrismaClient;

  constructor(readonly pool: Pool) {
    this.prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    // An idle connection that PostgreSQL closes (restart, failover) is dropped from the pool;
    // the next query opens a new one. Without a listener the error would end the process.
    pool.on('error', (error) => {
      if (Date.now() - this.lastIdleError > 30_000) new Logger('database').warn(`PostgreSQL closed an idle connection: ${error.message}`);
      this.lastIdleError = Date.now();
    });
  }

  private lastIdleError = 0;

  /**
   * Runs one statement; `$1`, `$2`… are `values`. Dates must be passed as ISO strings. A
   * `name` makes it a prepared statement, parsed once per connection.
   */
  async sql<Row>(text: string, values: unknown[] = [], name?: string): Promise<Row[]> {
    const result = await this.pool.query({ text, values, types: sqlTypes, ...(name ? { name } : {}) });
    return result.rows as Row[];
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
    await this.pool.end();
  }
}

/**
 * A pool of at most `max` connections. A connection that cannot be made in 5 s, or a query
 * unanswered for 30 s, fails instead of waiting forever, so an unreachable database is noticed.
 *
 * Prepared statements are planned at every execution (`plan_cache_mode`): a connection
 * otherwise keeps the generic plan it made after five executions, and one made while a table
 * was nearly empty (a fresh install) goes on scanning the whole table once it has grown.
 */
export function createDatabase(databaseUrl: string, pool: { max?: number } = {}): Database {
  return new Database(
    new Pool({
      connectionString: databaseUrl,
      max: pool.max ?? 10,
      options: '-c TimeZone=UTC -c plan_cache_mode=force_custom_plan',
      connectionTimeoutMillis: 5_000,
      query_timeout: 30_000,
    }),
  );
}
