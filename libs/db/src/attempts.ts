import { AttemptHealth, FailureCategory, statusesThatCanBecome } from '@dispatch/domain';
import { sharedSpan, SpanKind } from '@dispatch/telemetry';
import { Batcher, writeTogetherOrAlone } from './batcher';
import { nextInOrder, orderingBlocker } from './ordering';
import type { Database, DeliveryStatus, PrismaClient } from './prisma';

/** A delivery claimed for one attempt, with what the sender needs from its event. */
export type ClaimedDelivery = {
  id: string;
  organizationId: string;
  eventId: string;
  destinationId: string;
  attemptNumber: number;
  trigger: 'scheduled' | 'manual';
  event: { id: string; type: string; data: unknown; receivedAt: Date };
  /** The event's correlation id, for the attempt's log lines. */
  correlationId: string | null;
  /** What the claim changed, so a claim released unused (see `release`) puts it back. */
  claimedFrom: { status: DeliveryStatus; manualRetryAt: Date | null; nextAttemptAt: Date | null };
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
  /** What the attempt counts as in its destination's health (a throttled answer is no failure). */
  health: AttemptHealth;
  /** Why the delivery failed for good (status `failed`); null (or absent) otherwise. */
  failureCategory?: FailureCategory | null;
};

const CLAIMABLE = statusesThatCanBecome('delivering');

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
  previous_next_attempt_at: Date | null;
  event_type: string;
  event_data: unknown;
  event_received_at: Date;
  event_correlation_id: string | null;
};

/**
 * The worker's side of an attempt: whether a delivery may go now (its ordering key), the claim
 * that starts the attempt, and the record that settles it. Every job runs these, so they are
 * named statements written in groups (see `writeStatement`).
 */
export class AttemptRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  /**
   * For a delivery with an ordering key: the earliest delivery of the same destination and key
   * that came before it and is not settled yet (it must go first), or null.
   */
  orderingBlocker(id: string): Promise<{ id: string; status: DeliveryStatus; nextAttemptAt: Date | null } | null> {
    return orderingBlocker(this.database, id);
  }

  /** The next open delivery after this one in its destination's order for its key, or null. */
  nextInOrder(id: string): Promise<{ id: string; destinationId: string } | null> {
    return nextInOrder(this.database, id);
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

  /**
   * Undoes a claim whose attempt was never made (its worker closed while the job waited for an
   * attempt slot): the delivery gets back its status, attempt count and schedule, so its next
   * claim makes the same attempt number. Only while nothing else claimed or settled it since.
   */
  async release(claimed: ClaimedDelivery): Promise<void> {
    const { status, manualRetryAt, nextAttemptAt } = claimed.claimedFrom;
    await this.database.sql(
      `UPDATE deliveries SET status = $2::"DeliveryStatus", attempt_count = attempt_count - 1, manual_retry_at = $3::timestamp,
              next_attempt_at = $4::timestamp, updated_at = now()
       WHERE id = $1 AND status = 'delivering' AND attempt_count = $5`,
      [claimed.id, status, manualRetryAt?.toISOString() ?? null, nextAttemptAt?.toISOString() ?? null, claimed.attemptNumber],
    );
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
   * so one bad write fails alone. When tracing, the statement is an `UPDATE deliveries` span: the
   * child of the attempt's span when it writes for that attempt alone, else linked to each.
   */
  private readonly attemptWrites = new Batcher<AttemptWrite, ClaimedDelivery | null>((batch, callers) =>
    sharedSpan(
      'UPDATE deliveries',
      callers,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'postgresql',
          'db.operation.name': 'UPDATE',
          'db.collection.name': 'deliveries',
          ...(batch.length > 1 ? { 'db.operation.batch.size': batch.length } : {}),
        },
      },
      () => writeTogetherOrAlone(batch, (some) => this.writeAttempts(some)),
    ),
  );

  private async writeAttempts(batch: readonly AttemptWrite[]): Promise<(ClaimedDelivery | null)[]> {
    const settlements = batch.flatMap((write) => ('settle' in write ? [write.settle] : []));
    const settled = new Set(settlements.map((one) => one.attempt.deliveryId));
    const claims = batch.flatMap((write) => ('claim' in write ? [write.claim] : []));
    // A delivery settled and claimed together (a job run twice) is claimed after the settlement,
    // in a second statement: the parts of one statement all see the rows as they were before it,
    // and PostgreSQL does not support updating one row twice in one statement.
    const rows = await this.writeStatement(
      settlements,
      claims.filter((claim) => !settled.has(claim.deliveryId)),
    );
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
        correlationId: row.event_correlation_id,
        claimedFrom: { status: row.previous_status, manualRetryAt: row.manual_retry_at, nextAttemptAt: row.previous_next_attempt_at },
      };
    });
  }

  /**
   * One statement: records the attempts and settles their deliveries, then claims the
   * deliveries of `claims` (those in a claimable status, and only of the destination whose
   * queue asks: a job placed on another destination's queue claims nothing) and returns them
   * with their events.
   *
   * Why it is shaped so:
   * - One statement, so one round trip and one commit for the whole group, and a settlement is
   *   never half written (attempt without status, or the reverse).
   * - The group comes as parallel arrays, one per column, read with `unnest`: a group of any
   *   size is the same text, so it is one named statement, parsed once per connection (a name
   *   must always go with the same text). Timestamps go as ISO strings (see `Database.sql`).
   * - `settled` changes only a delivery still `delivering`: when an operator asked for a new
   *   attempt meanwhile, their retry wins (the delivery stays `pending`, marked for a manual
   *   attempt) and this attempt is recorded all the same.
   * - `settled` writes the delivery's failure category with its status: the dead letter's
   *   category, null otherwise (and `claimed` clears it: a dead letter attempted again is no
   *   longer one).
   * - `disabled`: a receiver that answered gone disables its destination in the same commit as
   *   the attempt that learned it.
   * - `health`: each destination of the group gets its health row brought up to date (created on
   *   its first attempt) from the group's attempts, aggregated per destination here, so health
   *   costs no round trip of its own. The failure streak follows the group's order (`ord`): a
   *   success ends it, failures after the group's last success carry it on, throttled attempts
   *   neither. Rows are written in destination id order, so two worker processes writing the
   *   same destinations wait for each other instead of deadlocking. Response times go to the
   *   15-minute window of the statement's time (see `recentAverageResponseMs` in the domain).
   * - `old` reads the status, `manual_retry_at` and `next_attempt_at` the claim is about to
   *   change (`RETURNING` gives only the new values; the old ones make the attempt `manual`, and
   *   let a claim left unused be released). `FOR UPDATE` takes
   *   each row's latest version and holds it to the commit; `ORDER BY d.id` takes those locks
   *   in one order, so statements claiming the same deliveries (a job run twice, two worker
   *   processes) wait for each other instead of deadlocking.
   * - Every row it touches is found by a key from the group's values, so it runs with
   *   `sqlByKey`: planned once per connection, not at each execution (its planning would cost
   *   as much as running it; see `createDatabase` in prisma.ts).
   */
  private writeStatement(settlements: Settlement[], claims: Claim[]): Promise<ClaimRow[]> {
    const column = <T>(pick: (one: Settlement) => T) => settlements.map(pick);
    return this.database.sqlByKey<ClaimRow>(
      `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamp[], $6::int[], $7::int[], $8::text[], $9::text[],
                              $10::text[], $11::timestamp[], $12::text[], $13::text[], $14::text[], $18::text[], $19::text[], $20::text[])
           WITH ORDINALITY AS i(attempt_id, delivery_id, number, trigger, started_at, duration_ms, status_code, response_body, error,
                status, next_attempt_at, last_error, disable_reason, destination_id, outcome, health, failure_category, ord)
       ), recorded AS (
         INSERT INTO attempts (id, delivery_id, number, trigger, started_at, duration_ms, outcome, status_code, response_body, error)
         SELECT attempt_id, delivery_id, number, trigger::"AttemptTrigger", started_at, duration_ms, outcome::"AttemptOutcome",
                status_code, response_body, error FROM input
       ), settled AS (
         UPDATE deliveries d
         SET status = i.status::"DeliveryStatus", next_attempt_at = i.next_attempt_at, last_error = i.last_error,
             last_status_code = i.status_code, failure_category = i.failure_category::"FailureCategory", updated_at = now()
         FROM input i WHERE d.id = i.delivery_id AND d.status = 'delivering'
       ), disabled AS (
         UPDATE destinations dst SET enabled = false, disabled_reason = i.disable_reason, disabled_at = now(), updated_at = now()
         FROM input i WHERE dst.id = i.destination_id AND i.disable_reason IS NOT NULL
       ), health_input AS (
         SELECT destination_id, health, started_at, duration_ms, ord,
                max(ord) FILTER (WHERE health = 'success') OVER (PARTITION BY destination_id) AS last_success_ord
         FROM input
       ), health_change AS (
         SELECT destination_id,
                count(*) AS attempts,
                count(*) FILTER (WHERE health = 'failure') AS failures,
                count(*) FILTER (WHERE health = 'failure' AND ord > coalesce(last_success_ord, 0)) AS trailing_failures,
                min(started_at) FILTER (WHERE health = 'failure' AND ord > coalesce(last_success_ord, 0)) AS trailing_failing_since,
                coalesce(sum(duration_ms), 0) AS response_ms,
                max(started_at) FILTER (WHERE health = 'success') AS last_success_at,
                max(started_at) FILTER (WHERE health = 'failure') AS last_failure_at,
                max(started_at) AS last_check_at,
                date_bin('15 minutes', localtimestamp, timestamp '2000-01-01') AS window_started_at
         FROM health_input GROUP BY destination_id ORDER BY destination_id
       ), health AS (
         INSERT INTO destination_health AS h (destination_id, consecutive_failures, total_deliveries, total_failures, total_response_ms, failing_since,
                                              last_success_at, last_failure_at, last_check_at, window_started_at, window_attempts, window_response_ms)
         SELECT destination_id, trailing_failures, attempts, failures, response_ms, trailing_failing_since,
                last_success_at, last_failure_at, last_check_at, window_started_at, attempts, response_ms
         FROM health_change
         ON CONFLICT (destination_id) DO UPDATE SET
           consecutive_failures = CASE WHEN excluded.last_success_at IS NOT NULL THEN excluded.consecutive_failures
                                       ELSE h.consecutive_failures + excluded.consecutive_failures END,
           failing_since = CASE WHEN excluded.last_success_at IS NOT NULL THEN excluded.failing_since ELSE coalesce(h.failing_since, excluded.failing_since) END,
           total_deliveries = h.total_deliveries + excluded.total_deliveries,
           total_failures = h.total_failures + excluded.total_failures,
           total_response_ms = h.total_response_ms + excluded.total_response_ms,
           last_success_at = greatest(h.last_success_at, excluded.last_success_at),
           last_failure_at = greatest(h.last_failure_at, excluded.last_failure_at),
           last_check_at = greatest(h.last_check_at, excluded.last_check_at),
           window_attempts = CASE WHEN h.window_started_at >= excluded.window_started_at THEN h.window_attempts + excluded.window_attempts
                                  ELSE excluded.window_attempts END,
           window_response_ms = CASE WHEN h.window_started_at >= excluded.window_started_at THEN h.window_response_ms + excluded.window_response_ms
                                     ELSE excluded.window_response_ms END,
           previous_window_attempts = CASE WHEN h.window_started_at >= excluded.window_started_at THEN h.previous_window_attempts
                                           WHEN h.window_started_at = excluded.window_started_at - interval '15 minutes' THEN h.window_attempts ELSE 0 END,
           previous_window_response_ms = CASE WHEN h.window_started_at >= excluded.window_started_at THEN h.previous_window_response_ms
                                              WHEN h.window_started_at = excluded.window_started_at - interval '15 minutes' THEN h.window_response_ms ELSE 0 END,
           window_started_at = greatest(h.window_started_at, excluded.window_started_at)
       ), old AS (
         SELECT d.id, d.status, d.manual_retry_at, d.next_attempt_at
         FROM deliveries d JOIN unnest($15::text[], $17::text[]) AS c(id, destination_id) ON d.id = c.id AND d.destination_id = c.destination_id
         ORDER BY d.id FOR UPDATE OF d
       ), claimed AS (
         UPDATE deliveries d
         SET status = 'delivering', attempt_count = d.attempt_count + 1, manual_retry_at = NULL,
             next_attempt_at = NULL, failure_category = NULL, updated_at = now()
         FROM old
         WHERE d.id = old.id AND old.status::text = ANY($16::text[])
         RETURNING d.id, d.organization_id, d.event_id, d.destination_id, d.attempt_count,
                   old.status AS previous_status, old.manual_retry_at, old.next_attempt_at AS previous_next_attempt_at
       )
       SELECT c.*, e.type AS event_type, e.data AS event_data, e.received_at AS event_received_at, e.correlation_id AS event_correlation_id
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
        column((one) => one.settlement.health),
        column((one) => one.settlement.failureCategory ?? null),
      ],
      'write-attempts',
    );
  }
}
