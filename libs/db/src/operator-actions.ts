import { statusesThatCanBecome } from '@dispatch/domain';
import { DeliverySelection, SELECTION_FROM, selectionCondition } from './delivery-selection';
import { nextInOrder } from './ordering';
import { Prisma } from './prisma';
import type { Database, Delivery, PrismaClient } from './prisma';

/** A delivery marked for a new attempt in bulk, with what enqueueing it needs. */
export type MarkedDelivery = { id: string; destinationId: string; attemptCount: number; priority: number; retryPolicy: Prisma.JsonValue };

const CANCELLABLE = statusesThatCanBecome('cancelled');

/** What a selection holds: its deliveries, the bytes of their events' data, and their destinations. */
export type SelectionPreview = { count: number; bytes: number; destinations: { id: string; name: string; count: number }[] };

/**
 * What an operator does to deliveries through the API: retry one now, replay a selection,
 * cancel one or a selection (and count a selection first, for a dry run). A selection is SQL
 * built per request (`delivery-selection.ts`) and runs at an operator's pace: `$queryRaw`.
 */
export class OperatorActions {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  /** Marks the delivery for an attempt now, made by an operator (`trigger: manual`). */
  async requestManualRetry(id: string, now: Date): Promise<Delivery> {
    return this.prisma.delivery.update({
      where: { id },
      data: { manualRetryAt: now, status: 'pending', nextAttemptAt: now, failureCategory: null },
    });
  }

  async countSelected(selection: DeliverySelection): Promise<number> {
    const [row] = await this.prisma.$queryRaw<{ count: bigint }[]>`SELECT count(*) AS count FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)}`;
    return Number(row.count);
  }

  /**
   * What a replay of the selection would touch (its dry run): how many deliveries, the sum of
   * the sizes of their events' data (as JSON text: what `dataBytes` of an event says), and the
   * destinations they belong to, most deliveries first.
   */
  async previewSelected(selection: DeliverySelection): Promise<SelectionPreview> {
    const rows = await this.prisma.$queryRaw<{ id: string; name: string; count: number; bytes: bigint }[]>`
      SELECT d.destination_id AS id, dst.name, count(*)::int AS count, coalesce(sum(octet_length(e.data::text)), 0)::bigint AS bytes
      FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)}
      GROUP BY d.destination_id, dst.name ORDER BY count(*) DESC, d.destination_id`;
    return {
      count: rows.reduce((sum, row) => sum + row.count, 0),
      bytes: rows.reduce((sum, row) => sum + Number(row.bytes), 0),
      destinations: rows.map((row) => ({ id: row.id, name: row.name, count: row.count })),
    };
  }

  /**
   * Marks every selected delivery for a manual attempt now, as part of replay `replayId`, and
   * records the replay, in one transaction. Returns the marked deliveries.
   */
  async markForReplay(selection: DeliverySelection, replay: { id: string; createdBy: string; filter: Prisma.InputJsonObject }): Promise<MarkedDelivery[]> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ id: string; destination_id: string; attempt_count: number; priority: number; retry_policy: Prisma.JsonValue }[]>`
        UPDATE deliveries AS marked
        SET status = 'pending', manual_retry_at = now(), next_attempt_at = now(), replay_id = ${replay.id}, failure_category = NULL, updated_at = now()
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
      UPDATE deliveries AS cancelled SET status = 'cancelled', next_attempt_at = NULL, manual_retry_at = NULL, failure_category = NULL, updated_at = now()
      FROM (SELECT d.id FROM ${SELECTION_FROM} WHERE ${selectionCondition(selection)} FOR UPDATE OF d) AS selected
      WHERE cancelled.id = selected.id AND cancelled.status::text IN (${Prisma.join(CANCELLABLE)})
      RETURNING cancelled.id, cancelled.destination_id`;
    return rows.map((row) => ({ id: row.id, destinationId: row.destination_id }));
  }

  /** The next open delivery after a cancelled one in its destination's order for its key, or null: it may go now. */
  nextInOrder(id: string): Promise<{ id: string; destinationId: string } | null> {
    return nextInOrder(this.database, id);
  }
}
