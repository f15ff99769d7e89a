import type { ResponseWindows } from '@dispatch/domain';
import type { Database } from './prisma';

/** What the worker keeps about a destination's attempts (see the `health` part of `AttemptRepository.writeStatement`). */
export type DestinationHealthRecord = ResponseWindows & {
  destinationId: string;
  consecutiveFailures: number;
  totalDeliveries: number;
  totalFailures: number;
  /** Average duration of every attempt made; null before the first. */
  averageResponseMs: number | null;
  failingSince: Date | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastCheckAt: Date | null;
};

/** A destination disabled because every attempt failed for too long. */
export type AutoDisabledDestination = {
  id: string;
  organizationId: string;
  name: string;
  kind: string;
  eventTypes: string[];
  disabledReason: string;
  disabledAt: Date;
  failingSince: Date;
};

/** The statuses of a delivery not yet settled: its backlog. */
export type OpenDeliveryStatus = 'pending' | 'delivering' | 'retrying';

/** A destination failing now, and its failures in a row. */
export type FailingDestination = { destinationId: string; consecutiveFailures: number };

type HealthRow = {
  destination_id: string;
  consecutive_failures: number;
  total_deliveries: bigint;
  total_failures: bigint;
  total_response_ms: bigint;
  failing_since: Date | null;
  last_success_at: Date | null;
  last_failure_at: Date | null;
  last_check_at: Date | null;
  window_started_at: Date | null;
  window_attempts: number;
  window_response_ms: bigint;
  previous_window_attempts: number;
  previous_window_response_ms: bigint;
};

/** The health of a destination never attempted (it has no row yet). */
export function noHealthYet(destinationId: string): DestinationHealthRecord {
  return {
    destinationId,
    consecutiveFailures: 0,
    totalDeliveries: 0,
    totalFailures: 0,
    averageResponseMs: null,
    failingSince: null,
    lastSuccessAt: null,
    lastFailureAt: null,
    lastCheckAt: null,
    windowStartedAt: null,
    windowAttempts: 0,
    windowResponseMs: 0,
    previousWindowAttempts: 0,
    previousWindowResponseMs: 0,
  };
}

function healthRecord(row: HealthRow): DestinationHealthRecord {
  const total = Number(row.total_deliveries);
  return {
    destinationId: row.destination_id,
    consecutiveFailures: row.consecutive_failures,
    totalDeliveries: total,
    totalFailures: Number(row.total_failures),
    averageResponseMs: total > 0 ? Math.round(Number(row.total_response_ms) / total) : null,
    failingSince: row.failing_since,
    lastSuccessAt: row.last_success_at,
    lastFailureAt: row.last_failure_at,
    lastCheckAt: row.last_check_at,
    windowStartedAt: row.window_started_at,
    windowAttempts: row.window_attempts,
    windowResponseMs: Number(row.window_response_ms),
    previousWindowAttempts: row.previous_window_attempts,
    previousWindowResponseMs: Number(row.previous_window_response_ms),
  };
}

/**
 * Reads destination health for the API (a page of destinations in one query), counts a
 * destination's backlog, and disables destinations whose attempts have all failed for too long.
 * The rows themselves are written by the worker with the attempts (AttemptRepository).
 */
export class DestinationHealthRepository {
  constructor(private readonly database: Database) {}

  /** The health of each destination of `ids`, in one query; a destination never attempted gets `noHealthYet`. */
  async find(ids: readonly string[]): Promise<Map<string, DestinationHealthRecord>> {
    const rows =
      ids.length === 0 ? [] : await this.database.sql<HealthRow>('SELECT * FROM destination_health WHERE destination_id = ANY($1::text[])', [ids], 'destination-health');
    const found = new Map(rows.map((row) => [row.destination_id, healthRecord(row)]));
    return new Map(ids.map((id) => [id, found.get(id) ?? noHealthYet(id)]));
  }

  /** Open deliveries of the destination (pending, delivering or retrying), counted on the (destination_id, status) index. */
  async backlog(destinationId: string): Promise<number> {
    const [row] = await this.database.sql<{ count: bigint }>(
      `SELECT count(*) AS count FROM deliveries WHERE destination_id = $1 AND status IN ('pending', 'delivering', 'retrying')`,
      [destinationId],
      'destination-backlog',
    );
    return Number(row.count);
  }

  /**
   * Open deliveries of every destination by status (a status without any: 0), for the
   * `dispatch_deliveries_backlog` gauge: one count over the (status, next_attempt_at) index.
   */
  async backlogByStatus(): Promise<Record<OpenDeliveryStatus, number>> {
    const rows = await this.database.sql<{ status: OpenDeliveryStatus; count: number }>(
      `SELECT status::text AS status, count(*)::int AS count FROM deliveries WHERE status IN ('pending', 'delivering', 'retrying') GROUP BY status`,
      [],
      'backlog-by-status',
    );
    const counts: Record<OpenDeliveryStatus, number> = { pending: 0, delivering: 0, retrying: 0 };
    for (const row of rows) counts[row.status] = row.count;
    return counts;
  }

  /**
   * The `limit` destinations with the most failures in a row among those with a failed attempt
   * at `since` or later, most first (ties by id): one read of the health rows (one per
   * destination), whatever the rate of attempts.
   */
  async mostConsecutiveFailures(since: Date, limit: number): Promise<FailingDestination[]> {
    const rows = await this.database.sql<{ destination_id: string; consecutive_failures: number }>(
      `SELECT destination_id, consecutive_failures FROM destination_health
       WHERE consecutive_failures > 0 AND last_failure_at >= $1::timestamp
       ORDER BY consecutive_failures DESC, destination_id LIMIT $2`,
      [since.toISOString(), limit],
      'most-consecutive-failures',
    );
    return rows.map((row) => ({ destinationId: row.destination_id, consecutiveFailures: row.consecutive_failures }));
  }

  /**
   * Disables, with `reason`, every enabled destination whose attempts have all failed since
   * `cutoff` or earlier (its failure streak began then and no success came since), and returns
   * them. One statement over the health rows (one per destination).
   */
  async disableFailingSince(cutoff: Date, reason: string): Promise<AutoDisabledDestination[]> {
    const rows = await this.database.sql<{
      id: string;
      organization_id: string;
      name: string;
      kind: string;
      event_types: string[];
      disabled_at: Date;
      failing_since: Date;
    }>(
      `UPDATE destinations d SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
       FROM destination_health h
       WHERE h.destination_id = d.id AND d.enabled AND h.consecutive_failures > 0 AND h.failing_since <= $1::timestamp
       RETURNING d.id, d.organization_id, d.name, d.kind, d.event_types, d.disabled_at, h.failing_since`,
      [cutoff.toISOString(), reason],
    );
    return rows.map((row) => ({
      id: row.id,
      organizationId: row.organization_id,
      name: row.name,
      kind: row.kind,
      eventTypes: row.event_types,
      disabledReason: reason,
      disabledAt: row.disabled_at,
      failingSince: row.failing_since,
    }));
  }

  /**
   * A destination enabled again gets a new period before auto-disable: its failure streak
   * counts from its next failed attempt (the streak's length stays as it was).
   */
  async restartFailureClock(destinationId: string): Promise<void> {
    await this.database.sql('UPDATE destination_health SET failing_since = NULL WHERE destination_id = $1 AND failing_since IS NOT NULL', [destinationId]);
  }
}
