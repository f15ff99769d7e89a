import { Injectable, Logger } from '@nestjs/common';
import { Caller, MarkedDelivery, OperatorActions, SelectionPreview } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { DeliveryQueues, enqueueRequest } from '@dispatch/queue';
import { AuditTrail } from '../audit/audit-trail';
import { DeliverySelectionInput, selectionRecord, toSelection } from './delivery-selection.schema';

const ENQUEUE_BATCH = 50;

export type ReplayAnswer = { count: number; replayId: string } | SelectionPreview;

/**
 * Bulk retry (replay): every selected delivery gets a new attempt now (trigger `manual`).
 * Without a status, dead letters (`failed`) are selected. The deliveries are marked in one
 * transaction and recorded as a replay whose progress can be watched; their jobs are then
 * queued in the background and go out at each destination's rate limit, behind its first
 * attempts like its retries (a replay of deliveries attempted before must not hold up fresh
 * events). Should the API stop half way, the reconciler queues the rest. A dry run marks
 * nothing: it answers what the replay would touch (count, bytes of the events' data, destinations).
 */
@Injectable()
export class ReplayDeliveries {
  private readonly logger = new Logger(ReplayDeliveries.name);

  constructor(
    private readonly deliveries: OperatorActions,
    private readonly queues: DeliveryQueues,
    private readonly audit: AuditTrail,
  ) {}

  async execute(caller: Caller, input: DeliverySelectionInput): Promise<ReplayAnswer> {
    const selection = toSelection(caller.organizationId, input, ['failed']);
    if (input.dryRun) return this.deliveries.previewSelected(selection);
    const filter = selectionRecord(input, selection);
    const replayId = newId('rpl');
    const marked = await this.deliveries.markForReplay(selection, { id: replayId, createdBy: caller.apiKeyId, filter });
    await this.audit.record(caller, 'deliveries.replay', replayId, { ...filter, count: marked.length });
    void this.enqueue(caller.organizationId, replayId, marked);
    return { count: marked.length, replayId };
  }

  private async enqueue(organizationId: string, replayId: string, marked: MarkedDelivery[]): Promise<void> {
    try {
      for (let start = 0; start < marked.length; start += ENQUEUE_BATCH) {
        await Promise.all(
          marked
            .slice(start, start + ENQUEUE_BATCH)
            .map((delivery) => this.queues.requeue(enqueueRequest({ ...delivery, nextAttemptAt: null }, delivery.retryPolicy), true)),
        );
      }
    } catch (error) {
      this.logger.warn({ organizationId, replayId, msg: `The reconciler will queue what is left of the replay: ${(error as Error).message}` });
    }
  }
}
