import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Queue } from 'bullmq';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DeadLetter, DownloadLinkRepository, FileRepository, IngestRejectionRepository, RETENTION_START, RetentionCursor, RetentionRepository } from '@dispatch/db';
import { FILE_STORE, FileStore } from '@dispatch/destinations';
import { DeliveryQueues, MAINTENANCE_QUEUE } from '@dispatch/queue';

/** The name of the maintenance queue's retention jobs (its scheduler's and a continuation's). */
export const RETENTION_JOB = 'retention';

const DAY_MS = 86_400_000;

/** How long one retention job works before it makes way for the reconciler on the same queue. */
export const RETENTION_RUN_MS = 5_000;

export type RetentionReport = {
  events: number;
  deliveries: number;
  attempts: number;
  replays: number;
  files: number;
  downloadLinks: number;
  rejected: number;
  finished: boolean;
};

/** Where an unfinished sweep goes on: the organizations left, the first at `cursor`. */
type Progress = { organizationIds: string[]; cursor: RetentionCursor };

/**
 * Removes history older than DISPATCH_RETENTION_DAYS (0: keeps it forever), as a job of the
 * maintenance queue: organization by organization, a batch of DISPATCH_RETENTION_BATCH events
 * to a short transaction (see RetentionRepository for what is removed and what is kept),
 * yielding between batches. The failed jobs of removed dead letters leave their queues too, and
 * so do uploaded files older than the period that no kept event names (row, then bytes), and
 * download links that expired before the period, with their logs. A job works for at most RETENTION_RUN_MS, then queues another
 * that goes on where it stopped, behind the reconciler's jobs waiting by then. Once every
 * organization is done, rejected messages of the ingest stream older than the period go too.
 */
@Injectable()
export class RetentionSweep {
  private readonly logger = new Logger(RetentionSweep.name);
  private progress: Progress | undefined;

  constructor(
    private readonly repository: RetentionRepository,
    private readonly queues: DeliveryQueues,
    @InjectQueue(MAINTENANCE_QUEUE) private readonly queue: Queue,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    private readonly rejections: IngestRejectionRepository,
    private readonly files: FileRepository,
    @Inject(FILE_STORE) private readonly store: FileStore,
    private readonly downloadLinks: DownloadLinkRepository,
  ) {}

  async run(): Promise<RetentionReport> {
    const report: RetentionReport = { events: 0, deliveries: 0, attempts: 0, replays: 0, files: 0, downloadLinks: 0, rejected: 0, finished: true };
    const { days, batch } = this.config.retention;
    if (days === 0) return report;
    const started = Date.now();
    const cutoff = new Date(started - days * DAY_MS);
    const progress = this.progress ?? { organizationIds: await this.repository.organizationIds(), cursor: RETENTION_START };
    this.progress = undefined;
    while (progress.organizationIds.length > 0) {
      const organizationId = progress.organizationIds[0];
      const removed = await this.repository.removeEvents(organizationId, cutoff, progress.cursor, batch);
      report.events += removed.removed.events;
      report.deliveries += removed.removed.deliveries;
      report.attempts += removed.removed.attempts;
      await this.discardJobs(removed.deadLetters);
      if (removed.scanned < batch || removed.next === null) {
        report.replays += await this.removeReplays(organizationId, cutoff, batch);
        report.files += await this.removeFiles(organizationId, cutoff, batch);
        progress.organizationIds.shift();
        progress.cursor = RETENTION_START;
      } else {
        progress.cursor = removed.next;
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (progress.organizationIds.length > 0 && Date.now() - started >= RETENTION_RUN_MS) {
        this.progress = progress;
        await this.queue.add(RETENTION_JOB, {}, { removeOnComplete: 100, removeOnFail: 100 });
        report.finished = false;
        break;
      }
    }
    if (report.finished) {
      report.rejected = await this.removeRejections(cutoff, batch);
      report.downloadLinks = await this.removeDownloadLinks(cutoff, batch);
    }
    if (report.events > 0 || report.replays > 0 || report.files > 0 || report.downloadLinks > 0 || report.rejected > 0) {
      this.logger.log(
        `Removed ${report.events} events, ${report.deliveries} deliveries, ${report.attempts} attempts, ${report.replays} replays, ${report.files} files, ${report.downloadLinks} download links and ${report.rejected} rejected ingest messages older than ${days} days` +
          (report.finished ? '' : ' (going on in the next job)'),
      );
    }
    return report;
  }

  /** Best effort: a job left behind (Redis answered an error) only shows in Bull Board, for a delivery that is gone. */
  private async discardJobs(deadLetters: readonly DeadLetter[]): Promise<void> {
    try {
      for (const letter of deadLetters) await this.queues.discard(letter.destinationId, letter.id);
    } catch (error) {
      this.logger.warn(`Could not remove the failed jobs of removed dead letters: ${(error as Error).message}`);
    }
  }

  private async removeReplays(organizationId: string, cutoff: Date, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const removed = await this.repository.removeReplays(organizationId, cutoff, batch);
      total += removed;
      if (removed < batch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The files older than the period no kept event names: rows first, so no new event can name a file whose bytes are going. */
  private async removeFiles(organizationId: string, cutoff: Date, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const removed = await this.files.removeUnnamed(organizationId, cutoff, batch);
      for (const id of removed) await this.store.remove(id);
      total += removed.length;
      if (removed.length < batch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async removeDownloadLinks(cutoff: Date, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const { removed, files } = await this.downloadLinks.removeExpiredBefore(cutoff, batch);
      for (const id of files) await this.store.remove(id);
      total += removed;
      if (removed < batch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async removeRejections(cutoff: Date, batch: number): Promise<number> {
    let total = 0;
    for (;;) {
      const removed = await this.rejections.removeOlderThan(cutoff, batch);
      total += removed;
      if (removed < batch) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
