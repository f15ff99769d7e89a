import { setMaxListeners } from 'node:events';
import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { AttemptRecord, AttemptRepository, AttemptSettlement, ClaimedDelivery } from '@dispatch/db';
import { DestinationSettings, Senders, sendRequest, SendResult } from '@dispatch/destinations';
import { attemptHealth, AttemptOutcome, classifyAttempt, failureCategory, newId, storableText } from '@dispatch/domain';
import { DeliveryJobData, DeliveryQueues, RetryLaterError, retryPriority } from '@dispatch/queue';
import { activeSpan, annotate, DispatchAttributes, failed } from '@dispatch/telemetry';
import { AttemptObservers } from './attempt-observers';
import { deliveryFields, jobFields } from './delivery-log';
import { AttemptSlots, SlotsClosedError } from './attempt-slots';
import { DestinationCircuits } from './destination-circuits';

/** How long a job waits when the database cannot be reached before it tries again. */
const DATABASE_WAIT_MS = 5_000;
/** How long a job waits behind an earlier delivery of its ordering key that is in flight. */
const ORDER_WAIT_MS = 2_000;
/** The longest a job waits behind an earlier delivery that is retrying. */
const ORDER_WAIT_MAX_MS = 5 * 60_000;
/** How long a job waits while its destination's circuit lets no attempt through (its queue is paused meanwhile). */
const CIRCUIT_WAIT_MS = 1_000;

/**
 * Makes one attempt of a delivery, in three phases:
 * - gate: skip (destination stopped, delivery not claimable, or a job placed on a queue its
 *   delivery does not belong to), park (behind an earlier delivery of its ordering key, while
 *   the database cannot be reached, or while the destination's circuit lets no attempt
 *   through), or claim (next attempt number, status `delivering`);
 * - attempt: once one of the destination's attempt slots is free (a job is claimed while they
 *   are all busy, so the next attempt is ready when one ends), the destination's kind sends it;
 * - settle: record the attempt and the delivery's new status, tell the attempt observers, wake
 *   the next delivery of its ordering key, and answer BullMQ (`RetryLaterError` to retry after
 *   the policy's delay, behind the destination's first attempts; `UnrecoverableError` for a
 *   dead letter).
 * A delivered attempt of an unordered destination is recorded without holding up its job.
 */
@Injectable()
export class DeliveryProcessor implements OnApplicationShutdown {
  private readonly logger = new Logger(DeliveryProcessor.name);
  private readonly shutdown = new AbortController();

  constructor(
    private readonly deliveries: AttemptRepository,
    private readonly queues: DeliveryQueues,
    private readonly senders: Senders,
    private readonly observers: AttemptObservers,
    private readonly circuits: DestinationCircuits,
  ) {
    // Every attempt in flight listens to it (its deadline): as many as the worker's attempt slots.
    setMaxListeners(0, this.shutdown.signal);
  }

  /**
   * `slots`: the destination's attempts in flight; a claimed job waits for one. When tracing, the
   * job's run is the attempt's span (BullMQ's `process`, see `workerTelemetry`): it gets the
   * Dispatch ids, the attempt's number and outcome.
   */
  async process(job: Job<DeliveryJobData>, token: string | undefined, destination: DestinationSettings, slots: AttemptSlots): Promise<void> {
    annotate({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': job.queueName,
      'messaging.message.id': job.id ?? job.data.deliveryId,
      [DispatchAttributes.deliveryId]: job.data.deliveryId,
      [DispatchAttributes.destinationId]: destination.id,
      [DispatchAttributes.destinationKind]: destination.kind.kind,
    });
    const claimed = await this.gate(job, token, destination);
    if (!claimed) return;
    annotate({
      [DispatchAttributes.organizationId]: claimed.organizationId,
      [DispatchAttributes.eventId]: claimed.eventId,
      [DispatchAttributes.attempt]: claimed.attemptNumber,
    });
    let attempted: { startedAt: Date; result: SendResult };
    try {
      attempted = await slots.run(async () => {
        // The circuit opened while the job waited for a slot: it gives its claim back.
        if (this.circuits.isOpen(destination.id)) throw new SlotsClosedError();
        return { startedAt: new Date(), result: await this.attempt(destination, claimed) };
      });
    } catch (error) {
      if (!(error instanceof SlotsClosedError)) throw error;
      return this.giveBack(job, token, claimed);
    }
    await this.settle(job, token, destination, claimed, attempted.startedAt, attempted.result);
  }

  /**
   * The worker closed, or the destination's circuit opened, while the job waited for an attempt
   * slot: the claim is undone and the job goes back to its queue, for the next worker of the
   * destination. If the claim cannot be
   * undone, the delivery stays `delivering` and its next run makes it the next attempt number.
   */
  private async giveBack(job: Job<DeliveryJobData>, token: string | undefined, claimed: ClaimedDelivery): Promise<never> {
    try {
      await this.deliveries.release(claimed);
    } catch (error) {
      this.logger.warn({ ...deliveryFields(claimed), msg: `Giving back an unused claim failed: ${(error as Error).message}` });
    }
    return park(job, token, 0);
  }

  /** Resolves with the claimed delivery, or null when the job has nothing to do; parks the job when it must wait. */
  private async gate(job: Job<DeliveryJobData>, token: string | undefined, destination: DestinationSettings): Promise<ClaimedDelivery | null> {
    if (!destination.enabled || destination.paused) return null;
    // An open circuit (or a half-open one without a probe left) lets no attempt through, and uses none up.
    if (!(await this.circuits.admit(destination))) return park(job, token, CIRCUIT_WAIT_MS);
    const { deliveryId } = job.data;
    let blocker: Awaited<ReturnType<AttemptRepository['orderingBlocker']>>;
    let claimed: ClaimedDelivery | null;
    try {
      blocker = destination.ordered ? await this.deliveries.orderingBlocker(deliveryId) : null;
      claimed = blocker ? null : await this.deliveries.claim(deliveryId, destination.id);
      if (!blocker && !claimed) await this.refuseIfForeign(deliveryId, destination);
    } catch (error) {
      this.logger.warn({ ...jobFields(destination, deliveryId), msg: `The delivery waits for the database: ${(error as Error).message}` });
      return park(job, token, DATABASE_WAIT_MS);
    }
    if (blocker) return park(job, token, orderWait(blocker.nextAttemptAt));
    return claimed;
  }

  /** A job naming a delivery of another destination (placed on this queue by hand) sends nothing: say so. */
  private async refuseIfForeign(deliveryId: string, destination: DestinationSettings): Promise<void> {
    const owner = await this.deliveries.destinationOf(deliveryId);
    if (owner !== null && owner !== destination.id) {
      this.logger.warn({
        ...jobFields(destination, deliveryId),
        ownerDestinationId: owner,
        msg: 'Dropped a job on the queue of this destination: its delivery belongs to another destination; nothing was sent',
      });
    }
  }

  /** The kind's sender makes the attempt; a sender that throws counts as a failure to retry. */
  private async attempt(destination: DestinationSettings, claimed: ClaimedDelivery): Promise<SendResult> {
    const started = performance.now();
    try {
      return await this.senders.of(destination.kind).send(sendRequest(destination, claimed), this.shutdown.signal);
    } catch (error) {
      return { verdict: 'transient', error: `error: ${(error as Error).message}`, durationMs: Math.round(performance.now() - started) };
    }
  }

  private async settle(
    job: Job<DeliveryJobData>,
    token: string | undefined,
    destination: DestinationSettings,
    claimed: ClaimedDelivery,
    startedAt: Date,
    result: SendResult,
  ): Promise<void> {
    const outcome = classifyAttempt(result, claimed.attemptNumber, destination.retryPolicy);
    annotate({ [DispatchAttributes.outcome]: outcome.kind });
    if (outcome.kind !== 'delivered') failed(activeSpan(), outcome.reason);
    const record = attemptRecord(claimed, startedAt, result, outcome);
    const recorded = this.deliveries.settleAttempt(record, settlement(outcome, result, new Date()), destination.id);
    if (outcome.kind === 'delivered' && !destination.ordered) {
      // Nothing waits on the record of a delivered attempt: the job completes while it is
      // written with the next group of writes (`flush` runs before shutdown). Were it lost,
      // the delivery would stay `delivering` and the reconciler would send it again.
      recorded.catch((error: Error) => this.logger.warn({ ...deliveryFields(claimed, record.id), msg: `Delivered; recording the attempt failed: ${error.message}` }));
    } else {
      try {
        await recorded;
      } catch (error) {
        // Not recorded: the job waits for the database without using up a BullMQ attempt, and
        // its next run claims the delivery again (an attempt that may repeat, as after a crash).
        this.logger.warn({ ...deliveryFields(claimed, record.id), msg: `Recording the attempt failed; it waits for the database: ${(error as Error).message}` });
        return park(job, token, DATABASE_WAIT_MS);
      }
    }
    // The attempt's log line is one of the observers' (AttemptLog).
    this.observers.notify({ destination, delivery: claimed, attemptId: record.id, result, outcome });
    if (destination.ordered && outcome.kind !== 'retry') await this.wakeNextInOrder(claimed);
    if (outcome.kind === 'retry') {
      await this.behindFirstAttempts(job, claimed);
      // The policy decides: a job BullMQ would fail for lack of attempts (the policy allows
      // more than when the job was added, e.g. a dead letter retried in place after its
      // maxAttempts was raised) waits for its next attempt all the same.
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) return park(job, token, outcome.delayMs);
      throw new RetryLaterError(outcome.reason, outcome.delayMs);
    }
    if (outcome.kind !== 'delivered') throw new UnrecoverableError(outcome.reason);
  }

  /**
   * The job's next attempt is a retry: it takes its event's priority in the retry group, which
   * it keeps when its wait is over, so it goes behind the destination's first attempts. Should
   * Redis refuse, the retry goes with the first attempts this once.
   */
  private async behindFirstAttempts(job: Job<DeliveryJobData>, claimed: ClaimedDelivery): Promise<void> {
    const priority = retryPriority(job.priority);
    if (priority === job.priority) return;
    try {
      await job.changePriority({ priority });
    } catch (error) {
      this.logger.warn({ ...deliveryFields(claimed), msg: `The retry keeps its first-attempt priority: ${(error as Error).message}` });
    }
  }

  /** The delivery settled: the next one of its ordering key need not wait any longer. */
  private async wakeNextInOrder(claimed: ClaimedDelivery): Promise<void> {
    try {
      const next = await this.deliveries.nextInOrder(claimed.id);
      if (next) await this.queues.promote(next.destinationId, next.id);
    } catch (error) {
      // The next delivery's own wait ends soon anyway; this job's outcome stands.
      this.logger.warn({ ...deliveryFields(claimed), msg: `Settled; waking the next delivery of its ordering key failed: ${(error as Error).message}` });
    }
  }

  /** Resolves once the records of the attempts made so far are written (before shutdown). */
  flush(): Promise<void> {
    return this.deliveries.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    this.shutdown.abort();
    await this.senders.close();
  }
}

/** What the attempt record keeps: whatever bytes the peer sent, made safe to store. */
function attemptRecord(claimed: ClaimedDelivery, startedAt: Date, result: SendResult, outcome: AttemptOutcome): AttemptRecord {
  return {
    id: newId('att'),
    deliveryId: claimed.id,
    number: claimed.attemptNumber,
    trigger: claimed.trigger,
    startedAt,
    durationMs: result.durationMs,
    outcome: outcome.kind,
    statusCode: result.statusCode ?? null,
    responseBody: storableText(result.reply),
    error: storableText(result.error),
  };
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

/** The delivery's new status (with its failure category when it failed for good), and what the attempt counts as in its destination's health. */
function settlement(outcome: AttemptOutcome, result: SendResult, now: Date): AttemptSettlement {
  const health = attemptHealth(result, outcome);
  switch (outcome.kind) {
    case 'delivered':
      return { status: 'delivered', nextAttemptAt: null, lastError: null, health, failureCategory: null };
    case 'retry':
      return { status: 'retrying', nextAttemptAt: new Date(now.getTime() + outcome.delayMs), lastError: outcome.reason, health, failureCategory: null };
    case 'failed':
      return { status: 'failed', nextAttemptAt: null, lastError: outcome.reason, health, failureCategory: failureCategory(result) };
    case 'gone':
      return { status: 'failed', nextAttemptAt: null, lastError: outcome.reason, disableDestination: outcome.reason, health, failureCategory: failureCategory(result) };
  }
}
