import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AttemptObserver, AttemptObservers, AttemptReport } from '../delivery/attempt-observers';

/** How many of the destinations failing most `dispatch_destination_consecutive_failures` shows. */
export const FAILING_TOP = 10;
/** A destination counts as failing now when its last failed attempt is this recent. */
export const FAILING_WINDOW_MS = 15 * 60_000;

/** Prometheus metrics of the worker process; it counts attempts as an attempt observer. */
@Injectable()
export class WorkerMetrics implements AttemptObserver {
  readonly registry = new Registry();
  readonly attempts = new Counter({
    name: 'dispatch_attempts_total',
    help: 'Delivery attempts by destination kind and outcome (delivered, retry, failed, gone)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly acceptToDelivered = new Histogram({
    name: 'dispatch_accept_to_delivered_seconds',
    help: 'Time from event accepted to its delivery answered 2xx (first attempt or later)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600],
    registers: [this.registry],
  });
  // Seen from the deliveries: one event sent to two destinations is two deliveries. Labelled by
  // destination kind (and outcome) only, never by destination: thousands of destinations must
  // not make thousands of series.
  readonly delivered = new Counter({
    name: 'dispatch_events_delivered_total',
    help: 'Deliveries delivered (an attempt answered success), by destination kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly failed = new Counter({
    name: 'dispatch_events_failed_total',
    help: 'Deliveries that became dead letters, by destination kind and outcome (failed: permanent or out of attempts; gone: the receiver is gone)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly retrying = new Counter({
    name: 'dispatch_events_retrying_total',
    help: 'Attempts that failed and scheduled a retry, by destination kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly deliveryDuration = new Histogram({
    name: 'dispatch_delivery_duration_seconds',
    help: 'Delivery attempt latency, by destination kind and outcome (delivered, retry, failed, gone)',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  /** Labelled by condition and change only (5 × 3 series), never by destination. */
  readonly alertChanges = new Counter({
    name: 'dispatch_alert_changes_total',
    help: 'Alerts opened, escalated and resolved by the alert evaluation, by condition',
    labelNames: ['condition', 'change'] as const,
    registers: [this.registry],
  });
  readonly ingestMessages = new Counter({
    name: 'dispatch_ingest_messages_total',
    help: 'Messages of the NATS ingest stream by outcome: ingested (a new event), duplicate (its id was accepted before), rejected (kept, never to be ingested), retried (delivered again later)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly runningWorkers = new Gauge({ name: 'dispatch_queue_workers', help: 'Destination queues with a running BullMQ worker', registers: [this.registry] });
  /** Labelled by source only (never the destination: thousands of them). */
  readonly rateLimiterRejections = new Counter({
    name: 'dispatch_rate_limiter_rejections_total',
    help: "Times a destination's rate limit held sends back (source=worker: a queue's worker waited for the next window)",
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly reenqueued = new Counter({
    name: 'dispatch_reconciler_enqueued_total',
    help: 'Deliveries the reconciler found without a job and enqueued again',
    registers: [this.registry],
  });
  // A series only for each destination whose circuit is not closed (removed when it closes), so
  // thousands of healthy destinations add none. Every worker process shows the same circuits.
  readonly circuitState = new Gauge({
    name: 'dispatch_circuit_breaker_state',
    help: 'Circuit breaker state of destinations whose circuit is not closed (1 half-open, 2 open); a closed circuit (0) has no series',
    labelNames: ['destination'] as const,
    registers: [this.registry],
  });
  readonly circuitTrips = new Counter({
    name: 'dispatch_circuit_breaker_trips_total',
    help: 'Times a destination circuit opened (from closed or half-open), counted by the worker process that opened it',
    registers: [this.registry],
  });

  // Read from the database when scraped (DatabaseGauges), so every worker process shows the
  // same values: a dashboard takes their max, not their sum.
  readonly backlog = new Gauge({
    name: 'dispatch_deliveries_backlog',
    help: 'Open deliveries of every destination by status (pending: before their first attempt; retrying: waiting for a retry; delivering: an attempt under way), read from the database',
    labelNames: ['status'] as const,
    registers: [this.registry],
    collect: () => this.collectFromDatabase(),
  });
  /**
   * The destinations failing most, bounded: a series only for each of the few (FAILING_TOP)
   * with the most failures in a row among those that failed recently, so thousands of
   * destinations never make thousands of series.
   */
  readonly failingDestinations = new Gauge({
    name: 'dispatch_destination_consecutive_failures',
    help: `Failures in a row of the ${FAILING_TOP} destinations with the most among those with a failed attempt in the last ${FAILING_WINDOW_MS / 60_000} minutes (no series for the others), read from the database`,
    labelNames: ['destination'] as const,
    registers: [this.registry],
    collect: () => this.collectFromDatabase(),
  });
  private collectFromDatabase: () => Promise<void> = () => Promise.resolve();

  constructor(observers: AttemptObservers) {
    collectDefaultMetrics({ register: this.registry, prefix: 'dispatch_worker_' });
    observers.subscribe(this);
  }

  /** What brings the gauges read from the database up to date; awaited when they are collected (a scrape). */
  collectWith(collect: () => Promise<void>): void {
    this.collectFromDatabase = collect;
  }

  attempted({ destination, result, outcome, delivery }: AttemptReport): void {
    this.attempts.inc({ kind: destination.kind.kind, outcome: outcome.kind });
    this.deliveryDuration.observe({ kind: destination.kind.kind, outcome: outcome.kind }, result.durationMs / 1000);
    if (outcome.kind === 'delivered') this.delivered.inc({ kind: destination.kind.kind });
    else if (outcome.kind === 'retry') this.retrying.inc({ kind: destination.kind.kind });
    else this.failed.inc({ kind: destination.kind.kind, outcome: outcome.kind });
    if (outcome.kind === 'delivered') this.acceptToDelivered.observe((Date.now() - delivery.event.receivedAt.getTime()) / 1000);
  }
}
