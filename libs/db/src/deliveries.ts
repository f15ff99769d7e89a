import { statusesThatCanBecome } from '@dispatch/domain';
import { Batcher, writeTogetherOrAlone } from './batcher';
import { DeliverySelection, SELECTION_FROM, selectionCondition } from './delivery-selection';
import { Prisma } from './prisma';
import type { Attempt, Database, Delivery, DeliveryStatus, PrismaClient } from './prisma';

export type DeliveryFilter = {
  status?: DeliveryStatus;
  destinationId?: string;
  eventId?: string;
  since?: Date;
  until?: Date;
  /** Only deliveries created before this one (the cursor). */
  before?: string;
};

/** A delivery claimed for one attempt, with what the sender needs from its event. */
export type ClaimedDelivery = {
  id: string;
  organizationId: string;
  eventId: string;
  destinationId: string;
  attemptNumber: number;
  trigger: 'scheduled' | 'manual';
  event: { id: string; type: string; data: unknown; receivedAt: Date };
};

export type AttemptRecord = {
  id: string;
  deliveryId: string;
  number: number;
  trigger: 'scheduled' | 'manual';
  startedAt: Date;
  durationMs: number;
  outcome: 'delivered' | 'retry' | 'failed' | 'gone';
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
};

export type AttemptSettlement = {
  status: Extract<DeliveryStatus, 'delivered' | 'retrying' | 'failed'>;
  nextAttemptAt: Date | null;
  lastError: string | null;
  /** Set when the receiver said it is gone: the destination is disabled with this reason. */
  disableDestination?: string;
};

export type StaleDelivery = Pick<Delivery, 'id' | 'destinationId' | 'nextAttemptAt' | 'attemptCount'> & {
  destination: { retryPolicy: Prisma.JsonValue };
  event: { priority: number };
};

/** A delivery marked for a new attempt in bulk, with what enqueueing it needs. */
export type MarkedDelivery = { id: string; destinationId: string; attemptCount: number; priority: number; retryPolicy: Prisma.JsonValue };

const CLAIMABLE = statusesThatCanBecome('delivering');
const CANCELLABLE = statusesThatCanBecome('cancelled');

type Settlement = { attempt: AttemptRecord; settlement: AttemptSettlement; destinationId: string };

/** A delivery to claim for an attempt by the worker of its destination's queue. */
type Claim = { deliveryId: string; destinationId: string };

/** A claim or a settlement, for the worker's combined writes. */
type AttemptWrite = { claim: Claim } | { settle: Settlement };

type ClaimRow = {
  id: string;
  organization_id: string;
  event_id: string;
  destination_id: string;
  attempt_count: number;
  previous_status: DeliveryStatus;
  manual_retry_at: Date | null;
  event_type: string;
  event_data: unknown;
  event_received_at: Date;
};

export class DeliveryRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  list(organizationId: string, filter: DeliveryFilter, limit: number): Promise<Delivery[]> {
    return this.prisma.delivery.findMany({
      where: {
        organizationId,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.destinationId ? { destinationId: filter.destinationId } : {}),
        ...(filter.eventId ? { eventId: filter.eventId } : {}),
        ...(filter.since || filter.until ? { createdAt: { gte: filter.since, lt: filter.until } } : {}),
        ...(filter.before !== undefined ? { id: { lt: filter.before } } : {}),
      },
      orderBy: { id: 'desc' },
      take: limit,
    });
  }

  find(organizationId: string, id: string): Promise<(Delivery & { attempts: Attempt[]; event: { priority: number } }) | null> {
    return this.prisma.delivery.findFirst({
      where: { id, organizationId },
      include: { attempts: { orderBy: { number: 'asc' } }, event: { select: { priority: true } } },
    });
  }

  /**
   * For a delivery with an ordering key: the earliest delivery of the same destination and key
   * that came before it and is not settled yet (it must go first), or null.
   */
  async orderingBlocker(id: string): Promise<{ id: string; status: DeliveryStatus; nextAttemptAt: Date | null } | null> {
    const rows = await this.database.sql<{ id: string; status: DeliveryStatus; next_attempt_at: Date | null }>(
      `SELECT p.id, p.status, p.next_attempt_at FROM deliveries d
       JOIN deliveries p ON p.destination_id = d.destination_id AND p.ordering_key = d.ordering_key AND p.ordering_seq < d.ordering_seq
       WHERE d.id = $1 AND d.ordering_key IS NOT NULL AND p.status IN ('pending', 'delivering', 'retrying')
       ORDER BY p.ordering_seq ASC LIMIT 1`,
      [id],
      'ordering-blocker',
    );
    const row = rows[0];
    return row ? { id: row.id, status: row.status, nextAttemptAt: row.next_attempt_at } : null;
  }

  /** The next open delivery after this one in its destination's order for its key, or null. */
  async nextInOrder(id: string): Promise<{ id: string; destinationId: string } | null> {
    const rows = await this.database.sql<{ id: string; destination_id: string }>(
      `SELECT s.id, s.destination_id FROM deliveries d
       JOIN deliveries s ON s.destination_id = d.destination_id AND s.ordering_key = d.ordering_key AND s.ordering_seq > d.ordering_seq
       WHERE d.id = $1 AND d.ordering_key IS NOT NULL AND s.status IN ('pending', 'retrying')
       ORDER BY s.ordering_seq ASC LIMIT 1`,
      [id],
      'next-in-order',
    );
    return rows[0] ? { id: rows[0].id, destinationId: rows[0].destination_id } : null;
  }

  /**
   * Starts attempt n+1 of a delivery: marks it `delivering` and takes the next attempt
   * number. Returns null when the delivery must not be sent: it is gone, cancelled, or already
   * delivered (a job run twice). The attempt is `manual` when an operator asked for it, or
   * retried a dead letter.
   */
  async claim(id: string, destinationId: string): Promise<ClaimedDelivery | null> {
    return this.attemptWrites.submit({ claim: { deliveryId: id, destinationId } });
  }

  /** The destination a delivery belongs to, if it exists. */
  async destinationOf(id: string): Promise<string | null> {
    const found = await this.prisma.delivery.findUnique({ where: { id }, select: { destinationId: true } });
    return found?.destinationId ?? null;
  }

  /**
   * Records the attempt and settles the delivery (and, when the receiver is gone, disables
   * its destination), atomically. A delivery no longer `delivering` (an operator asked for a
   * new attempt meanwhile) keeps its status: the attempt is recorded all the same.
   */
  async settleAttempt(attempt: AttemptRecord, settlement: AttemptSettlement, destinationId: string): Promise<void> {
    await this.attemptWrites.submit({ settle: { attempt, settlement, destinationId } });
  }

  /** Resolves once every claim and settlement submitted so far is written. */
  flush(): Promise<void> {
    return this.attemptWrites.idle();
  }

  /**
   * Claims and settlements that arrive together are written in one statement: one round trip
   * and one commit for all the attempts a worker starts and finishes meanwhile. If that
   * statement fails for a reason other than an unreachable database, each is written alone,
   * so one bad write fails alone.
   */
  private readonly attemptWrites = new Batcher<AttemptWrite, ClaimedDelivery | null>((batch) => writeTogetherOrAlone(batch, (some) => this.writeAttempts(some)));

  private async writeAttempts(batch: readonly AttemptWrite[]): Promise<(ClaimedDelivery | null)[]> {
    const settlements = batch.flatMap((write) => ('settle' in write ? [write.settle] : []));
    const settled = new Set(settlements.map((one) => one.attempt.deliveryId));
    const claims = batch.flatMap((write) => ('claim' in write ? [write.claim] : []));
    // A delivery settled and claimed together (a job run twice) is claimed after the settlement.
    const rows = await this.writeStatement(settlements, claims.filter((claim) => !settled.has(claim.deliveryId)));
    const later = claims.filter((claim) => settled.has(claim.deliveryId));
    if (later.length > 0) rows.push(...(await this.writeStatement([], later)));
    const byId = new Map(rows.map((row) => [row.id, row]));
    return batch.map((write) => {
      if (!('claim' in write)) return null;
      const row = byId.get(write.claim.deliveryId);
      // The same delivery twice in one batch (a job run twice) is claimed once.
      byId.delete(write.claim.deliveryId);
      if (!row) return null;
      return {
        id: row.id,
        organizationId: row.organization_id,
        eventId: row.event_id,
        destinationId: row.destination_id,
        attemptNumber: row.attempt_count,
        trigger: row.manual_retry_at !== null || row.previous_status === 'failed' ? ('manual' as const) : ('scheduled' as const),
        event: { id: row.event_id, type: row.event_type, data: row.event_data, receivedAt: row.event_received_at },
      };
    });
  }

  /**
   * One statement: records the attempts and settles their deliveries, then claims the
   * deliveries of `claims` (those in a claimable status, and only of the destination whose
   * queue asks: a job placed on another destination's queue claims nothing) and returns them
   * with their events.
   */
  private writeStatement(settlements: Settlement[], claims: Claim[]): Promise<ClaimRow[]> {
    const column = <T>(pick: (one: Settlement) => T) => settlements.map(pick);
    return this.database.sql<ClaimRow>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamp[], $6::int[], $7::int[], $8::text[], $9::text[],
                              $10::text[], $11::timestamp[], $12::text[], $13::text[], $14::text[], $18::text[])
           AS i(attempt_id, delivery_id, number, trigger, started_at, duration_ms, status_code, response_body, error,
                status, next_attempt_at, last_error, disable_reason, destination_id, outcome)
       ), recorded AS (
         INSERT INTO attempts (id, delivery_id, number, trigger, started_at, duration_ms, outcome, status_code, response_body, error)
         SELECT attempt_id, delivery_id, number, trigger::"AttemptTrigger", started_at, duration_ms, outcome::"AttemptOutcome",
                status_code, response_body, error FROM input
       ), settled AS (
         UPDATE deliveries d
         SET status = i.status::"DeliveryStatus", next_attempt_at = i.next_attempt_at, last_error = i.last_error,
             last_status_code = i.status_code, updated_at = now()
         FROM input i WHERE d.id = i.delivery_id AND d.status = 'delivering'
       ), disabled AS (
         UPDATE destinations dst SET enabled = false, disabled_reason = i.disable_reason, updated_at = now()
         FROM input i WHERE dst.id = i.destination_id AND i.disable_reason IS NOT NULL
       ), old AS (
         SELECT d.id, d.status, d.manual_retry_at
         FROM deliveries d JOIN unnest($15::text[], $17::text[]) AS c(id, destination_id) ON d.id = c.id AND d.destination_id = c.destination_id
         ORDER BY d.id FOR UPDATE OF d
       ), claimed AS (
         UPDATE deliveries d
         SET status = 'delivering', attempt_count = d.attempt_count + 1, manual_retry_at = NULL,
             next_attempt_at = NULL, updated_at = now()
         FROM old
         WHERE d.id = old.id AND old.status::text = ANY($16::text[])
         RETURNING d.id, d.organization_id, d.event_id, d.destination_id, d.attempt_count,
                   old.status AS previous_status, old.manual_retry_at
       )
       SELECT c.*, e.type AS event_type, e.data AS event_data, e.received_at AS event_received_at
       FROM claimed c JOIN events e ON e.organization_id = c.organization_id AND e.id = c.event_id`,
      [
        column((one) => one.attempt.id),
        column((one) => one.attempt.deliveryId),
        column((one) => one.attempt.number),
        column((one) => one.attempt.trigger),
        column((one) => one.attempt.startedAt.toISOString()),
        column((one) => one.attempt.durationMs),
        column((one) => one.attempt.statusCode),
        column((one) => one.attempt.responseBody),
        column((one) => one.attempt.error),
        column((one) => one.settlement.status),
        column((one) => one.settlement.nextAttemptAt?.toISOString() ?? null),
        column((one) => one.settlement.lastError),
        column((one) => one.settlement.disableDestination ?? null),
        column((one) => one.destinationId),
        claims.map((claim) => claim.deliveryId),
        CLAIMABLE,
        claims.map((claim) => claim.destinationId),
        column((one) => one.attempt.outcome),
      ],
      'write-attempts',
    );
  }

  /** Marks the delivery for an attempt now, made by an operator (`trigger: manual`). */
  async requestManualRetry(id: string, now: Date): Promise<Delivery> {
    return this.prisma.delivery.update({
      where: { id },
      data: { manualRetryAt: now, status: 'pending', nextAttemptAt: now },
    });
  }

  async countSelected(selection: DeliverySelection): Promise<number> {
    const [row] = await this.prisma.$queryRaw<{ count: bigint }[]>`SELECT count(*) AS count FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)}`;
    return Number(row.count);
  }

  /**
   * Marks every selected delivery for a manual attempt now, as part of replay `replayId`, and
   * records the replay, in one transaction. Returns the marked deliveries.
   */
  async markForReplay(selection: DeliverySelection, replay: { id: string; createdBy: string; filter: Prisma.InputJsonObject }): Promise<MarkedDelivery[]> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ id: string; destination_id: string; attempt_count: number; priority: number; retry_policy: Prisma.JsonValue }[]>`
        UPDATE deliveries AS marked
        SET status = 'pending', manual_retry_at = now(), next_attempt_at = now(), replay_id = ${replay.id}, updated_at = now()
        FROM (SELECT d.id, e.priority, dst.retry_policy FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)} FOR UPDATE OF d) AS selected
        WHERE marked.id = selected.id
        RETURNING marked.id, marked.destination_id, marked.attempt_count, selected.priority, selected.retry_policy`;
      await tx.replay.create({
        data: { id: replay.id, organizationId: selection.organizationId, filter: replay.filter, total: rows.length, createdBy: replay.createdBy },
      });
      return rows.map((row) => ({
        id: row.id,
        destinationId: row.destination_id,
        attemptCount: row.attempt_count,
        priority: row.priority,
        retryPolicy: row.retry_policy,
      }));
    });
  }

  /** Cancels the selected deliveries that are not in flight or delivered; returns them. */
  async cancelSelected(selection: DeliverySelection): Promise<{ id: string; destinationId: string }[]> {
    const rows = await this.prisma.$queryRaw<{ id: string; destination_id: string }[]>`
      UPDATE deliveries AS cancelled SET status = 'cancelled', next_attempt_at = NULL, manual_retry_at = NULL, updated_at = now()
      FROM (SELECT d.id FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)} FOR UPDATE OF d) AS selected
      WHERE cancelled.id = selected.id AND cancelled.status::text IN (${Prisma.join(CANCELLABLE)})
      RETURNING cancelled.id, cancelled.destination_id`;
    return rows.map((row) => ({ id: row.id, destinationId: row.destination_id }));
  }

  /** Progress of a replay: how many of its deliveries are in each status. */
  async replayProgress(replayId: string): Promise<Partial<Record<DeliveryStatus, number>>> {
    const rows = await this.prisma.delivery.groupBy({ by: ['status'], where: { replayId }, _count: { _all: true } });
    return Object.fromEntries(rows.map((row) => [row.status, row._count._all]));
  }

  /** Destinations that have work due before `horizon`, for the worker's supervisor. */
  async destinationsWithWorkDue(horizon: Date): Promise<string[]> {
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
  openDeliveriesOf(destinationId: string): Promise<(Pick<Delivery, 'id' | 'nextAttemptAt' | 'attemptCount'> & { event: { priority: number } })[]> {
    return this.prisma.delivery.findMany({
      where: { destinationId, status: { in: ['pending', 'retrying'] } },
      select: { id: true, nextAttemptAt: true, attemptCount: true, event: { select: { priority: true } } },
      orderBy: { id: 'asc' },
    });
  }
}
