import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { destinationQueueName } from '@dispatch/queue';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ApiClient, createTestOrganization, createWebhook, Receiver, REDIS_URL, sendEvent, webhookDestination } from '@dispatch/testing';
import { useSystem } from './system';

const RECEIVER = 'http://127.0.0.1:9/hook';

describe('REST API (api process, no worker)', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_BOOTSTRAP_KEY: 'bootstrap-key-for-api-tests-000' } });
  let client: ApiClient;
  let redis: IORedis;

  beforeAll(() => {
    client = system.client;
    redis = new IORedis(REDIS_URL);
  });

  afterAll(() => {
    redis.disconnect();
  });

  const queueOf = (destinationId: string) => new Queue(destinationQueueName(destinationId), { connection: redis, prefix: system.config.queuePrefix });

  const createDestination = (overrides: Record<string, unknown> = {}) => createWebhook(client, RECEIVER, overrides);

  async function countEvents(c: ApiClient = client): Promise<number> {
    return (await c.get('/v1/events?limit=200')).body.data.length;
  }

  describe('auth', () => {
    it('answers 401 without a key or with an unknown one', async () => {
      const anonymous = await client.as(undefined).get('/v1/destinations');
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toMatchObject({ statusCode: 401, error: 'Unauthorized', message: expect.stringContaining('Missing API key') });
      expect((await client.as('dsp_not-a-key').get('/v1/destinations')).status).toBe(401);
    });

    it('answers 403 when the role may not do it', async () => {
      const viewer = client.as(system.organization.viewerKey);
      const producer = client.as(system.organization.producerKey);
      expect((await viewer.post('/v1/destinations', webhookDestination(RECEIVER))).status).toBe(403);
      expect((await viewer.post('/v1/events', { type: 'a.b', data: {} })).status).toBe(403);
      expect((await producer.post('/v1/destinations', webhookDestination(RECEIVER))).status).toBe(403);
      expect((await viewer.get('/v1/destinations')).status).toBe(200);
      expect((await producer.post('/v1/events', { type: 'a.b', data: {} })).status).toBe(202);
    });

    it("answers 404 for another organization's objects", async () => {
      const destination = await createDestination();
      const other = await createTestOrganization(system.config.databaseUrl);
      const stranger = client.as(other.adminKey);
      expect((await stranger.get(`/v1/destinations/${destination.id}`)).status).toBe(404);
      expect((await stranger.request('DELETE', `/v1/destinations/${destination.id}`)).status).toBe(404);
      expect((await stranger.get('/v1/destinations')).body.data).toEqual([]);
    });
  });

  describe('destinations', () => {
    it('creates a webhook with a whsec_ secret shown once, never again', async () => {
      const created = await createDestination({ name: 'orders', eventTypes: ['order.*'], rateLimit: { max: 10, durationMs: 1000 } });
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/=]{40,}$/);
      expect(created).toMatchObject({ name: 'orders', kind: 'webhook', enabled: true, paused: false, ordering: 'none', rateLimit: { max: 10, durationMs: 1000 } });
      expect(created.config).toEqual({ url: RECEIVER, method: 'POST', headers: {} });
      const fetched = await client.get(`/v1/destinations/${created.id}`);
      expect(fetched.status).toBe(200);
      expect(JSON.stringify(fetched.body)).not.toContain(created.secret);
      const listed = await client.get('/v1/destinations?limit=200');
      expect(listed.body.data.map((d: { id: string }) => d.id)).toContain(created.id);
      expect(JSON.stringify(listed.body)).not.toContain('whsec_');
    });

    it('keeps a given secret and validates it', async () => {
      const bad = await client.post('/v1/destinations', webhookDestination(RECEIVER, { config: { url: RECEIVER, secret: 'plain' } }));
      expect(bad.status).toBe(400);
      expect(bad.body.details).toEqual([{ path: 'config.secret', message: expect.stringContaining('whsec_') }]);

      const receiver = await Receiver.start();
      try {
        const given = `whsec_${randomBytes(32).toString('base64')}`;
        const created = await client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`, { config: { url: `${receiver.url}/hook`, secret: given } }));
        expect(created.status).toBe(201);
        expect(created.body.secret).toBe(given);
        expect(JSON.stringify((await client.get(`/v1/destinations/${created.body.id}`)).body)).not.toContain(given);
        // The test webhook is signed with the given secret, and only with it.
        expect((await client.post(`/v1/destinations/${created.body.id}/test`)).body).toMatchObject({ ok: true, statusCode: 200 });
        const [request] = await receiver.waitFor(1);
        expect(new Webhook(given).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ type: 'dispatch.test' });
        expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(1);
      } finally {
        await receiver.close();
      }
    });

    it('rejects bad input with a 400 naming each field, and writes nothing', async () => {
      const before = (await client.get('/v1/destinations?limit=200')).body.data.length;
      const answer = await client.post('/v1/destinations', {
        name: '',
        kind: 'webhook',
        config: { url: 'ftp://example.com', headers: { 'webhook-id': 'x' } },
        eventTypes: ['order.*.x'],
        retryPolicy: { maxAttempts: 0 },
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      const paths = answer.body.details.map((d: { path: string }) => d.path);
      expect(paths).toEqual(expect.arrayContaining(['name', 'eventTypes.0', 'retryPolicy.maxAttempts']));
      const config = await client.post(
        '/v1/destinations',
        webhookDestination('ftp://example.com', { config: { url: 'ftp://example.com', headers: { 'webhook-id': 'x' } } }),
      );
      expect(config.body.details.map((d: { path: string }) => d.path)).toEqual(['config.url', 'config.headers.webhook-id']);
      const nul = await client.post('/v1/destinations', webhookDestination(RECEIVER, { name: 'a\u0000b', config: { url: RECEIVER, headers: { 'x-a': 'b\u0000' } } }));
      expect(nul.status).toBe(400);
      expect(nul.body.details).toEqual([
        { path: 'name', message: 'must not contain the NUL character (\\u0000)' },
        { path: 'config', message: 'must not contain the NUL character (\\u0000)' },
      ]);
      const notUrl = await client.post('/v1/destinations', webhookDestination('not a url'));
      expect(notUrl.status).toBe(400);
      expect(notUrl.body.details).toEqual([{ path: 'config.url', message: 'must be an absolute http or https URL' }]);
      const kind = await client.post('/v1/destinations', webhookDestination(RECEIVER, { kind: 'carrier-pigeon' }));
      expect(kind.body.details).toEqual([{ path: 'kind', message: expect.stringContaining('not available yet') }]);
      expect((await client.get('/v1/destinations?limit=200')).body.data.length).toBe(before);
    });

    it('answers malformed JSON with a 400', async () => {
      const answer = await client.request('POST', '/v1/destinations', '{"name":', { 'content-type': 'application/json' });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('not valid JSON') });
    });

    it('answers a body over 1 MiB with a 413, and takes a POST whose JSON body is empty as one without a body', async () => {
      const big = await client.request('POST', '/v1/events', JSON.stringify({ type: 'a.b', data: 'x'.repeat(1024 * 1024) }), { 'content-type': 'application/json' });
      expect(big.status).toBe(413);
      expect(big.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
      const created = await createDestination();
      const pause = await client.request('POST', `/v1/destinations/${created.id}/pause`, '', { 'content-type': 'application/json' });
      expect(pause.status).toBe(200);
    });

    it('updates, pauses, resumes and deletes', async () => {
      const created = await createDestination();
      const routedTo = async (type: string): Promise<string[]> =>
        (await sendEvent(client, { type })).deliveries.map((delivery: { destinationId: string }) => delivery.destinationId);
      // Created with eventTypes ["*"]: it gets order.x, until the PATCH narrows it to invoice.*.
      expect(await routedTo('order.x')).toContain(created.id);
      const patched = await client.request('PATCH', `/v1/destinations/${created.id}`, { name: 'renamed', eventTypes: ['invoice.*'] });
      expect(patched.status).toBe(200);
      expect(await routedTo('invoice.x')).toContain(created.id);
      expect(await routedTo('order.x')).not.toContain(created.id);
      expect((await client.get(`/v1/destinations/${created.id}`)).body.name).toBe('renamed');
      expect((await client.request('PATCH', `/v1/destinations/${created.id}`, { kind: 'email' })).status).toBe(400);

      const paused = await client.post(`/v1/destinations/${created.id}/pause`);
      expect(paused.body.paused).toBe(true);
      expect(await queueOf(created.id).isPaused()).toBe(true);
      const resumed = await client.post(`/v1/destinations/${created.id}/resume`);
      expect(resumed.body.paused).toBe(false);
      expect(await queueOf(created.id).isPaused()).toBe(false);

      const delivery = (await client.post('/v1/events', { type: 'x.y', data: {}, destinations: [created.id] })).body.deliveries[0];
      expect((await client.request('DELETE', `/v1/destinations/${created.id}`)).status).toBe(204);
      expect((await client.get(`/v1/destinations/${created.id}`)).status).toBe(404);
      expect((await client.get(`/v1/deliveries/${delivery.id}`)).status).toBe(404);
      expect(await queueOf(created.id).getJob(delivery.id)).toBeUndefined();
    });

    it('tests a destination and reports a connection failure', async () => {
      const created = await createDestination();
      const answer = await client.post(`/v1/destinations/${created.id}/test`);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ ok: false, error: expect.stringContaining('connection error') });
      expect(typeof answer.body.durationMs).toBe('number');
    });
  });

  describe('events', () => {
    it('routes by event type to enabled destinations and enqueues one job per delivery, ids only', async () => {
      const org = await createTestOrganization(system.config.databaseUrl);
      const admin = client.as(org.adminKey);
      const orders = (await admin.post('/v1/destinations', webhookDestination(RECEIVER, { eventTypes: ['order.*'] }))).body;
      const invoices = (await admin.post('/v1/destinations', webhookDestination(RECEIVER, { eventTypes: ['invoice.created'] }))).body;
      // Disabled, and matching every type: never routed to.
      await createWebhook(admin, RECEIVER, { enabled: false });

      const answer = await admin.post('/v1/events', { id: 'evt_route_1', type: 'order.created', data: { order_id: '12345' } });
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({
        id: 'evt_route_1',
        type: 'order.created',
        deliveries: [{ id: expect.stringMatching(/^dlv_/), destinationId: orders.id, status: 'pending' }],
      });
      const job = await queueOf(orders.id).getJob(answer.body.deliveries[0].id);
      expect(job?.id).toBe(answer.body.deliveries[0].id);
      expect(job?.data).toEqual({ deliveryId: answer.body.deliveries[0].id });

      const explicit = await admin.post('/v1/events', { type: 'anything.else', data: {}, destinations: [invoices.id] });
      expect(explicit.body.deliveries.map((d: { destinationId: string }) => d.destinationId)).toEqual([invoices.id]);
      expect(explicit.body.id).toMatch(/^evt_/);

      const none = await admin.post('/v1/events', { type: 'invoice.paid', data: {} });
      expect(none.body.deliveries).toEqual([]);
    });

    it('rejects a bad event with a 400 naming the field, and writes nothing', async () => {
      const before = await countEvents();
      const missing = await client.post('/v1/events', { data: {} });
      expect(missing.status).toBe(400);
      expect(missing.body.details.map((d: { path: string }) => d.path)).toEqual(['type']);
      expect((await client.post('/v1/events', { type: 'a.b' })).body.details).toEqual([{ path: 'data', message: 'is required' }]);
      const text = await client.request('POST', '/v1/events', 'type=a.b', { 'content-type': 'text/plain' });
      expect(text.status).toBe(400);
      expect(text.body.message).toBe('the body must be a JSON object, sent with content-type: application/json');
      const form = await client.request('POST', '/v1/events', 'type=a.b', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).toBe(400);
      expect(form.body.message).toBe('the body must be a JSON object, sent with content-type: application/json');
      const bad = await client.post('/v1/events', { type: 'order.*', data: {}, priority: 11, extra: 1 });
      expect(bad.body.details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(['type', 'priority']));
      const unknown = await client.post('/v1/events', { id: 'evt_unknown_dst', type: 'a.b', data: {}, destinations: ['dst_nope'] });
      expect(unknown.status).toBe(400);
      expect(unknown.body.details).toEqual([{ path: 'destinations.0', message: 'unknown destination "dst_nope"' }]);
      expect((await client.get('/v1/events/evt_unknown_dst')).status).toBe(404);
      const nul = await client.post('/v1/events', { type: 'a.b', data: { note: 'a\u0000b' }, tags: ['ok'] });
      expect(nul.status).toBe(400);
      expect(nul.body.details).toEqual([{ path: 'data', message: 'must not contain the NUL character (\\u0000)' }]);
      const nested = await client.post('/v1/events', { type: 'a.b', data: { list: [1, { 'key\u0000': true }] }, tags: ['a\u0000'] });
      expect(nested.body.details.map((d: { path: string }) => d.path)).toEqual(['data', 'tags']);
      expect(await countEvents()).toBe(before);
    });

    it('answers a repeated id with 200 and the same deliveries, by id or Idempotency-Key', async () => {
      await createDestination({ eventTypes: ['dup.*'] });
      const first = await client.post('/v1/events', { id: 'evt_dup_1', type: 'dup.created', data: { n: 1 } });
      const again = await client.post('/v1/events', { id: 'evt_dup_1', type: 'dup.created', data: { n: 1 } });
      expect(first.status).toBe(202);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);

      const keyed = await client.post('/v1/events', { type: 'dup.created', data: {} }, { 'Idempotency-Key': 'order-77-created' });
      const keyedAgain = await client.post('/v1/events', { type: 'dup.created', data: {} }, { 'Idempotency-Key': 'order-77-created' });
      expect(keyed.body.id).toBe('order-77-created');
      expect(keyedAgain.status).toBe(200);
      expect(keyedAgain.body).toEqual(keyed.body);
    });

    it('makes exactly one event and one delivery per destination from 50 concurrent sends', async () => {
      const org = await createTestOrganization(system.config.databaseUrl);
      const admin = client.as(org.adminKey);
      await admin.post('/v1/destinations', webhookDestination(RECEIVER));
      await admin.post('/v1/destinations', webhookDestination(RECEIVER));
      const answers = await Promise.all(Array.from({ length: 50 }, () => admin.post('/v1/events', { id: 'evt_race', type: 'race.run', data: {} })));
      expect(answers.filter((a) => a.status === 202)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(49);
      const ids = new Set(answers.map((a) => JSON.stringify(a.body.deliveries.map((d: { id: string }) => d.id))));
      expect(ids.size).toBe(1);
      expect(answers[0].body.deliveries).toHaveLength(2);
      const deliveries = await admin.get('/v1/deliveries?eventId=evt_race');
      expect(deliveries.body.data).toHaveLength(2);
    });

    it('lists and gets events with their deliveries, newest first, page by page', async () => {
      const org = await createTestOrganization(system.config.databaseUrl);
      const admin = client.as(org.adminKey);
      await admin.post('/v1/destinations', webhookDestination(RECEIVER));
      for (const id of ['evt_p1', 'evt_p2', 'evt_p3']) await admin.post('/v1/events', { id, type: 'page.test', data: { id } });
      const first = await admin.get('/v1/events?limit=2');
      expect(first.body.data.map((e: { id: string }) => e.id)).toEqual(['evt_p3', 'evt_p2']);
      const second = await admin.get(`/v1/events?limit=2&cursor=${first.body.nextCursor}`);
      expect(second.body.data.map((e: { id: string }) => e.id)).toEqual(['evt_p1']);
      expect(second.body.nextCursor).toBeNull();
      const one = await admin.get('/v1/events/evt_p2');
      expect(one.body).toMatchObject({ id: 'evt_p2', type: 'page.test', data: { id: 'evt_p2' }, deliveries: [{ status: 'pending' }] });
      expect((await admin.get('/v1/events?cursor=abc')).status).toBe(400);
    });
  });

  describe('operations', () => {
    it('reports readiness of PostgreSQL and Redis', async () => {
      expect((await client.get('/health/live')).body).toEqual({ status: 'ok' });
      expect((await client.get('/health/ready')).body).toEqual({ status: 'ok', checks: { postgres: 'up', redis: 'up' } });
    });

    it('serves Prometheus metrics and the OpenAPI document', async () => {
      const metrics = await client.get('/metrics');
      expect(metrics.body).toContain('dispatch_events_accepted_total');
      expect(metrics.body).toContain('dispatch_http_request_duration_seconds_bucket');
      const docs = await client.get('/docs-json');
      expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/destinations', '/v1/deliveries/{id}/retry']));
      expect((await client.get('/docs')).status).toBe(200);
    });

    it('closes Bull Board to anonymous users and to keys that are not operator admins', async () => {
      const anonymous = await fetch(`${system.url}/queues`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toContain('Basic');
      const producer = await fetch(`${system.url}/queues`, { headers: { authorization: `Bearer ${system.organization.producerKey}` } });
      expect(producer.status).toBe(401);
      const otherAdmin = await fetch(`${system.url}/queues`, { headers: { authorization: `Bearer ${system.organization.adminKey}` } });
      expect(otherAdmin.status).toBe(401);
      const basic = Buffer.from('operator:bootstrap-key-for-api-tests-000').toString('base64');
      const operator = await fetch(`${system.url}/queues`, { headers: { authorization: `Basic ${basic}` } });
      expect(operator.status).toBe(200);
      expect(await operator.text()).toContain('<html');

      const destination = await createDestination({ name: 'listed-on-board' });
      const listing = await fetch(`${system.url}/queues/api/queues`, { headers: { authorization: `Basic ${basic}` } });
      const names = ((await listing.json()) as { queues: { name: string; displayName?: string }[] }).queues.map((queue) => queue.displayName ?? queue.name);
      expect(names).toEqual(expect.arrayContaining([`listed-on-board (${destination.id})`, 'maintenance (reconciler)']));
      for (const path of [
        '/queues/api/queues',
        '/queues/',
        '/queues/api/queues?activeQueue=x',
        `/queues/queue/${destination.id}`,
        '/%71ueues/api/queues',
        '/queues/%61pi/queues',
      ]) {
        expect([path, (await fetch(`${system.url}${path}`)).status]).toEqual([path, 401]);
      }
    });
  });
});
