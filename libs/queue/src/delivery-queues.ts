import { Job, JobsOptions, Queue } from 'bullmq';
import {
  Context,
  currentContext,
  DispatchAttributes,
  endSpan,
  jobTraceMetadata,
  Span,
  SpanKind,
  startSpan,
  contextWith,
  tracingOn,
  withContext,
} from '@dispatch/telemetry';
import type { RedisConnection } from './connection';
import { jobPriority } from './job-priority';
import { DELIVERY_JOB_NAME, DeliveryJobData } from './jobs';
import { changedChannel, destinationQueueName, wakeChannel } from './names';

export type EnqueueRequest = {
  deliveryId: string;
  destinationId: string;
  /** Attempts BullMQ may still make; the retry policy decides within them. */
  attempts: number;
  /** When the attempt is due; now when absent. */
  dueAt?: Date | null;
  /** The event's priority, 0–10: higher goes first within the destination's backlog. */
  priority: number;
  /** The next attempt is a retry: it waits behind the destination's first attempts (see `jobPriority`). */
  retry?: boolean;
  /** The trace context the delivery is enqueued in (its event's); the active one when absent. */
  trace?: Context;
};

/**
 * The producer side of the per-destination queues. Queue objects share one Redis connection
 * and are created on first use. Adding a job whose id (the delivery id) exists is a no-op.
 */
/** Jobs added to Redis in one round trip at most. */
const ADD_BATCH = 500;

/** Enqueuers announce a destination's new jobs at most once in this time: its worker, woken by the last notice, keeps taking them or looks at its queue again after it. */
export const WAKE_AGAIN_AFTER_MS = 1_000;

export class DeliveryQueues {
  private readonly queues = new Map<string, Queue<DeliveryJobData>>();
  private readonly wokenAt = new Map<string, number>();

  constructor(
    readonly connection: RedisConnection,
    readonly prefix: string,
  ) {}

  /** False while Redis is unreachable: enqueueing then would only wait. */
  get connected(): boolean {
    return this.connection.status === 'ready';
  }

  queue(destinationId: string): Queue<DeliveryJobData> {
    let queue = this.queues.get(destinationId);
    if (!queue) {
      queue = new Queue<DeliveryJobData>(destinationQueueName(destinationId), {
        connection: this.connection,
        prefix: this.prefix,
      });
      queue.on('error', () => undefined);
      this.queues.set(destinationId, queue);
    }
    return queue;
  }

  /**
   * Adds delivery jobs and tells the workers which destinations have new work (at most once a
   * second per destination: a woken destination's worker stays up far longer than that).
   *
   * When tracing, each job's enqueue is a `send` span, child of its request's trace (jobs of
   * several events added in one round trip each in their own), and the job carries that span's
   * context, which each attempt of the job continues (see `workerTelemetry`).
   */
  async enqueue(requests: readonly EnqueueRequest[], now: Date = new Date()): Promise<void> {
    const byDestination = new Map<string, EnqueueRequest[]>();
    for (const request of requests) {
      const list = byDestination.get(request.destinationId) ?? [];
      list.push(request);
      byDestination.set(request.destinationId, list);
    }
    for (const [destinationId, list] of byDestination) {
      const queue = this.queue(destinationId);
      const sends = tracingOn() ? list.map((request) => startSend(queue.name, request)) : undefined;
      try {
        if (list.length === 1) {
          const send = sends?.[0];
          await withContext(send?.context ?? currentContext(), () =>
            queue.add(DELIVERY_JOB_NAME, { deliveryId: list[0].deliveryId }, jobOptions(list[0], now, send?.metadata)),
          );
        } else {
          for (let start = 0; start < list.length; start += ADD_BATCH) {
            const chunk = list.slice(start, start + ADD_BATCH);
            await queue.addBulk(
              chunk.map((request, index) => ({
                name: DELIVERY_JOB_NAME,
                data: { deliveryId: request.deliveryId },
                opts: jobOptions(request, now, sends?.[start + index].metadata),
              })),
            );
          }
        }
      } catch (error) {
        sends?.forEach(({ span }) => endSpan(span, error));
        throw error;
      }
      sends?.forEach(({ span }) => endSpan(span));
    }
    const sleeping = [...byDestination.keys()].filter((destinationId) => (this.wokenAt.get(destinationId) ?? 0) < now.getTime() - WAKE_AGAIN_AFTER_MS);
    if (sleeping.length > 0) {
      const pipeline = this.connection.pipeline();
      for (const destinationId of sleeping) {
        pipeline.publish(wakeChannel(this.prefix), destinationId);
        this.wokenAt.set(destinationId, now.getTime());
      }
      await pipeline.exec();
    }
  }

  async job(destinationId: string, deliveryId: string): Promise<Job<DeliveryJobData> | undefined> {
    return this.queue(destinationId).getJob(deliveryId);
  }

  /**
   * Makes sure a delivery has a live job. One with no job, or only a finished one, gets a new
   * job. With `now` (an operator's retry), a waiting retry is brought forward and a dead
   * letter's failed job is retried in place, so Bull Board and the database stay in step; these
   * and a job already waiting its turn take the request's priority (its group: first attempt or
   * retry), so an operator's retry of a retry that is due goes ahead of the other retries.
   */
  async requeue(request: EnqueueRequest, now: boolean): Promise<'added' | 'retried' | 'promoted' | 'kept'> {
    const job = await this.job(request.destinationId, request.deliveryId);
    const state = job ? await job.getState() : 'missing';
    if (job && now && state === 'failed') {
      await reprioritize(job, request);
      await job.retry('failed');
      return 'retried';
    }
    if (job && now && state === 'delayed') {
      await reprioritize(job, request);
      await job.promote();
      return 'promoted';
    }
    if (job && now && (state === 'prioritized' || state === 'waiting')) await reprioritize(job, request);
    if (job && state !== 'failed' && state !== 'completed') return 'kept';
    if (job) await job.remove();
    await this.enqueue([now ? { ...request, dueAt: null } : request]);
    return 'added';
  }

  /** Tells the workers to reload a destination's settings now (URL, secrets, rate limit…). */
  async announceChange(destinationId: string): Promise<void> {
    await this.connection.publish(changedChannel(this.prefix), destinationId);
  }

  /** Removes a delivery's job, unless an attempt of it is running. */
  async discard(destinationId: string, deliveryId: string): Promise<void> {
    const job = await this.job(destinationId, deliveryId);
    if (job && (await job.getState()) !== 'active') await job.remove().catch(() => undefined);
  }

  /** Runs a parked or delayed job now, if it is waiting. */
  async promote(destinationId: string, deliveryId: string): Promise<void> {
    const job = await this.job(destinationId, deliveryId);
    if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
  }

  async pause(destinationId: string): Promise<void> {
    await this.queue(destinationId).pause();
  }

  async resume(destinationId: string): Promise<void> {
    await this.queue(destinationId).resume();
    await this.connection.publish(wakeChannel(this.prefix), destinationId);
    this.wokenAt.set(destinationId, Date.now());
  }

  /**
   * Drops the queue object of a destination (its jobs stay in Redis): a process that looks at
   * many destinations' queues in turn keeps objects only for those it uses now.
   */
  async forget(destinationId: string): Promise<void> {
    const queue = this.queues.get(destinationId);
    if (!queue) return;
    this.queues.delete(destinationId);
    await queue.close();
  }

  /** Removes a destination's queue and every key under it. */
  async remove(destinationId: string): Promise<void> {
    this.wokenAt.delete(destinationId);
    const queue = this.queue(destinationId);
    await queue.obliterate({ force: true });
    await queue.close();
    this.queues.delete(destinationId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}

/** A waiting job's priority goes with the request (e.g. an operator's retry of a retrying delivery is a first attempt again). */
async function reprioritize(job: Job<DeliveryJobData>, request: EnqueueRequest): Promise<void> {
  const priority = jobPriority(request.priority, request.retry ?? false);
  if (job.priority !== priority) await job.changePriority({ priority });
}

/** The `send` span of one job and the context the job carries (`opts.telemetry.metadata`). */
function startSend(queueName: string, request: EnqueueRequest): { span: Span; context: Context; metadata: string | undefined } {
  const parent = request.trace ?? currentContext();
  const span = startSpan(`send ${queueName}`, {
    kind: SpanKind.PRODUCER,
    parent,
    attributes: {
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'add',
      'messaging.destination.name': queueName,
      'messaging.message.id': request.deliveryId,
      [DispatchAttributes.deliveryId]: request.deliveryId,
      [DispatchAttributes.destinationId]: request.destinationId,
    },
  });
  const context = contextWith(span, parent);
  return { span, context, metadata: jobTraceMetadata(context) };
}

function jobOptions(request: EnqueueRequest, now: Date, traceMetadata?: string): JobsOptions {
  const delay = request.dueAt ? Math.max(0, request.dueAt.getTime() - now.getTime()) : 0;
  return {
    ...(traceMetadata ? { telemetry: { metadata: traceMetadata } } : {}),
    jobId: request.deliveryId,
    priority: jobPriority(request.priority, request.retry ?? false),
    attempts: Math.max(1, request.attempts),
    backoff: { type: 'custom' },
    delay,
    removeOnComplete: true,
    removeOnFail: false,
  };
}
