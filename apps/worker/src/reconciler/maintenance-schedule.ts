import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { MAINTENANCE_QUEUE } from '@dispatch/queue';
import { ALERTS_JOB } from '../alerts/evaluate-alerts';
import { RETENTION_JOB } from './retention-sweep';

/**
 * Keeps the reconciler's, the alert evaluation's and retention's job schedulers in Redis (retention's is removed while
 * DISPATCH_RETENTION_DAYS is 0). They are written again every period, so a Redis that lost its
 * data gets them back without a restart; an unchanged `every` keeps its next run. (Connection
 * errors are reported once by the shared connection; this queue's copies of them are dropped.)
 */
@Injectable()
export class MaintenanceSchedule implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(MaintenanceSchedule.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @InjectQueue(MAINTENANCE_QUEUE) private readonly queue: Queue,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.queue.on('error', () => undefined);
    await this.upsert();
    this.timer = setInterval(() => void this.upsert().catch((error: Error) => this.logger.warn(error.message)), this.config.worker.reconcileMs);
  }

  private async upsert(): Promise<void> {
    await this.queue.upsertJobScheduler(
      'reconcile',
      { every: this.config.worker.reconcileMs },
      { name: 'reconcile', opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
    await this.queue.upsertJobScheduler(ALERTS_JOB, { every: this.config.alerts.evaluateMs }, { name: ALERTS_JOB, opts: { removeOnComplete: 100, removeOnFail: 100 } });
    if (this.config.retention.days === 0) {
      await this.queue.removeJobScheduler(RETENTION_JOB);
    } else {
      await this.queue.upsertJobScheduler(
        RETENTION_JOB,
        { every: this.config.retention.sweepMs },
        { name: RETENTION_JOB, opts: { removeOnComplete: 100, removeOnFail: 100 } },
      );
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}
