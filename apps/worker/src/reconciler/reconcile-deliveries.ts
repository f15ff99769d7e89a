import { Inject, Injectable, Logger } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DeliveryScans, DestinationRepository } from '@dispatch/db';
import { DeliveryQueues, enqueueRequest, MAINTENANCE_QUEUE } from '@dispatch/queue';
import { ALERTS_JOB, AlertReport, EvaluateAlerts } from '../alerts/evaluate-alerts';
import { WorkerMetrics } from '../operations/worker-metrics';
import { RETENTION_JOB, RetentionReport, RetentionSweep } from './retention-sweep';
import { AutoDisable } from './auto-disable';
import { ExpiredDownloads } from './expired-downloads';

const BATCH = 500;

/**
 * The outbox guarantee: finds open deliveries that have not moved for a while and have no
 * live job (the process died between commit and enqueue, or Redis lost its data) and enqueues
 * them again. Enqueueing is idempotent (job id = delivery id). Each pass also removes from the
 * database the previous signing secrets that have expired, and disables the destinations whose
 * attempts have all failed for DISPATCH_AUTO_DISABLE_AFTER_MS (AutoDisable), and the files of
 * expired download links (ExpiredDownloads). Runs as a BullMQ job scheduler on
 * the maintenance queue, so one worker process runs it at a time. The queue's retention jobs
 * are handed to RetentionSweep, its alert evaluation jobs to EvaluateAlerts.
 */
@Processor(MAINTENANCE_QUEUE)
@Injectable()
export class ReconcileDeliveries extends WorkerHost {
  private readonly logger = new Logger(ReconcileDeliveries.name);
  /** Where the last pass stopped; each pass goes on from there and wraps around. */
  private afterId = '';

  constructor(
    private readonly deliveries: DeliveryScans,
    private readonly destinations: DestinationRepository,
    private readonly queues: DeliveryQueues,
    private readonly metrics: WorkerMetrics,
    private readonly retention: RetentionSweep,
    private readonly autoDisable: AutoDisable,
    private readonly alerts: EvaluateAlerts,
    private readonly expiredDownloads: ExpiredDownloads,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {
    super();
  }

  /** Connection errors are reported once by the shared connection. */
  @OnWorkerEvent('error')
  onError(): void {}

  async process(job: Job): Promise<number | RetentionReport | AlertReport> {
    if (job.name === RETENTION_JOB) return this.retention.run();
    if (job.name === ALERTS_JOB) return this.alerts.run();
    const now = new Date();
    const enqueued = await this.reconcile(now);
    await this.clearExpiredSecrets(now);
    await this.autoDisable.run(now);
    await this.expiredDownloads.run(now);
    return enqueued;
  }

  /** Previous signing secrets past their time no longer sign: they leave the database too. */
  async clearExpiredSecrets(now: Date): Promise<void> {
    const cleared = await this.destinations.clearExpiredPreviousSecrets(now);
    if (cleared.length > 0) this.logger.log(`Removed the expired previous signing secret of ${cleared.join(', ')}`);
  }

  /** Returns how many deliveries were enqueued again. */
  async reconcile(now: Date): Promise<number> {
    const stale = await this.deliveries.stalledDeliveries(new Date(now.getTime() - this.config.worker.reconcileMs), this.afterId, BATCH);
    this.afterId = stale.length === BATCH ? stale[stale.length - 1].id : '';
    let enqueued = 0;
    for (const delivery of stale) {
      const outcome = await this.queues.requeue(enqueueRequest({ ...delivery, priority: delivery.event.priority }, delivery.destination.retryPolicy), false);
      if (outcome === 'added') enqueued += 1;
    }
    if (enqueued > 0) {
      this.metrics.reenqueued.inc(enqueued);
      this.logger.log(`Enqueued ${enqueued} deliveries that had no job`);
    }
    return enqueued;
  }
}
