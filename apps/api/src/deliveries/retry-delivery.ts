import { ConflictException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { Delivery, DeliveryRepository, DestinationRepository, OperatorActions } from '@dispatch/db';
import { manualRetryAllowed } from '@dispatch/domain';
import { DeliveryQueues, enqueueRequest } from '@dispatch/queue';

/**
 * Makes a new attempt of a delivery now, whatever its status (`trigger: manual`): the
 * delivery is marked for a manual attempt, then its job is run at once (see `requeue`). An
 * operator asked for this one attempt: it goes with the destination's first attempts, not
 * behind its retries (a replay, which may be thousands, waits with the retries).
 */
@Injectable()
export class RetryDelivery {
  private readonly logger = new Logger(RetryDelivery.name);

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly actions: OperatorActions,
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
    const marked = await this.actions.requestManualRetry(id, new Date());
    try {
      await this.queues.requeue(
        { ...enqueueRequest({ ...marked, nextAttemptAt: null, priority: delivery.event.priority }, destination.retryPolicy), retry: false },
        true,
      );
    } catch (error) {
      this.logger.warn({
        organizationId,
        eventId: delivery.eventId,
        deliveryId: id,
        destinationId: destination.id,
        ...(delivery.event.correlationId === null ? {} : { correlationId: delivery.event.correlationId }),
        msg: `Retry recorded; the reconciler will enqueue it: ${(error as Error).message}`,
      });
    }
    return marked;
  }
}
