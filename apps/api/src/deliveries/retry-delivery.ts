import { ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { Delivery, DeliveryRepository, DestinationRepository } from '@dispatch/db';
import { DEFAULT_RETRY_POLICY, manualRetryAllowed, RetryPolicy } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';

/**
 * Makes a new attempt of a delivery now, whatever its status (`trigger: manual`). A failed
 * job in the destination's queue (a dead letter) is retried in place, a delayed one is
 * promoted, and a delivery with no job gets one, so the queue and the database agree.
 */
@Injectable()
export class RetryDelivery {
  private readonly logger = new Logger(RetryDelivery.name);

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
  ) {}

  async execute(organizationId: string, id: string): Promise<Delivery> {
    const delivery = await this.deliveries.find(organizationId, id);
    if (!delivery) throw new NotFoundException(`Delivery ${id} not found`);
    if (!manualRetryAllowed(delivery.status)) throw new ConflictException(`Delivery ${id} has an attempt in flight; try again when it settles`);
    const destination = await this.destinations.findById(delivery.destinationId);
    if (!destination) throw new NotFoundException(`Destination ${delivery.destinationId} not found`);
    if (!destination.enabled) {
      throw new ConflictException(`Destination ${destination.id} is disabled (${destination.disabledReason ?? 'by an operator'}); resume it first`);
    }
    const marked = await this.deliveries.requestManualRetry(id, new Date());
    try {
      await this.requeue(marked, (destination.retryPolicy as RetryPolicy).maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts);
    } catch (error) {
      this.logger.warn(`Retry of ${id} recorded; the reconciler will enqueue it: ${(error as Error).message}`);
    }
    return marked;
  }

  private async requeue(delivery: Delivery, maxAttempts: number): Promise<void> {
    const job = await this.queues.job(delivery.destinationId, delivery.id);
    const state = job ? await job.getState() : 'unknown';
    if (job && state === 'failed') return job.retry('failed');
    if (job && state === 'delayed') return job.promote();
    if (job && state === 'completed') await job.remove();
    else if (job) return;
    await this.queues.enqueue([
      { deliveryId: delivery.id, destinationId: delivery.destinationId, attempts: Math.max(1, maxAttempts - delivery.attemptCount) },
    ]);
  }
}
