import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { createDatabase, Database, EventRepository } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { destinationQueueName } from '@dispatch/queue';
import { ApiClient, createWebhook, eventually, Json, REDIS_URL, sendEvent, waitForDelivery } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

const FAST_RETRIES = { maxAttempts: 3, schedule: [150], jitter: 0 };

describe('delivery (api and worker)', () => {
  const system = useSystem({ env: { DISPATCH_WEBHOOK_TIMEOUT_MS: '1000' } });
  const receiver = useReceiver();
  let client: ApiClient;
  let redis: IORedis;
  let database: Database;

  beforeAll(() => {
    client = system.client;
    redis = new IORedis(REDIS_URL);
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterAll(async () => {
    await database.close();
    redis.disconnect();
  });

  const destination = (overrides: Record<string, unknown> = {}): Promise<Json> =>
    createWebhook(client, `${receiver.url}/hook`, { eventTypes: [`t${Date.now()}.*`], ...overrides });

  const send = (dst: Json, body: Record<string, unknown> = {}): Promise<Json> =>
    sendEvent(client, { type: 'x.y', data: { hello: 'world' }, destinations: [dst.id], ...body });

  const deliveryOf = (id: string) => client.get(`/v1/deliveries/${id}`).then((answer) => answer.body);

  const settled = (id: string, status: string, timeoutMs = 10_000): Promise<Json> => waitForDelivery(client, id, status, timeoutMs);

  /** Sends a marker event to a second destination on the same receiver and waits for it: the worker has moved on since. */
  async function barrier(): Promise<void> {
    const marker = await destination();
    const { id } = await send(marker);
    await receiver.waitForEvent(id);
  }

  it('delivers a signed webhook that verifies with standardwebhooks, webhook-id = event id', async () => {
    const dst = await destination({ config: { url: `${receiver.url}/hook`, headers: { 'x-team': 'a' } } });
    const accepted = await send(dst, { id: 'evt_signed_1', type: 'order.created', data: { order_id: '12345' } });
    const [request] = await receiver.waitFor(1);
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hook');
    expect(request.headers).toMatchObject({
      'webhook-id': 'evt_signed_1',
      'content-type': 'application/json',
      'user-agent': expect.stringMatching(/^Dispatch\//),
      'dispatch-delivery-id': accepted.deliveries[0].id,
      'dispatch-attempt': '1',
      'dispatch-event-type': 'order.created',
      'x-team': 'a',
    });
    const payload = new Webhook(dst.secret).verify(request.body, request.headers as Record<string, string>);
    expect(payload).toEqual({ id: 'evt_signed_1', type: 'order.created', timestamp: expect.any(String), data: { order_id: '12345' } });
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(request.body, request.headers as Record<string, string>)).toThrow();

    const delivery = await settled(accepted.deliveries[0].id, 'delivered');
    expect(delivery.attempts).toEqual([
      {
        number: 1,
        trigger: 'scheduled',
        startedAt: expect.any(String),
        durationMs: expect.any(Number),
        outcome: 'delivered',
        statusCode: 200,
        responseBody: 'ok',
        error: null,
      },
    ]);
  });

  it('signs with both secrets while a rotated one is still valid, then with the new one only', async () => {
    const dst = await destination();
    const rotated = await client.post(`/v1/destinations/${dst.id}/rotate-secret`, {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(new Date(rotated.body.previousValidUntil).getTime()).toBeGreaterThan(Date.now() + 23 * 3600 * 1000);
    await send(dst, { id: 'evt_rotated_1' });
    const [during] = await receiver.waitFor(1);
    expect(String(during.headers['webhook-signature']).split(' ')).toHaveLength(2);
    for (const secret of [dst.secret, rotated.body.secret]) {
      expect(new Webhook(secret).verify(during.body, during.headers as Record<string, string>)).toMatchObject({ id: 'evt_rotated_1' });
    }

    const retired = await client.post(`/v1/destinations/${dst.id}/rotate-secret`, { previousValidForSeconds: 0 });
    expect(retired.body.previousValidUntil).toBeNull();
    await send(dst, { id: 'evt_rotated_2' });
    const after = (await receiver.waitFor(2))[1];
    expect(String(after.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(new Webhook(retired.body.secret).verify(after.body, after.headers as Record<string, string>)).toMatchObject({ id: 'evt_rotated_2' });
    expect(() => new Webhook(rotated.body.secret).verify(after.body, after.headers as Record<string, string>)).toThrow();
  });

  it('sends to a changed URL from the next delivery on', async () => {
    const dst = await destination();
    await send(dst);
    await receiver.waitFor(1);
    await client.request('PATCH', `/v1/destinations/${dst.id}`, { config: { url: `${receiver.url}/moved` } });
    await send(dst);
    const requests = await receiver.waitFor(2);
    expect(requests.map((request) => request.path)).toEqual(['/hook', '/moved']);
  });

  it('records a 500 as an attempt and retries it after the policy delay', async () => {
    receiver.answer((_request, index) => (index === 0 ? { status: 500, body: 'boom' } : { status: 200, body: 'fine' }));
    const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [1000], jitter: 0 } });
    const accepted = await send(dst);
    const id = accepted.deliveries[0].id;
    const retrying = await settled(id, 'retrying');
    expect(retrying.lastError).toBe('HTTP 500');
    expect(new Date(retrying.nextAttemptAt).getTime()).toBeGreaterThan(Date.now());
    const requests = await receiver.waitFor(2);
    expect(requests[1].receivedAt - requests[0].receivedAt).toBeGreaterThanOrEqual(900);
    expect(requests.map((r) => r.headers['dispatch-attempt'])).toEqual(['1', '2']);
    expect(requests[1].headers['webhook-id']).toBe(requests[0].headers['webhook-id']);
    const delivery = await settled(id, 'delivered');
    expect(delivery.attempts.map((a: Json) => [a.number, a.statusCode, a.responseBody, a.trigger])).toEqual([
      [1, 500, 'boom', 'scheduled'],
      [2, 200, 'fine', 'scheduled'],
    ]);
    expect(delivery.nextAttemptAt).toBeNull();
  });

  it('makes a dead letter when attempts run out; a manual retry sends it again', async () => {
    receiver.answer(() => ({ status: 503, body: 'down' }));
    const dst = await destination({ retryPolicy: FAST_RETRIES });
    const accepted = await send(dst);
    const id = accepted.deliveries[0].id;
    const failed = await settled(id, 'failed');
    expect(failed.attempts).toHaveLength(3);
    expect(failed.lastError).toBe('HTTP 503; gave up after 3 attempts');
    const deadLetters = await client.get(`/v1/deliveries?status=failed&destinationId=${dst.id}`);
    expect(deadLetters.body.data.map((d: Json) => d.id)).toEqual([id]);
    const queue = new Queue(destinationQueueName(dst.id), { connection: redis, prefix: system.config.queuePrefix });
    expect((await queue.getFailed()).map((job) => job.id)).toEqual([id]);

    receiver.answer(() => ({ status: 200 }));
    const retry = await client.post(`/v1/deliveries/${id}/retry`);
    expect(retry.status).toBe(202);
    const delivered = await settled(id, 'delivered');
    expect(delivered.attempts.at(-1)).toMatchObject({ number: 4, trigger: 'manual', statusCode: 200 });
    expect(await queue.getFailedCount()).toBe(0);
  });

  it('redelivers a delivered delivery on a manual retry', async () => {
    const dst = await destination();
    const id = (await send(dst)).deliveries[0].id;
    await settled(id, 'delivered');
    expect((await client.post(`/v1/deliveries/${id}/retry`)).status).toBe(202);
    const requests = await receiver.waitFor(2);
    expect(requests[1].headers['dispatch-attempt']).toBe('2');
    await eventually(async () => ((await deliveryOf(id)).attempts.length === 2 ? true : undefined));
    expect((await deliveryOf(id)).attempts[1]).toMatchObject({ trigger: 'manual', statusCode: 200 });
  });

  it('disables the destination on 410 Gone and fails the delivery', async () => {
    receiver.answer(() => ({ status: 410 }));
    const dst = await destination({ retryPolicy: FAST_RETRIES });
    const id = (await send(dst)).deliveries[0].id;
    const failed = await settled(id, 'failed');
    expect(failed.attempts).toHaveLength(1);
    const after = await client.get(`/v1/destinations/${dst.id}`);
    expect(after.body).toMatchObject({ enabled: false, disabledReason: 'receiver answered 410 Gone' });
  });

  it('holds deliveries of a destination disabled by 410 Gone and sends them when it is resumed', async () => {
    receiver.answer((_request, index) => (index === 0 ? { status: 410 } : { status: 200 }));
    const dst = await destination({ retryPolicy: FAST_RETRIES });
    await settled((await send(dst)).deliveries[0].id, 'failed');
    const held = (await send(dst)).deliveries[0].id;
    await barrier();
    expect((await deliveryOf(held)).status).toBe('pending');
    expect(receiver.requests.filter((request) => request.path === '/hook' && request.headers['dispatch-delivery-id'] === held)).toHaveLength(0);
    const resumed = await client.post(`/v1/destinations/${dst.id}/resume`);
    expect(resumed.body).toMatchObject({ enabled: true, disabledReason: null });
    await settled(held, 'delivered');
    expect(receiver.requests.filter((request) => request.headers['dispatch-delivery-id'] === held)).toHaveLength(1);
  });

  it('records a timeout as the error of an attempt and retries it', async () => {
    receiver.answer((_request, index) => (index === 0 ? { status: 200, delayMs: 1500 } : { status: 200 }));
    const dst = await destination({ retryPolicy: FAST_RETRIES });
    const id = (await send(dst)).deliveries[0].id;
    const delivered = await settled(id, 'delivered');
    expect(delivered.attempts[0]).toMatchObject({ number: 1, statusCode: null, error: expect.stringMatching(/^timeout/) });
    expect(delivered.attempts[0].durationMs).toBeGreaterThanOrEqual(900);
    expect(delivered.attempts[1]).toMatchObject({ number: 2, statusCode: 200 });
  });

  it('fails at once on a status listed as not retryable', async () => {
    receiver.answer(() => ({ status: 422 }));
    const dst = await destination({ retryPolicy: { ...FAST_RETRIES, nonRetryableStatuses: [422] } });
    const id = (await send(dst)).deliveries[0].id;
    const failed = await settled(id, 'failed');
    expect(failed.attempts).toHaveLength(1);
    expect(failed.lastError).toBe('HTTP 422, not retryable');
  });

  it('waits at least Retry-After on a 429', async () => {
    receiver.answer((_r, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }));
    const dst = await destination({ retryPolicy: FAST_RETRIES });
    await send(dst);
    const requests = await receiver.waitFor(2, 10_000);
    expect(requests[1].receivedAt - requests[0].receivedAt).toBeGreaterThanOrEqual(1900);
  });

  it('waits the policy delay when a 503 asks for a shorter Retry-After', async () => {
    receiver.answer((_r, index) => (index === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));
    const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [2500], jitter: 0 } });
    const id = (await send(dst)).deliveries[0].id;
    const retrying = await settled(id, 'retrying');
    expect(new Date(retrying.nextAttemptAt).getTime() - new Date(retrying.attempts[0].startedAt).getTime()).toBeGreaterThanOrEqual(2400);
    const requests = await receiver.waitFor(2, 10_000);
    expect(requests[1].receivedAt - requests[0].receivedAt).toBeGreaterThanOrEqual(2400);
  });

  it('does not follow redirects, and keeps only the start of a long answer', async () => {
    receiver.answer((request) =>
      request.path === '/hook' ? { status: 302, headers: { location: `${receiver.url}/elsewhere` }, body: 'x'.repeat(10_000) } : { status: 200 },
    );
    const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
    const id = (await send(dst)).deliveries[0].id;
    const failed = await settled(id, 'failed');
    expect(receiver.requests.map((r) => r.path)).toEqual(['/hook']);
    expect(failed.attempts[0].statusCode).toBe(302);
    expect(failed.attempts[0].responseBody.length).toBe(4096);
    expect(failed.lastError).toContain('redirect 302 (not followed)');
  });

  it('has at most DISPATCH_WORKER_CONCURRENCY (10) attempts of a destination in flight at once, and keeps that many going', async () => {
    const dst = await destination();
    let inFlight = 0;
    let most = 0;
    receiver.answer(() => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      setTimeout(() => (inFlight -= 1), 150);
      return { status: 200, delayMs: 150 };
    });
    const sent = await Promise.all(Array.from({ length: 40 }, (_, index) => send(dst, { id: `evt_slots_${Date.now()}_${index}` })));
    await receiver.waitFor(40, 15_000);
    await Promise.all(sent.map((accepted) => settled(accepted.deliveries[0].id, 'delivered')));
    expect(most).toBe(10);
  });

  it('holds deliveries of a paused destination and sends them on resume', async () => {
    const dst = await destination();
    await client.post(`/v1/destinations/${dst.id}/pause`);
    const id = (await send(dst)).deliveries[0].id;
    await barrier();
    expect(receiver.requests).toHaveLength(1);
    expect((await deliveryOf(id)).status).toBe('pending');
    await client.post(`/v1/destinations/${dst.id}/resume`);
    await settled(id, 'delivered');
    expect(receiver.requests.filter((request) => request.headers['dispatch-delivery-id'] === id)).toHaveLength(1);
  });

  it('enqueues again a committed delivery that never reached Redis (the reconciler)', async () => {
    const dst = await destination();
    const events = new EventRepository(database);
    const deliveryId = newId('dlv');
    await events.ingest(
      {
        organizationId: system.organization.organizationId,
        id: 'evt_lost_job',
        type: 'x.y',
        source: null,
        data: { lost: true },
        orderingKey: null,
        priority: 0,
        correlationId: null,
        tags: [],
      },
      [{ id: deliveryId, destinationId: dst.id, ordered: false }],
    );
    const [request] = await receiver.waitFor(1, 15_000);
    expect(request.headers['webhook-id']).toBe('evt_lost_job');
    await settled(deliveryId, 'delivered');
  });
});
