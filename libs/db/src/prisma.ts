import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/client';

export { Prisma, PrismaClient } from '../generated/client';
export type {
  ApiKey,
  Attempt,
  AttemptTrigger,
  Delivery,
  DeliveryStatus,
  Destination,
  DestinationKind,
  Event,
  Organization,
  Replay,
  AuditEntry,
} from '../generated/client';

export type PoolOptions = { max?: number };

/** A Prisma client on the pg driver adapter (no native engine). */
export function createPrismaClient(databaseUrl: string, pool: PoolOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: pool.max ?? 10 });
  return new PrismaClient({ adapter });
}
