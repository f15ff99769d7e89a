import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Job, UnrecoverableError } from 'bullmq';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { AttemptSettlement, DeliveryRepository, DestinationRecord } from '@dispatch/db';
import { WebhookConfig, WebhookResponse, WebhookSender } from '@dispatch/destinations';
import { AttemptOutcome, classifyAttempt, newId, RetryPolicy, retryPolicySchema } from '@dispatch/domain';
import { DeliveryJobData, RetryLaterError } from '@dispatch/queue';
import { WorkerMetrics } from '../operations/worker-metrics';

/**
 * Makes one attempt of a delivery: claims it (next attempt number, status `delivering`),
 * sends it, records the attempt and settles the delivery. Throws so BullMQ sees the outcome:
 * `RetryLaterError` (retried after the policy's delay) or `UnrecoverableError` (dead letter).
 */
@Injectable()
export class DeliveryProcessor implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryProcessor.name);
  private readonly webhooks: WebhookSender;

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly metrics: WorkerMetrics,
    @Inject(DISPATCH_CONFIG) config: DispatchConfig,
  ) {
    this.webhooks = new WebhookSender(config.webhook);
  }

  async process(job: Job<DeliveryJobData>, destination: DestinationRecord): Promise<void> {
    if (!destination.enabled || destination.paused) return;
    const claimed = await this.deliveries.claim(job.data.deliveryId);
    if (!claimed) return;
    const startedAt = new Date();
    const response = await this.webhooks.send({
      config: destination.config as WebhookConfig,
      secrets: destination.secret ? [destination.secret] : [],
      deliveryId: claimed.id,
      attemptNumber: claimed.attemptNumber,
      event: claimed.event,
    });
    const policy: RetryPolicy = retryPolicySchema.parse(destination.retryPolicy);
    const outcome = classifyAttempt(
      'error' in response ? { error: response.error } : { statusCode: response.statusCode, retryAfter: response.retryAfter },
      claimed.attemptNumber,
      policy,
    );
    await this.deliveries.settleAttempt(
      {
        id: newId('att'),
        deliveryId: claimed.id,
        number: claimed.attemptNumber,
        trigger: claimed.trigger,
        startedAt,
        durationMs: response.durationMs,
        statusCode: 'error' in response ? null : response.statusCode,
        responseBody: 'error' in response ? null : response.responseBody,
        error: 'error' in response ? response.error : null,
      },
      settlement(outcome, new Date()),
      destination.id,
    );
    this.observe(destination, response, outcome, claimed.event.receivedAt);
    if (outcome.kind === 'gone') {
      destination.enabled = false;
      this.logger.warn(`Destination ${destination.id} disabled: ${outcome.reason}`);
    }
    if (outcome.kind === 'retry') throw new RetryLaterError(outcome.reason, outcome.delayMs);
    if (outcome.kind !== 'delivered') throw new UnrecoverableError(outcome.reason);
  }

  private observe(destination: DestinationRecord, response: WebhookResponse, outcome: AttemptOutcome, receivedAt: Date): void {
    this.metrics.attempts.inc({ kind: destination.kind, outcome: outcome.kind });
    this.metrics.attemptDuration.observe({ kind: destination.kind }, response.durationMs / 1000);
    if (outcome.kind === 'delivered') this.metrics.acceptToDelivered.observe((Date.now() - receivedAt.getTime()) / 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.webhooks.close();
  }
}

function settlement(outcome: AttemptOutcome, now: Date): AttemptSettlement {
  switch (outcome.kind) {
    case 'delivered':
      return { status: 'delivered', nextAttemptAt: null, lastError: null };
    case 'retry':
      return { status: 'retrying', nextAttemptAt: new Date(now.getTime() + outcome.delayMs), lastError: outcome.reason };
    case 'failed':
      return { status: 'failed', nextAttemptAt: null, lastError: outcome.reason };
    case 'gone':
      return { status: 'failed', nextAttemptAt: null, lastError: outcome.reason, disableDestination: outcome.reason };
  }
}
