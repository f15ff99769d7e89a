import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { Caller, Destination, DestinationRepository } from '@dispatch/db';
import { DeliveryQueues } from '@dispatch/queue';
import { AuditTrail } from '../audit/audit-trail';
import { deliverySelectionSchema } from '../deliveries/delivery-selection.schema';
import { ReplayDeliveries } from '../deliveries/replay-deliveries';
import { RetryDelivery } from '../deliveries/retry-delivery';

/** What Bull Board's retry-all answers: how many jobs were retried, and how many were not. */
export type RetryAllAnswer = { retried: number; skipped: number };

/**
 * Bull Board's retry buttons, when `DISPATCH_QUEUES_ALLOW_RETRIES` allows them, answered by the
 * API's own use cases instead of BullMQ's `job.retry()`: a delivery's job is retried as
 * `POST /v1/deliveries/{id}/retry` does, a queue's failed jobs as `POST /v1/deliveries/retry`
 * (a replay of the destination's dead letters) does. So the attempt is `manual`, the delivery's
 * status in the database moves with it, and the audit trail of the delivery's organization
 * records the operator's key.
 */
@Injectable()
export class BoardRetries {
  constructor(
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
    private readonly retryDelivery: RetryDelivery,
    private readonly replayDeliveries: ReplayDeliveries,
    private readonly audit: AuditTrail,
  ) {}

  /** Whether the board may retry at all (`DISPATCH_QUEUES_ALLOW_RETRIES`). */
  get allowed(): boolean {
    return this.config.queues.allowRetries;
  }

  /** Retries the delivery whose job `jobId` is in the queue `queueName`. */
  async retryJob(operator: Caller, queueName: string, jobId: string): Promise<void> {
    const destination = await this.destinationOf(queueName);
    const job = await this.queues.job(destination.id, jobId);
    if (!job) throw new NotFoundException(`Job ${jobId} not found in queue ${queueName}`);
    const delivery = await this.retryDelivery.execute(destination.organizationId, job.data.deliveryId);
    await this.audit.record(operatorIn(operator, destination), 'delivery.retry', delivery.id, { via: 'queues' });
  }

  /** Retries every dead letter of the destination whose queue is `queueName` (its failed jobs). */
  async retryAll(operator: Caller, queueName: string, jobStatus: string): Promise<RetryAllAnswer> {
    if (jobStatus !== 'failed') throw new BadRequestException(`Only failed jobs (dead letters) can be retried from the board, not ${jobStatus} ones`);
    const destination = await this.destinationOf(queueName);
    const selection = deliverySelectionSchema.parse({ destinationId: destination.id, status: 'failed' });
    const { count } = await this.replayDeliveries.execute(operatorIn(operator, destination), selection);
    return { retried: count, skipped: 0 };
  }

  /** The destination whose queue is named `queueName` (its id in braces). */
  private async destinationOf(queueName: string): Promise<Destination> {
    const id = /^\{(.+)\}$/.exec(queueName)?.[1];
    const destination = id ? await this.destinations.findById(id) : null;
    if (!destination) throw new NotFoundException(`Queue ${queueName} is not a destination's queue`);
    return destination;
  }
}

/** The operator acting in a destination's organization: what it does is recorded there, under the operator's key. */
function operatorIn(operator: Caller, destination: Destination): Caller {
  return { ...operator, organizationId: destination.organizationId };
}
