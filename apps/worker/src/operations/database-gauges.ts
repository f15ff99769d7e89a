import { Injectable, Logger } from '@nestjs/common';
import { DestinationHealthRepository } from '@dispatch/db';
import { FAILING_TOP, FAILING_WINDOW_MS, WorkerMetrics } from './worker-metrics';

/** Values read this recently are shown again rather than read anew (Prometheus servers that scrape together read once). */
export const FRESH_MS = 1_000;
/** A scrape waits this long for the database at most, then shows the values read before. */
export const READ_TIMEOUT_MS = 2_000;
/** The same failed read is logged once in this period. */
const WARN_EVERY_MS = 30_000;

/**
 * The gauges read from the database when the worker's metrics are scraped: the backlog by
 * status (`dispatch_deliveries_backlog`) and the destinations failing most
 * (`dispatch_destination_consecutive_failures`). Both are two small statements: a count over
 * an index of the open deliveries, and the top rows of the health table (one per destination,
 * kept with the attempts), so their cost does not grow with the rate of attempts.
 *
 * A read slower than READ_TIMEOUT_MS or one that fails leaves the values read before (the
 * scrape is answered in time); one read runs at a time.
 */
@Injectable()
export class DatabaseGauges {
  private readonly logger = new Logger(DatabaseGauges.name);
  private reading: Promise<void> | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private warnedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly metrics: WorkerMetrics,
    private readonly health: DestinationHealthRepository,
  ) {
    metrics.collectWith(() => this.refresh());
  }

  /** Brings the gauges up to date, unless they were read less than FRESH_MS ago; never rejects. */
  async refresh(now: number = Date.now()): Promise<void> {
    if (!this.reading && now - this.readAt >= FRESH_MS) {
      this.readAt = now;
      this.reading = this.read(now).finally(() => (this.reading = undefined));
    }
    const reading = this.reading;
    if (!reading) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([reading, new Promise<void>((resolve) => (timer = setTimeout(resolve, READ_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  private async read(now: number): Promise<void> {
    try {
      const [backlog, failing] = await Promise.all([this.health.backlogByStatus(), this.health.mostConsecutiveFailures(new Date(now - FAILING_WINDOW_MS), FAILING_TOP)]);
      for (const [status, count] of Object.entries(backlog)) this.metrics.backlog.set({ status }, count);
      // A destination that left the top (or stopped failing) loses its series.
      this.metrics.failingDestinations.reset();
      for (const { destinationId, consecutiveFailures } of failing) this.metrics.failingDestinations.set({ destination: destinationId }, consecutiveFailures);
    } catch (error) {
      if (Date.now() - this.warnedAt < WARN_EVERY_MS) return;
      this.warnedAt = Date.now();
      this.logger.warn(`Metrics read from the database kept as they were: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
