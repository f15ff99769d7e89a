import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { ApiClient, createTestOrganization, createWebhook, Json, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { createWorker } from '../apps/worker/src/worker';
import { useReceiver, useSystem } from './system';

/** A loopback port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const CATEGORIES = ['receiver_4xx', 'receiver_5xx', 'timeout_or_network', 'egress_refused', 'configuration'];

/**
 * Dead letters of every failure category, each made for real: a receiver answering 404 and
 * 503, a closed port and a receiver slower than the attempt timeout, an address the egress guard
 * refuses when connecting (a worker that allows only a documentation range, which nothing here
 * resolves to, so the guard refuses `localhost`), and a websocket subject template the event
 * cannot fill. Then grouped, previewed and replayed by category.
 */
describe('dead letters by failure category', () => {
  const system = useSystem({ env: { DISPATCH_WEBHOOK_TIMEOUT_MS: '1000' } });
  const receiver = useReceiver();
  const once = { retryPolicy: { maxAttempts: 1 } };
  let destinations: Record<string, Json>;
  /** The dead letters made, by category: delivery and event ids. */
  const made: Record<string, { deliveryId: string; eventId: string; destinationId: string }[]> = {};
  let egressEventId: string;

  async function deadLetter(category: string, destinationId: string, event: Record<string, unknown> = {}): Promise<void> {
    const eventId = uniqueId('evt_dead');
    const accepted = await sendEvent(system.client, {
      id: eventId,
      type: 'dead.letter',
      data: { note: `${category} — ${eventId}` },
      ...event,
      destinations: [destinationId],
    });
    (made[category] ??= []).push({ deliveryId: accepted.deliveries[0].id, eventId, destinationId });
  }

  async function categories(query = ''): Promise<Json[]> {
    const answer = await system.client.get(`/v1/dead-letters/categories${query}`);
    expect(answer.status).toBe(200);
    return answer.body.data;
  }

  const categoryOf = (rows: Json[], category: string) => rows.find((row) => row.category === category);

  async function bytesOf(category: string): Promise<number> {
    let sum = 0;
    for (const { eventId } of made[category]) sum += (await system.client.get(`/v1/events/${eventId}`)).body.dataBytes;
    return sum;
  }

  beforeAll(async () => {
    const hook = `${receiver.url}/hook`;
    destinations = {
      notFound: await createWebhook(system.client, hook, { name: 'answers 404', ...once }),
      unavailable: await createWebhook(system.client, hook, { name: 'answers 503', ...once }),
      closed: await createWebhook(system.client, `http://127.0.0.1:${await closedPort()}/hook`, { name: 'closed port', ...once }),
      slow: await createWebhook(system.client, hook, { name: 'slower than the timeout', ...once }),
      refused: await createWebhook(system.client, `http://localhost:${new URL(receiver.url).port}/hook`, { name: 'named localhost', ...once }),
    };
    const devices = await system.client.post('/v1/destinations', {
      name: 'devices',
      kind: 'websocket',
      config: { subject: '{data.user_id}' },
      eventTypes: ['*'],
      ...once,
    });
    expect(devices.status).toBe(201);
    destinations.devices = devices.body;

    // 404 then 200: the replay of the 4xx group delivers them.
    for (let i = 0; i < 2; i++) await deadLetter('receiver_4xx', destinations.notFound.id);
    for (const { eventId } of made.receiver_4xx) receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 404, body: 'no such hook' } : { status: 200 }));
    await deadLetter('receiver_5xx', destinations.unavailable.id);
    receiver.answerEvent(made.receiver_5xx[0].eventId, () => ({ status: 503, body: 'down' }));
    for (let i = 0; i < 2; i++) await deadLetter('timeout_or_network', destinations.closed.id);
    const slowId = uniqueId('evt_slow');
    receiver.answerEvent(slowId, () => ({ status: 200, delayMs: 3_000 }));
    const slow = await sendEvent(system.client, { id: slowId, type: 'dead.letter', data: { note: 'slow' }, destinations: [destinations.slow.id] });
    made.timeout_or_network.push({ deliveryId: slow.deliveries[0].id, eventId: slowId, destinationId: destinations.slow.id });
    await deadLetter('configuration', destinations.devices.id, { data: { note: 'no user_id here' } });
    for (const [category, letters] of Object.entries(made)) {
      for (const { deliveryId } of letters)
        expect({ category, delivery: (await waitForDelivery(system.client, deliveryId, 'failed')).failureCategory }).toEqual({ category, delivery: category });
    }

    // The egress guard refuses localhost when connecting: a worker that allows only 192.0.2.0/24.
    await system.stopWorker();
    let refusing: INestApplicationContext | undefined;
    try {
      refusing = await createWorker({ ...system.config, egressAllow: ['192.0.2.0/24'] });
      await deadLetter('egress_refused', destinations.refused.id);
      egressEventId = made.egress_refused[0].eventId;
      const failed = await waitForDelivery(system.client, made.egress_refused[0].deliveryId, 'failed');
      expect(failed.attempts).toEqual([
        expect.objectContaining({ statusCode: null, error: expect.stringMatching(/^connection error \(EGRESS_NOT_ALLOWED\): localhost resolves/) }),
      ]);
      expect(failed.failureCategory).toBe('egress_refused');
    } finally {
      await refusing?.close();
      await system.startWorker();
    }
  }, 60_000);

  it('never let the refused request reach the receiver', () => {
    expect(receiver.requestsOf(egressEventId)).toEqual([]);
  });

  it('lists every category in order with its count, bytes, destinations and time span', async () => {
    const rows = await categories();
    expect(rows.map((row) => row.category)).toEqual(CATEGORIES);
    expect(Object.fromEntries(rows.map((row) => [row.category, row.count]))).toEqual({
      receiver_4xx: 2,
      receiver_5xx: 1,
      timeout_or_network: 3,
      egress_refused: 1,
      configuration: 1,
    });
    for (const category of CATEGORIES) expect({ category, bytes: categoryOf(rows, category).bytes }).toEqual({ category, bytes: await bytesOf(category) });
    expect(categoryOf(rows, 'timeout_or_network').destinations).toEqual([
      { id: destinations.closed.id, name: 'closed port', count: 2 },
      { id: destinations.slow.id, name: 'slower than the timeout', count: 1 },
    ]);
    expect(categoryOf(rows, 'configuration').destinations).toEqual([{ id: destinations.devices.id, name: 'devices', count: 1 }]);
    const fourHundreds = categoryOf(rows, 'receiver_4xx');
    const created = await Promise.all(made.receiver_4xx.map(async ({ deliveryId }) => (await system.client.get(`/v1/deliveries/${deliveryId}`)).body.createdAt));
    expect(fourHundreds.oldestAt).toBe(created.sort()[0]);
    expect(fourHundreds.newestAt).toBe(created.sort()[1]);
  });

  it('narrows to a destination and a time range; a range without dead letters lists every category at 0', async () => {
    const one = await categories(`?destinationId=${destinations.closed.id}`);
    expect(one.map((row) => [row.category, row.count])).toEqual([
      ['receiver_4xx', 0],
      ['receiver_5xx', 0],
      ['timeout_or_network', 2],
      ['egress_refused', 0],
      ['configuration', 0],
    ]);
    const before = await categories(`?until=${encodeURIComponent('2020-01-01T00:00:00Z')}`);
    expect(before).toEqual(CATEGORIES.map((category) => ({ category, count: 0, bytes: 0, destinations: [], oldestAt: null, newestAt: null })));
    const since = await categories(`?since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`);
    expect(categoryOf(since, 'timeout_or_network').count).toBe(3);
  });

  it('refuses a bad time, since after until and an unknown parameter with a 400 naming it, and another destination with a 404', async () => {
    const bad = await system.client.get('/v1/dead-letters/categories?since=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.details).toEqual([{ path: 'query.since', message: 'must be an ISO-8601 time' }]);
    const reversed = await system.client.get('/v1/dead-letters/categories?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z');
    expect(reversed.status).toBe(400);
    expect(reversed.body.details).toEqual([{ path: 'query.since', message: 'must be before until' }]);
    const unknown = await system.client.get('/v1/dead-letters/categories?category=receiver_4xx');
    expect(unknown.status).toBe(400);
    expect(unknown.body.details[0].path).toBe('query');
    expect((await system.client.get('/v1/dead-letters/categories?destinationId=dst_nothere')).status).toBe(404);
  });

  it('previews a replay of a category with the same count, bytes and destinations as the category, and changes nothing', async () => {
    const rows = await categories();
    for (const category of CATEGORIES) {
      const preview = await system.client.post('/v1/deliveries/retry', { failureCategory: category, dryRun: true });
      expect(preview.status).toBe(200);
      const { count, bytes, destinations: touched } = categoryOf(rows, category);
      expect({ category, preview: preview.body }).toEqual({ category, preview: { count, bytes, destinations: touched } });
    }
    const two = await system.client.post('/v1/deliveries/retry', { failureCategory: ['receiver_5xx', 'configuration'], dryRun: true });
    expect(two.body).toMatchObject({ count: 2, bytes: categoryOf(rows, 'receiver_5xx').bytes + categoryOf(rows, 'configuration').bytes });
    expect(two.body.destinations.map((destination: Json) => destination.id).sort()).toEqual([destinations.unavailable.id, destinations.devices.id].sort());
    expect(await categories()).toEqual(rows);
  });

  it("another organization's preview and categories see none of these dead letters", async () => {
    const other = await createTestOrganization(system.config.databaseUrl);
    const client = new ApiClient(system.url, other.adminKey);
    expect((await client.post('/v1/deliveries/retry', { failureCategory: 'receiver_4xx', dryRun: true })).body).toEqual({ count: 0, bytes: 0, destinations: [] });
    expect((await client.get('/v1/dead-letters/categories')).body.data.map((row: Json) => row.count)).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses an unknown failure category with a 400 naming it, replaying nothing', async () => {
    const answer = await system.client.post('/v1/deliveries/retry', { failureCategory: ['receiver_4xx', 'mystery'] });
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([expect.objectContaining({ path: expect.stringMatching(/^failureCategory/) })]);
    expect(categoryOf(await categories(), 'receiver_4xx').count).toBe(2);
  });

  it('replays one category: only its dead letters get a new attempt, and they leave the category', async () => {
    const answer = await system.client.post('/v1/deliveries/retry', { failureCategory: 'receiver_4xx' });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({ count: 2, replayId: expect.any(String) });
    for (const { deliveryId, eventId } of made.receiver_4xx) {
      const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
      expect(delivered.failureCategory).toBeNull();
      const story = (await system.client.get(`/v1/events/${eventId}`)).body;
      expect(story.deliveries[0].attempts.map((attempt: Json) => [attempt.trigger, attempt.outcome, attempt.statusCode])).toEqual([
        ['scheduled', 'failed', 404],
        ['manual', 'delivered', 200],
      ]);
    }
    for (const category of CATEGORIES.filter((one) => one !== 'receiver_4xx')) {
      for (const { deliveryId } of made[category]) {
        const delivery = (await system.client.get(`/v1/deliveries/${deliveryId}`)).body;
        expect({ category, status: delivery.status, attempts: delivery.attemptCount, failureCategory: delivery.failureCategory }).toEqual({
          category,
          status: 'failed',
          attempts: 1,
          failureCategory: category,
        });
      }
    }
    expect(Object.fromEntries((await categories()).map((row) => [row.category, row.count]))).toMatchObject({ receiver_4xx: 0, receiver_5xx: 1, timeout_or_network: 3 });
  });

  it('describes the categories route, the selection and the preview in /docs-json', async () => {
    const docs = (await system.client.get('/docs-json')).body;
    const operation = docs.paths['/v1/dead-letters/categories'].get;
    expect(operation.parameters.map((parameter: Json) => `${parameter.in}.${parameter.name}`).sort()).toEqual(['query.destinationId', 'query.since', 'query.until']);
    const row = operation.responses['200'].content['application/json'].schema.properties.data.items;
    expect(Object.keys(row.properties).sort()).toEqual(['bytes', 'category', 'count', 'destinations', 'newestAt', 'oldestAt']);
    expect(row.properties.category.enum).toEqual(CATEGORIES);
    const retry = docs.paths['/v1/deliveries/retry'].post;
    expect(retry.requestBody.content['application/json'].schema.properties.failureCategory).toBeDefined();
    expect(Object.keys(retry.responses['200'].content['application/json'].schema.properties).sort()).toEqual(['bytes', 'count', 'destinations']);
  });
});
