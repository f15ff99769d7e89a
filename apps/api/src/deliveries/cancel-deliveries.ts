import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { Caller, DeliveryRepository, OperatorActions } from '@dispatch/db';
import { DeliveryQueues } from '@dispatch/queue';
import { AuditTrail } from '../audit/audit-trail';
import { DeliverySelectionInput, selectionRecord, toSelection } from './delivery-selection.schema';

/**
 * Cancels deliveries that are waiting (pending, retrying) or dead letters: they get no more
 * attempts, their jobs are removed, and the next delivery of their ordering key may go.
 * Without a status, waiting deliveries are selected. Deliveries held by a disabled destination
 * can be cancelled too.
 */
@Injectable()
export class CancelDeliveries {
  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly actions: OperatorActions,
    private readonly queues: DeliveryQueues,
    private readonly audit: AuditTrail,
  ) {}

  async one(caller: Caller, id: string): Promise<void> {
    const delivery = await this.deliveries.find(caller.organizationId, id);
    if (!delivery) throw new NotFoundException(`Delivery ${id} not found`);
    const cancelled = await this.actions.cancelSelected({
      organizationId: caller.organizationId,
      statuses: ['pending', 'retrying', 'failed'],
      deliveryId: id,
      ofDisabledDestinations: true,
    });
    if (cancelled.length === 0) throw new ConflictException(`Delivery ${id} is ${delivery.status}; only pending, retrying or failed deliveries can be cancelled`);
    await this.audit.record(caller, 'delivery.cancel', id);
    await this.release(cancelled);
  }

  async many(caller: Caller, input: DeliverySelectionInput): Promise<{ count: number }> {
    const selection = { ...toSelection(caller.organizationId, input, ['pending', 'retrying']), ofDisabledDestinations: true };
    if (input.dryRun) return { count: await this.actions.countSelected(selection) };
    const cancelled = await this.actions.cancelSelected(selection);
    await this.audit.record(caller, 'deliveries.cancel', caller.organizationId, { ...selectionRecord(input, selection), count: cancelled.length });
    await this.release(cancelled);
    return { count: cancelled.length };
  }

  private async release(cancelled: { id: string; destinationId: string }[]): Promise<void> {
    for (const delivery of cancelled) {
      await this.queues.discard(delivery.destinationId, delivery.id);
      const next = await this.actions.nextInOrder(delivery.id);
      if (next) await this.queues.promote(next.destinationId, next.id);
    }
  }
}
