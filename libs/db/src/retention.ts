import type { Database, PrismaClient } from './prisma';

/** Where a retention pass over one organization's events stopped: the last event it looked at. */
export type RetentionCursor = Readonly<{ receivedAt: Date; eventId: string }>;

/** The start of an organization's events, for the first batch of a pass. */
export const RETENTION_START: RetentionCursor = { receivedAt: new Date(0), eventId: '' };

export type DeadLetter = Readonly<{ id: string; destinationId: string }>;

export type RetentionBatch = Readonly<{
  /** Events older than the cutoff looked at (at most the batch size); fewer than asked: the pass reached the end. */
  scanned: number;
  removed: Readonly<{ events: number; deliveries: number; attempts: number }>;
  /** The removed deliveries that were dead letters (`failed`): their failed jobs are still in their destinations' queues. */
  deadLetters: readonly DeadLetter[];
  /** The last event looked at, where the next batch goes on; null when none was. */
  next: RetentionCursor | null;
}>;

/**
 * Removes history older than the retention period, one small transaction at a time. What goes:
 * an event received before the cutoff whose deliveries are all settled (delivered, failed or
 * cancelled) and unchanged since the cutoff, with its deliveries and their attempts; a replay
 * made before the cutoff none of whose deliveries is open or changed since. Open work, and
 * history an operator touched within the period (a manual retry, a replay), is kept. Audit
 * entries and ordering keys are never removed here. The database has no foreign keys
 * (relationMode prisma), so each statement removes attempts, deliveries and events together.
 */
export class RetentionRepository {
  private readonly prisma: PrismaClient;

  constructor(database: Database) {
    this.prisma = database.prisma;
  }

  async organizationIds(): Promise<string[]> {
    const rows = await this.prisma.organization.findMany({ select: { id: true }, orderBy: { id: 'asc' } });
    return rows.map((row) => row.id);
  }

  /**
   * One batch: looks at up to `limit` of the organization's events received before `cutoff`,
   * after `after` in (received_at, id) order, along the (organization_id, received_at) index,
   * and removes those with nothing open or recent in one statement. Their deliveries are
   * locked (FOR UPDATE) before they are judged, so a delivery an operator reopens at the same
   * moment either keeps its event or finds it gone; the locks last this one statement.
   */
  async removeEvents(organizationId: string, cutoff: Date, after: RetentionCursor, limit: number): Promise<RetentionBatch> {
    const rows = await this.prisma.$queryRaw<
      {
        scanned: bigint;
        events: bigint;
        deliveries: bigint;
        attempts: bigint;
        dead_letters: DeadLetter[];
        last_received_at: Date | null;
        last_id: string | null;
      }[]
    >`
      WITH candidates AS (
        SELECT e.id, e.received_at FROM events e
        WHERE e.organization_id = ${organizationId} AND e.received_at < ${cutoff}
          AND (e.received_at, e.id) > (${after.receivedAt}, ${after.eventId})
        ORDER BY e.received_at, e.id
        LIMIT ${limit}
      ), their_deliveries AS (
        SELECT d.id, d.event_id, d.status, d.updated_at FROM deliveries d
        WHERE d.organization_id = ${organizationId} AND d.event_id IN (SELECT id FROM candidates)
        FOR UPDATE
      ), removable AS (
        SELECT c.id FROM candidates c
        WHERE NOT EXISTS (
          SELECT 1 FROM their_deliveries d
          WHERE d.event_id = c.id AND (d.status IN ('pending', 'delivering', 'retrying') OR d.updated_at >= ${cutoff})
        )
      ), removed_attempts AS (
        DELETE FROM attempts a USING their_deliveries d
        WHERE a.delivery_id = d.id AND d.event_id IN (SELECT id FROM removable)
        RETURNING a.id
      ), removed_deliveries AS (
        DELETE FROM deliveries x USING their_deliveries d
        WHERE x.id = d.id AND d.event_id IN (SELECT id FROM removable)
        RETURNING x.id, x.destination_id, x.status
      ), removed_events AS (
        DELETE FROM events e
        WHERE e.organization_id = ${organizationId} AND e.id IN (SELECT id FROM removable)
        RETURNING e.id
      ), last AS (
        SELECT received_at, id FROM candidates ORDER BY received_at DESC, id DESC LIMIT 1
      )
      SELECT (SELECT count(*) FROM candidates) AS scanned,
             (SELECT count(*) FROM removed_events) AS events,
             (SELECT count(*) FROM removed_deliveries) AS deliveries,
             (SELECT count(*) FROM removed_attempts) AS attempts,
             (SELECT coalesce(json_agg(json_build_object('id', id, 'destinationId', destination_id)), '[]'::json)
              FROM removed_deliveries WHERE status = 'failed') AS dead_letters,
             (SELECT received_at FROM last) AS last_received_at,
             (SELECT id FROM last) AS last_id`;
    const row = rows[0];
    return {
      scanned: Number(row.scanned),
      removed: { events: Number(row.events), deliveries: Number(row.deliveries), attempts: Number(row.attempts) },
      deadLetters: row.dead_letters,
      next: row.last_received_at && row.last_id !== null ? { receivedAt: row.last_received_at, eventId: row.last_id } : null,
    };
  }

  /**
   * Removes up to `limit` of the organization's replays made before `cutoff` none of whose
   * deliveries is open or changed since (a replay's progress is read from its deliveries);
   * returns how many.
   */
  async removeReplays(organizationId: string, cutoff: Date, limit: number): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM replays WHERE id IN (
        SELECT r.id FROM replays r
        WHERE r.organization_id = ${organizationId} AND r.created_at < ${cutoff}
          AND NOT EXISTS (
            SELECT 1 FROM deliveries d
            WHERE d.replay_id = r.id AND (d.status IN ('pending', 'delivering', 'retrying') OR d.updated_at >= ${cutoff})
          )
        ORDER BY r.created_at
        LIMIT ${limit}
      )`;
  }
}
