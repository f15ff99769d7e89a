import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { AttemptSettlement, ClaimedDelivery, DeliveryRepository, DestinationRecord } from '@dispatch/db';
import { WebhookConfig, WebhookResponse, WebhookSender } from '@dispatch/destinations';
import { AttemptOutcome, classifyAttempt, liveSigningSecrets, newId, RetryPolicy, retryPolicySchema } from '@dispatch/domain';
import { DeliveryJobData, DeliveryQueues, RetryLaterError } from '@dispatch/queue';
import { WorkerMetrics } from '../operations/worker-metrics';

/** How long a job waits when the database cannot be reached before it tries again. */
const DATABASE_WAIT_MS = 5_000;
/** How long a job waits behind an earlier delivery of its ordering key that is in flight. */
const ORDER_WAIT_MS = 2_000;
/** The longest a job waits behind an earlier delivery that is retrying. */
const ORDER_WAIT_MAX_MS = 5 * 60_000;

/**
 * Makes one attempt of a delivery: claims it (next attempt number, status `delivering`),
 * sends it, records the attempt and settles the delivery (a delivered attempt of an unordered
 * destination is recorded without holding up the job). Throws so BullMQ sees the outcome:
 * `RetryLaterError` (retried after the policy's delay) or `UnrecoverableError` (dead letter).
 * A delivery whose ordering key has an earlier delivery still open is parked (not attempted)
 * until that one settles, which wakes it.
 */
@Injectable()
export class DeliveryProcessor implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryProcessor.name);
  private readonly webhooks: WebhookSender;
  /** Parsed retry policies, per loaded destination record. */
  private readonly policies = new WeakMap<DestinationRecord, RetryPolicy>();

  constructor(
    private readonly deliveries: DeliveryRepository,
    private readonly queues: DeliveryQueues,
    private readonly metrics: WorkerMetrics,
    @Inject(DISPATCH_CONFIG) config: DispatchConfig,
  ) {
    this.webhooks = new WebhookSender(config.webhook);
  }

  async process(job: Job<DeliveryJobData>, token: string | undefined, destination: DestinationRecord): Promise<void> {
    if (!destination.enabled || destination.paused) return;
    const ordered = destination.ordering === 'key';
    let blocker: Awaited<ReturnType<DeliveryRepository['orderingBlocker']>> = null;
    let claimed: ClaimedDelivery | null = null;
    try {
      blocker = ordered ? await this.deliveries.orderingBlocker(job.data.deliveryId) : null;
      if (!blocker) claimed = await this.deliveries.claim(job.data.deliveryId);
    } catch (error) {
      this.logger.warn(`Delivery ${job.data.deliveryId} waits for the database: ${(error as Error).message}`);
      return park(job, token, DATABASE_WAIT_MS);
    }
    if (blocker) return park(job, token, orderWait(blocker.nextAttemptAt));
    if (!claimed) return;

    const startedAt = new Date();
    const response = await this.webhooks.send({
      config: destination.config as WebhookConfig,
      secrets: liveSigningSecrets(destination),
      deliveryId: claimed.id,
      attemptNumber: claimed.attemptNumber,
      event: claimed.event,
    });
    const outcome = classifyAttempt(
      'error' in response ? { error: response.error } : { statusCode: response.statusCode, retryAfter: response.retryAfter },
      claimed.attemptNumber,
      this.policyOf(destination),
    );
    const recorded = this.deliveries.settleAttempt(
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
    if (outcome.kind === 'delivered' && !ordered) {
      // Nothing waits on the record of a delivered attempt: the job completes while it is
      // written with the next group of writes (`flush` runs before shutdown). Were it lost,
      // the delivery would stay `delivering` and the reconciler would send it again.
      recorded.catch((error: Error) => this.logger.warn(`Delivery ${claimed.id} was delivered; recording it failed: ${error.message}`));
    } else {
      await recorded;
    }
    this.observe(destination, response, outcome, claimed.event.receivedAt);
    if (ordered && outcome.kind !== 'retry') await this.wakeNextInOrder(claimed.id);
    if (outcome.kind === 'gone') {
      destination.enabled = false;
      this.logger.warn(`Destination ${destination.id} disabled: ${outcome.reason}`);
    }
    if (outcome.kind === 'retry') {
      // The policy decides: a job BullMQ would fail for lack of attempts (the policy allows
      // more than when the job was added, e.g. a dead letter retried in place after its
      // maxAttempts was raised) waits for its next attempt all the same.
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) return park(job, token, outcome.delayMs);
      throw new RetryLaterError(outcome.reason, outcome.delayMs);
    }
    if (outcome.kind !== 'delivered') throw new UnrecoverableError(outcome.reason);
  }

  private policyOf(destination: DestinationRecord): RetryPolicy {
    let policy = this.policies.get(destination);
    if (!policy) {
      policy = retryPolicySchema.parse(destination.retryPolicy);
      this.policies.set(destination, policy);
    }
    return policy;
  }

  /** The delivery settled: the next one of its ordering key need not wait any longer. */
  private async wakeNextInOrder(deliveryId: string): Promise<void> {
    const next = await this.deliveries.nextInOrder(deliveryId);
    if (next) await this.queues.promote(next.destinationId, next.id);
  }

  private observe(destination: DestinationRecord, response: WebhookResponse, outcome: AttemptOutcome, receivedAt: Date): void {
    this.metrics.attempts.inc({ kind: destination.kind, outcome: outcome.kind });
    this.metrics.attemptDuration.observe({ kind: destination.kind }, response.durationMs / 1000);
    if (outcome.kind === 'delivered') this.metrics.acceptToDelivered.observe((Date.now() - receivedAt.getTime()) / 1000);
  }

  /** Resolves once the records of the attempts made so far are written (before shutdown). */
  flush(): Promise<void> {
    return this.deliveries.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.webhooks.close();
  }
}

/** Puts the job back to wait for `delayMs` without counting an attempt. */
async function park(job: Job<DeliveryJobData>, token: string | undefined, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

/** Behind a retrying delivery, wait until just after its next attempt; else a short while. */
function orderWait(blockerNextAttemptAt: Date | null): number {
  if (!blockerNextAttemptAt) return ORDER_WAIT_MS;
  return Math.min(ORDER_WAIT_MAX_MS, Math.max(ORDER_WAIT_MS, blockerNextAttemptAt.getTime() - Date.now() + 1000));
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
