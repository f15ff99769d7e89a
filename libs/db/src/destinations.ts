import { attemptsLeft } from '@dispatch/domain';
import type { Database, Destination, Prisma, PrismaClient } from './prisma';

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
  /** When a destination created disabled was disabled (its creation). */
  disabledAt?: Date | null;
  rateLimitMax: number | null;
  rateLimitDurationMs: number | null;
  rateLimitAdaptive: boolean;
  /** Complete circuit breaker settings. */
  circuitBreaker: Prisma.InputJsonObject;
  retryPolicy: Prisma.InputJsonObject;
  ordering: Destination['ordering'];
};

/** What routing an event needs to know of a destination (and its jobs, how many attempts). */
export type RoutableDestination = Pick<Destination, 'id' | 'eventTypes' | 'enabled' | 'ordering'> & { maxAttempts: number };

type RoutableRow = { id: string; event_types: string[]; enabled: boolean; ordering: Destination['ordering']; retry_policy: Prisma.JsonValue };

function routable(row: RoutableRow): RoutableDestination {
  return { id: row.id, eventTypes: row.event_types, enabled: row.enabled, ordering: row.ordering, maxAttempts: attemptsLeft(row.retry_policy, 0) };
}

export type DestinationChanges = Partial<Omit<NewDestination, 'id' | 'organizationId' | 'kind'>> & {
  disabledReason?: string | null;
  paused?: boolean;
  previousSecret?: string | null;
  previousSecretExpiresAt?: Date | null;
};

export class DestinationRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

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
  async listEnabled(organizationId: string): Promise<RoutableDestination[]> {
    const rows = await this.database.sql<RoutableRow>(
      'SELECT id, event_types, enabled, ordering, retry_policy FROM destinations WHERE organization_id = $1 AND enabled',
      [organizationId],
      'routable-destinations',
    );
    return rows.map(routable);
  }

  findByIds(ids: string[]): Promise<Destination[]> {
    return this.prisma.destination.findMany({ where: { id: { in: ids } } });
  }

  /** The organization's destinations among `ids`, for routing to them by name. */
  async findRoutable(organizationId: string, ids: string[]): Promise<RoutableDestination[]> {
    const rows = await this.database.sql<RoutableRow>(
      'SELECT id, event_types, enabled, ordering, retry_policy FROM destinations WHERE organization_id = $1 AND id = ANY($2::text[])',
      [organizationId, ids],
      'named-destinations',
    );
    return rows.map(routable);
  }

  update(id: string, changes: DestinationChanges): Promise<Destination> {
    return this.prisma.destination.update({ where: { id }, data: changes });
  }

  /**
   * Removes previous signing secrets that no longer sign (expired, or retired at once) from the
   * database. Returns the ids of the destinations changed.
   */
  async clearExpiredPreviousSecrets(now: Date): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ id: string }[]>`
      UPDATE destinations SET previous_secret = NULL, previous_secret_expires_at = NULL
      WHERE previous_secret IS NOT NULL AND (previous_secret_expires_at IS NULL OR previous_secret_expires_at <= ${now})
      RETURNING id`;
    return rows.map((row) => row.id);
  }

  async delete(id: string): Promise<void> {
    await this.prisma.destination.delete({ where: { id } });
  }
}
