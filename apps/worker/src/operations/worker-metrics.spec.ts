import type { ClaimedDelivery } from '@dispatch/db';
import type { DestinationSettings, SendResult } from '@dispatch/destinations';
import type { AttemptOutcome } from '@dispatch/domain';
import { AttemptObservers } from '../delivery/attempt-observers';
import { WorkerMetrics } from './worker-metrics';

// The metrics take only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({}));

function setup() {
  const mocks = { observers: new AttemptObservers() };
  const sut = new WorkerMetrics(mocks.observers);
  /** Tells the observers about one attempt of a destination of `kind` that took `durationMs`. */
  const attempt = (kind: string, outcome: AttemptOutcome, durationMs: number) =>
    mocks.observers.notify({
      destination: { id: 'dst_1', kind: { kind } } as unknown as DestinationSettings,
      delivery: { id: 'dlv_1', event: { receivedAt: new Date() } } as unknown as ClaimedDelivery,
      attemptId: 'att_1',
      result: { durationMs } as SendResult,
      outcome,
    });
  /** The value of sample `name` (a histogram's `_count` and `_sum` too) whose labels include `labels`; 0 when absent. */
  const value = async (name: string, labels: Record<string, string>) => {
    const samples = (await sut.registry.getMetricsAsJSON()).flatMap((metric) =>
      metric.values.map((one) => ({ ...one, name: (one as { metricName?: string }).metricName ?? metric.name })),
    );
    const found = samples.find((one) => one.name === name && Object.entries(labels).every(([key, label]) => one.labels[key] === label));
    return found?.value ?? 0;
  };
  return { sut, mocks, attempt, value };
}

describe('WorkerMetrics, the delivery counters', () => {
  it('counts delivered, retrying and dead-lettered deliveries by kind, a gone receiver apart from a failure, and their durations', async () => {
    const { attempt, value } = setup();
    attempt('webhook', { kind: 'delivered' }, 120);
    attempt('webhook', { kind: 'delivered' }, 80);
    attempt('email', { kind: 'delivered' }, 900);
    attempt('webhook', { kind: 'retry', delayMs: 1000, reason: 'HTTP 500' }, 30);
    attempt('webhook', { kind: 'failed', reason: 'HTTP 400' }, 10);
    attempt('webhook', { kind: 'gone', reason: 'HTTP 410' }, 5);

    expect(await value('dispatch_events_delivered_total', { kind: 'webhook' })).toBe(2);
    expect(await value('dispatch_events_delivered_total', { kind: 'email' })).toBe(1);
    expect(await value('dispatch_events_retrying_total', { kind: 'webhook' })).toBe(1);
    expect(await value('dispatch_events_failed_total', { kind: 'webhook', outcome: 'failed' })).toBe(1);
    expect(await value('dispatch_events_failed_total', { kind: 'webhook', outcome: 'gone' })).toBe(1);
    expect(await value('dispatch_delivery_duration_seconds_count', { kind: 'webhook', outcome: 'delivered' })).toBe(2);
    expect(await value('dispatch_delivery_duration_seconds_sum', { kind: 'webhook', outcome: 'delivered' })).toBeCloseTo(0.2);
    expect(await value('dispatch_delivery_duration_seconds_count', { kind: 'webhook', outcome: 'gone' })).toBe(1);
  });

  it('keeps one series per kind however many destinations it delivers to: no destination label', async () => {
    const { sut, mocks, value } = setup();
    for (let i = 0; i < 200; i += 1) {
      mocks.observers.notify({
        destination: { id: `dst_${i}`, kind: { kind: 'webhook' } } as unknown as DestinationSettings,
        delivery: { id: `dlv_${i}`, destinationId: `dst_${i}`, event: { receivedAt: new Date() } } as unknown as ClaimedDelivery,
        attemptId: `att_${i}`,
        result: { durationMs: 10 } as SendResult,
        outcome: { kind: 'delivered' },
      });
    }
    expect(await value('dispatch_events_delivered_total', { kind: 'webhook' })).toBe(200);
    const metrics = (await sut.registry.getMetricsAsJSON()).filter((metric) => /^dispatch_(events|delivery)_/.test(metric.name));
    expect(metrics.find((metric) => metric.name === 'dispatch_events_delivered_total')?.values).toHaveLength(1);
    expect((await sut.registry.metrics()).includes('dst_')).toBe(false);
  });
});
