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

  /**
   * `pool` serves everything; `keyedPool` only `sqlByKey`. Both log an idle connection that
   * PostgreSQL closed (restart, failover) and drop it: the next query opens a new one. Without
   * a listener the error would end the process.
   */
  constructor(
    readonly pool: Pool,
    private readonly keyedPool: Pool = pool,
  ) {
    this.prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    for (const one of new Set([pool, keyedPool])) {
      one.on('error', (error) => {
        if (Date.now() - this.lastIdleError > 30_000) new Logger('database').warn(`PostgreSQL closed an idle connection: ${error.message}`);
        this.lastIdleError = Date.now();
      });
    }
  }

  private lastIdleError = 0;

  /**
   * Runs one statement; `$1`, `$2`… are `values`. Dates must be passed as ISO strings. A
   * `name` makes it a prepared statement, parsed once per connection and planned at each
   * execution.
   */
  async sql<Row>(text: string, values: unknown[] = [], name?: string): Promise<Row[]> {
    const result = await this.pool.query({ text, values, types: sqlTypes, ...(name ? { name } : {}) });
    return result.rows as Row[];
  }

  /**
   * Runs a named statement that reaches every row it reads or writes through a key (a primary
   * key, a unique index) from the values it is given, on connections where it is planned once,
   * not at each execution (see `createDatabase`). For the busiest statement, whose planning
   * costs as much as its execution.
   */
  async sqlByKey<Row>(text: string, values: unknown[], name: string): Promise<Row[]> {
    const result = await this.keyedPool.query({ text, values, types: sqlTypes, name });
    return result.rows as Row[];
  }

  async close(): Promise<void> {
    await this.prisma.$disconnect();
    await Promise.all([...new Set([this.pool, this.keyedPool])].map((one) => one.end()));
  }
}

/** How long a connection of `sqlByKey` (and the plans it made) lives. */
export const KEYED_CONNECTION_LIFETIME_SECONDS = 10;

/**
 * A pool of at most `max` connections. A connection that cannot be made in 5 s, or a query
 * unanswered for 30 s, fails instead of waiting forever, so an unreachable database is noticed.
 *
 * Prepared statements are planned at every execution (`plan_cache_mode`): a connection
 * otherwise keeps the generic plan it made after five executions, and one made while a table
 * was nearly empty (a fresh install) goes on scanning the whole table once it has grown.
 *
 * `sqlByKey` has two connections of its own, where a statement is planned once (a generic
 * plan) and kept: its planning is not paid again at each execution. Two things keep that plan
 * right as the tables grow: sequential scans are ruled out on them (every row such a statement
 * touches is found by a key, however small the table is when it is planned), and each
 * connection lives 10 seconds (`keyedLifetimeSeconds`), so the plan is made again with the
 * tables' current sizes.
 */
export function createDatabase(databaseUrl: string, pool: { max?: number; keyedLifetimeSeconds?: number } = {}): Database {
  const common = { connectionString: databaseUrl, connectionTimeoutMillis: 5_000, query_timeout: 30_000 };
  return new Database(
    new Pool({ ...common, max: pool.max ?? 10, options: '-c TimeZone=UTC -c plan_cache_mode=force_custom_plan' }),
    new Pool({
      ...common,
      max: 2,
      maxLifetimeSeconds: pool.keyedLifetimeSeconds ?? KEYED_CONNECTION_LIFETIME_SECONDS,
      options: '-c TimeZone=UTC -c plan_cache_mode=force_generic_plan -c enable_seqscan=off',
    }),
  );
}
