import { ApiClient, createTestOrganization, createWebhook, eventually, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { createDatabase, Database } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { WorkerHttp } from '../apps/worker/src/operations/worker-http';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

type Outcome = 'delivered' | 'retry' | 'failed' | 'gone';

/** The value of sample `name` whose labels include `labels`, in Prometheus text; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return 0;
}

const EMPTY = { delivered: 0, failed: 0, retried: 0, p50Ms: null, p95Ms: null };

describe('GET /v1/metrics/deliveries over attempts written at known times', () => {
  const system = useSystem({ worker: false });
  let database: Database;
  let destinationA: string;
  let destinationB: string;

  /** Records one attempt of a new delivery of `destinationId` (sent with `client`), started at `at`. */
  async function attempt(client: ApiClient, destinationId: string, at: string, outcome: Outcome, durationMs: number): Promise<void> {
    const accepted = await sendEvent(client, { id: uniqueId('evt_metrics'), type: 'metrics.known', destinations: [destinationId] });
    await database.prisma.attempt.create({
      data: { id: newId('att'), deliveryId: accepted.deliveries[0].id, number: 1, trigger: 'scheduled', startedAt: new Date(at), durationMs, outcome },
    });
  }

  const metrics = async (query: string) => system.client.get(`/v1/metrics/deliveries?${query}`);

  beforeAll(async () => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
    destinationA = (await createWebhook(system.client, 'http://127.0.0.1:9/a', { eventTypes: ['nobody.*'] })).id;
    destinationB = (await createWebhook(system.client, 'http://127.0.0.1:9/b', { eventTypes: ['nobody.*'] })).id;
    const a = (at: string, outcome: Outcome, ms: number) => attempt(system.client, destinationA, at, outcome, ms);
    const b = (at: string, outcome: Outcome, ms: number) => attempt(system.client, destinationB, at, outcome, ms);
    await a('2026-01-10T09:59:59.999Z', 'delivered', 5); // before the range
    await a('2026-01-10T10:05:00Z', 'delivered', 100);
    await a('2026-01-10T10:10:00Z', 'delivered', 200);
    await a('2026-01-10T10:20:00Z', 'delivered', 300);
    await a('2026-01-10T10:30:00Z', 'delivered', 400);
    await a('2026-01-10T10:40:00Z', 'retry', 50);
    await a('2026-01-10T10:45:00Z', 'failed', 60);
    await b('2026-01-10T12:15:00Z', 'delivered', 1000);
    await b('2026-01-10T12:16:00Z', 'gone', 10);
    await b('2026-01-10T12:17:00Z', 'retry', 20);
    await a('2026-01-10T13:00:00Z', 'delivered', 7); // at `until`: after the range
    await a(new Date(Date.now() - 3_600_000).toISOString(), 'delivered', 42); // an hour ago
    await a(new Date(Date.now() - 25 * 3_600_000).toISOString(), 'failed', 43); // a day and an hour ago

    // Another organization's attempt in the same hour never counts here.
    const other = await createTestOrganization(system.config.databaseUrl);
    const otherClient = new ApiClient(system.url, other.adminKey);
    const otherDestination = (await createWebhook(otherClient, 'http://127.0.0.1:9/other', { eventTypes: ['nobody.*'] })).id;
    await attempt(otherClient, otherDestination, '2026-01-10T10:07:00Z', 'delivered', 9_999);
  });

  afterAll(async () => {
    await database?.close();
  });

  it('counts per hour the deliveries delivered and failed, the attempts retried, and p50/p95 of delivered attempts; empty hours included', async () => {
    const answer = await metrics('since=2026-01-10T10:00:00Z&until=2026-01-10T13:00:00Z&bucket=hour');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      buckets: [
        // p95 of 100, 200, 300, 400 ms, interpolated: 300 + 0.85 × 100.
        { start: '2026-01-10T10:00:00.000Z', delivered: 4, failed: 1, retried: 1, p50Ms: 250, p95Ms: 385 },
        { start: '2026-01-10T11:00:00.000Z', ...EMPTY },
        // `gone` (the receiver is gone) makes a dead letter as `failed` does.
        { start: '2026-01-10T12:00:00.000Z', delivered: 1, failed: 1, retried: 1, p50Ms: 1000, p95Ms: 1000 },
      ],
      totals: { delivered: 5, failed: 2, retried: 2 },
    });
  });

  it("narrows to one destination's deliveries with destinationId", async () => {
    const answer = await metrics(`destinationId=${destinationA}&since=2026-01-10T10:00:00Z&until=2026-01-10T13:00:00Z`);
    expect(answer.status).toBe(200);
    expect(answer.body.buckets.map((bucket: { delivered: number; failed: number; retried: number }) => [bucket.delivered, bucket.failed, bucket.retried])).toEqual([
      [4, 1, 1],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(answer.body.totals).toEqual({ delivered: 4, failed: 1, retried: 1 });
    const onlyB = await metrics(`destinationId=${destinationB}&since=2026-01-10T10:00:00Z&until=2026-01-10T13:00:00Z`);
    expect(onlyB.body.totals).toEqual({ delivered: 1, failed: 1, retried: 1 });
  });

  it('answers minute buckets, every minute of the range, and counts only attempts within since and until in partial buckets', async () => {
    const minutes = await metrics('since=2026-01-10T10:00:00Z&until=2026-01-10T10:11:00Z&bucket=minute');
    expect(minutes.status).toBe(200);
    expect(minutes.body.buckets).toHaveLength(11);
    expect(minutes.body.buckets[0]).toEqual({ start: '2026-01-10T10:00:00.000Z', ...EMPTY });
    expect(minutes.body.buckets[5]).toEqual({ start: '2026-01-10T10:05:00.000Z', delivered: 1, failed: 0, retried: 0, p50Ms: 100, p95Ms: 100 });
    expect(minutes.body.buckets[10]).toEqual({ start: '2026-01-10T10:10:00.000Z', delivered: 1, failed: 0, retried: 0, p50Ms: 200, p95Ms: 200 });
    expect(minutes.body.totals).toEqual({ delivered: 2, failed: 0, retried: 0 });

    // The hour buckets start on whole hours; the first and last only hold what is in the range.
    const partial = await metrics('since=2026-01-10T10:30:00Z&until=2026-01-10T12:16:00Z');
    expect(partial.body.buckets).toEqual([
      { start: '2026-01-10T10:00:00.000Z', delivered: 1, failed: 1, retried: 1, p50Ms: 400, p95Ms: 400 },
      { start: '2026-01-10T11:00:00.000Z', ...EMPTY },
      { start: '2026-01-10T12:00:00.000Z', delivered: 1, failed: 0, retried: 0, p50Ms: 1000, p95Ms: 1000 },
    ]);
  });

  it('covers the last 24 hours by hour without since and until', async () => {
    const before = Date.now();
    const answer = await metrics('');
    expect(answer.status).toBe(200);
    expect(answer.body.totals).toEqual({ delivered: 1, failed: 0, retried: 0 });
    const starts: number[] = answer.body.buckets.map((bucket: { start: string }) => Date.parse(bucket.start));
    expect(starts.length === 24 || starts.length === 25).toBe(true);
    expect(starts.every((start, index) => index === 0 || start - starts[index - 1] === 3_600_000)).toBe(true);
    expect(starts[0]).toBeLessThanOrEqual(before - 24 * 3_600_000);
    expect(starts[0]).toBeGreaterThan(before - 25 * 3_600_000);
    expect(answer.body.buckets.find((bucket: { delivered: number }) => bucket.delivered === 1)).toMatchObject({ p50Ms: 42, p95Ms: 42 });
  });

  it('answers a day of minute buckets, and refuses a longer range with a 400 naming bucket', async () => {
    const day = await metrics('since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:00Z&bucket=minute');
    expect(day.status).toBe(200);
    expect(day.body.buckets).toHaveLength(1440);
    expect(day.body.totals).toEqual({ delivered: 7, failed: 2, retried: 2 });
    const more = await metrics('since=2026-01-10T00:00:00Z&until=2026-01-11T00:00:01Z&bucket=minute');
    expect(more.status).toBe(400);
    expect(more.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(more.body.details).toEqual([{ path: 'query.bucket', message: expect.stringContaining('at most 24 hours') }]);
    expect(more.body.message).toContain('bucket=hour');
    // The default day, which starts within a minute, touches one minute more.
    const lastDay = await metrics('bucket=minute');
    expect(lastDay.status).toBe(200);
    expect([1440, 1441]).toContain(lastDay.body.buckets.length);
    expect(lastDay.body.totals).toEqual({ delivered: 1, failed: 0, retried: 0 });
  });

  it.each([
    ['a time that is not ISO-8601', 'since=yesterday', 'query.since'],
    ['a bad until', 'until=2026-13-45T00:00:00Z', 'query.until'],
    ['since after until', 'since=2026-01-10T12:00:00Z&until=2026-01-10T10:00:00Z', 'query.since'],
    ['since equal to until', 'since=2026-01-10T12:00:00Z&until=2026-01-10T12:00:00Z', 'query.since'],
    ['an unknown bucket', 'bucket=day', 'query.bucket'],
    ['more than 60 days of hour buckets', 'since=2025-11-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'query.bucket'],
    ['an unknown parameter', 'destination=dst_x', 'query'],
  ])('refuses %s with a 400 naming the parameter', async (_what, query, path) => {
    const answer = await metrics(query);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(answer.body.details.map((detail: { path: string }) => detail.path)).toEqual([path]);
  });

  it('is described in the OpenAPI document with its query parameters', async () => {
    const docs = (await system.client.get('/docs-json')).body;
    const operation = docs.paths['/v1/metrics/deliveries'].get;
    expect(operation.parameters.map((parameter: { name: string; in: string }) => `${parameter.in}.${parameter.name}`).sort()).toEqual([
      'query.bucket',
      'query.destinationId',
      'query.since',
      'query.until',
    ]);
    expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '404']);
  });

  it("answers 404 for a destination that is not the organization's", async () => {
    const unknown = await metrics('destinationId=dst_nothere');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject(errorShape(404, 'Not Found'));
  });
});

describe('delivery metrics of deliveries made by the worker: the API route and Prometheus on the API and the worker', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('counts what the receiver answered 200 and 500, in the route and in dispatch_events_* and dispatch_delivery_duration_seconds', async () => {
    const started = new Date();
    const apiBefore = (await system.client.get('/metrics')).body as string;
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, {
      eventTypes: ['nobody.*'],
      retryPolicy: { maxAttempts: 2, schedule: [200], jitter: 0 },
    });
    receiver.answer((request) => ({ status: String(request.headers['webhook-id']).startsWith('evt_bad') ? 500 : 200 }));
    const ids: string[] = [];
    for (const id of ['evt_good_1', 'evt_good_2', 'evt_good_3', 'evt_bad_1']) {
      ids.push((await sendEvent(system.client, { id, type: 'metrics.live', destinations: [destination.id] })).deliveries[0].id);
    }
    // A batch of two, one of them an id received before: received counts both, accepted one.
    const batch = await system.client.post('/v1/events/batch', {
      events: [
        { id: 'evt_good_1', type: 'metrics.live', data: {}, destinations: [destination.id] },
        { id: 'evt_good_4', type: 'metrics.live', data: {}, destinations: [destination.id] },
      ],
    });
    expect(batch.status).toBe(202);
    ids.push(batch.body.events[1].deliveries[0].id);
    await Promise.all(ids.filter((_id, index) => index !== 3).map((id) => waitForDelivery(system.client, id, 'delivered', 15_000)));
    await waitForDelivery(system.client, ids[3], 'failed', 15_000);

    const route = await system.client.get(
      `/v1/metrics/deliveries?destinationId=${destination.id}&bucket=minute&since=${new Date(started.getTime() - 60_000).toISOString()}`,
    );
    expect(route.status).toBe(200);
    expect(route.body.totals).toEqual({ delivered: 4, failed: 1, retried: 1 });
    const withDelivered = route.body.buckets.filter((bucket: { delivered: number }) => bucket.delivered > 0);
    expect(withDelivered.length).toBeGreaterThan(0);
    for (const bucket of withDelivered) {
      expect(bucket.p50Ms).toEqual(expect.any(Number));
      expect(bucket.p95Ms).toBeGreaterThanOrEqual(bucket.p50Ms);
    }

    const apiAfter = (await system.client.get('/metrics')).body as string;
    expect(apiAfter).toContain('# TYPE dispatch_events_received_total counter\n');
    expect(sample(apiAfter, 'dispatch_events_received_total') - sample(apiBefore, 'dispatch_events_received_total')).toBe(6);
    expect(sample(apiAfter, 'dispatch_events_accepted_total') - sample(apiBefore, 'dispatch_events_accepted_total')).toBe(5);

    const port = system.worker!.get(WorkerHttp).port;
    // The counters move before a delivered attempt's record is written; the failed one was recorded first.
    const worker = await eventually(
      async () => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return sample(text, 'dispatch_events_failed_total', { kind: 'webhook', outcome: 'failed' }) === 1 ? text : undefined;
      },
      10_000,
      'the dead letter counted',
    );
    for (const family of [
      'dispatch_events_delivered_total counter',
      'dispatch_events_failed_total counter',
      'dispatch_events_retrying_total counter',
      'dispatch_delivery_duration_seconds histogram',
    ]) {
      expect(worker).toContain(`# TYPE ${family}\n`);
    }
    expect(sample(worker, 'dispatch_events_delivered_total', { kind: 'webhook' })).toBe(4);
    expect(sample(worker, 'dispatch_events_retrying_total', { kind: 'webhook' })).toBe(1);
    expect(sample(worker, 'dispatch_events_failed_total', { kind: 'webhook', outcome: 'gone' })).toBe(0);
    expect(sample(worker, 'dispatch_delivery_duration_seconds_count', { kind: 'webhook', outcome: 'delivered' })).toBe(4);
    expect(sample(worker, 'dispatch_delivery_duration_seconds_count', { kind: 'webhook', outcome: 'retry' })).toBe(1);
    expect(sample(worker, 'dispatch_delivery_duration_seconds_count', { kind: 'webhook', outcome: 'failed' })).toBe(1);
    expect(sample(worker, 'dispatch_delivery_duration_seconds_sum', { kind: 'webhook', outcome: 'delivered' })).toBeGreaterThan(0);
    // No series is labelled by destination, but for the bounded gauge of the destinations failing most.
    expect(worker.split('\n').filter((line) => line.includes(destination.id) && !line.startsWith('dispatch_destination_consecutive_failures{'))).toEqual([]);
  }, 60_000);
});
