import type { Database, Delivery, Prisma, PrismaClient } from './prisma';

export type StaleDelivery = Pick<Delivery, 'id' | 'destinationId' | 'nextAttemptAt' | 'attemptCount'> & {
  destination: { retryPolicy: Prisma.JsonValue };
  event: { priority: number };
};

/** An open delivery of one destination, to enqueue again. */
export type OpenDelivery = Pick<Delivery, 'id' | 'nextAttemptAt' | 'attemptCount'> & { event: { priority: number } };

/**
 * Scans for open work, from the database, the source of truth: which destinations need a queue
 * worker (the supervisor), which deliveries lost their job (the reconciler), which deliveries a
 * resumed destination must send (the API). They run on a timer or on an operator's action, not
 * per delivery, so they are not named statements.
 */
export class DeliveryScans {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  /** Destinations that have work due before `horizon`, for the worker's supervisor. */
  async destinationsWithWorkDue(horizon: Date): Promise<string[]> {
    // One row per destination comes back (DISTINCT, in SQL), not one per open delivery. Only
    // enabled, unpaused destinations: deliveries they hold must not start a queue worker.
    // Retries count only when due before `horizon`, so a worker is running when they come due.
    const rows = await this.prisma.$queryRaw<{ destination_id: string }[]>`
      SELECT DISTINCT d.destination_id FROM deliveries d
      JOIN destinations dst ON dst.id = d.destination_id AND dst.enabled AND NOT dst.paused
      WHERE d.status IN ('pending', 'delivering')
         OR (d.status = 'retrying' AND d.next_attempt_at <= ${horizon})`;
    return rows.map((row) => row.destination_id);
  }

  /**
   * Candidates for the reconciler, in creation order after `afterId`: deliveries of active
   * destinations that are pending or delivering and untouched since `staleBefore`, or
   * retrying and overdue since then. Those without a live job get one again.
   */
  stalledDeliveries(staleBefore: Date, afterId: string, limit: number): Promise<StaleDelivery[]> {
    // Pages by id (`id > afterId`, at most `limit`): each pass reads a bounded slice and the
    // next goes on from there, so a large table is covered over several passes. "Untouched"
    // is `updated_at`, which every claim, settlement and operator action sets.
    return this.prisma.delivery.findMany({
      where: {
        id: { gt: afterId },
        OR: [
          { status: { in: ['pending', 'delivering'] }, updatedAt: { lt: staleBefore } },
          { status: 'retrying', nextAttemptAt: { lt: staleBefore } },
        ],
        destination: { enabled: true, paused: false },
      },
      select: {
        id: true,
        destinationId: true,
        nextAttemptAt: true,
        attemptCount: true,
        destination: { select: { retryPolicy: true } },
        event: { select: { priority: true } },
      },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  /** Open deliveries of one destination, to enqueue again when it is resumed or re-enabled. */
  openDeliveriesOf(destinationId: string): Promise<OpenDelivery[]> {
    return this.prisma.delivery.findMany({
      where: { destinationId, status: { in: ['pending', 'retrying'] } },
      select: { id: true, nextAttemptAt: true, attemptCount: true, event: { select: { priority: true } } },
      orderBy: { id: 'asc' },
    });
  }
}
