import { ApiClient, createWebhook, eventually, OwnRedisServer, POSTGRES_URL, Receiver, TcpProxy, waitForDelivery } from '@dispatch/testing';
import { startSystem, TestSystem, useReceiver, useSystem } from './system';

/** Deliveries of the system's organization, by status. */
async function statuses(client: ApiClient, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await client.get(`/v1/deliveries/${id}`)).body.status));
}

function allDelivered(client: ApiClient, ids: string[], timeoutMs: number): Promise<true> {
  return eventually(async () => ((await statuses(client, ids)).every((s) => s === 'delivered') ? true : undefined), timeoutMs, `${ids.length} deliveries delivered`);
}

describe('Redis outages', () => {
  let redis: OwnRedisServer;
  let system: TestSystem;
  const receiver = useReceiver();

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    system = await startSystem({ env: { REDIS_URL: redis.url, DISPATCH_RECONCILE_MS: '1000', DISPATCH_WORKER_SCAN_MS: '200' } });
  }, 60_000);

  afterAll(async () => {
    // The system's clean-up removes its keys from this Redis, so it must still run.
    await redis.restart().catch(() => undefined);
    await system?.close();
    await redis.stop();
  }, 60_000);

  it('accepts events while Redis is down and delivers them once it is back', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const ids: string[] = [];
    await redis.stop();
    try {
      for (let i = 0; i < 5; i += 1) {
        const started = Date.now();
        const accepted = await system.client.post('/v1/events', { id: `evt_redis_down_${i}`, type: 'outage.redis', data: { i }, destinations: [destination.id] });
        expect(accepted.status).toBe(202);
        expect(Date.now() - started).toBeLessThan(1000);
        ids.push(accepted.body.deliveries[0].id);
      }
      const ready = await system.client.get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ postgres: 'up', redis: expect.stringMatching(/^down/) });
      expect(await statuses(system.client, ids)).toEqual(Array(5).fill('pending'));
    } finally {
      await redis.restart();
    }
    const restarted = Date.now();
    await receiver.waitFor(5, 20_000);
    console.log(`Redis down at ingest: 5 events accepted, all received ${Date.now() - restarted} ms after Redis came back`);
    expect(new Set(receiver.eventIds())).toEqual(new Set(ids.map((_, i) => `evt_redis_down_${i}`)));
    await allDelivered(system.client, ids, 10_000);
  }, 60_000);

  it('rebuilds lost retry jobs after Redis restarts empty', async () => {
    receiver.answer((request) => (request.headers['dispatch-attempt'] === '1' ? { status: 500 } : { status: 200 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 3, schedule: [3000], jitter: 0 } });
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await system.client.post('/v1/events', { type: 'outage.flush', data: { i }, destinations: [destination.id] })).body.deliveries[0].id);
    }
    await eventually(async () => ((await statuses(system.client, ids)).every((s) => s === 'retrying') ? true : undefined));
    await redis.stop();
    await redis.restart();
    const restarted = Date.now();
    await allDelivered(system.client, ids, 20_000);
    console.log(`Redis restarted empty with 5 retries scheduled: all delivered ${Date.now() - restarted} ms after the restart`);
    const seconds = receiver.requests.filter((r) => r.headers['dispatch-attempt'] === '2');
    expect(seconds).toHaveLength(5);
  }, 60_000);
});

describe('PostgreSQL outage', () => {
  let proxy: TcpProxy;
  let receiver: Receiver;
  beforeAll(async () => {
    proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    receiver = await Receiver.start();
  });
  // Registered after the proxy's hook, so the system starts behind it.
  const system = useSystem({ databaseUrl: (url) => proxy.url(url) });

  afterEach(() => {
    proxy.restore();
    receiver.reset();
  });

  afterAll(async () => {
    await receiver.close();
    await proxy.close();
  });

  it('answers 503 while PostgreSQL is down, loses nothing accepted, and resumes by itself', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 1500 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      ids.push((await system.client.post('/v1/events', { id: `evt_pg_${i}`, type: 'outage.pg', data: { i }, destinations: [destination.id] })).body.deliveries[0].id);
    }
    await receiver.waitFor(1, 5000);
    proxy.cut();
    try {
      const refused = await system.client.post('/v1/events', { id: 'evt_pg_refused', type: 'outage.pg', data: {}, destinations: [destination.id] });
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('database') });
      const ready = await system.client.get('/health/ready');
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toMatchObject({ postgres: expect.stringMatching(/^down/), redis: 'up' });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    } finally {
      proxy.restore();
    }
    const restored = Date.now();
    await allDelivered(system.client, ids, 30_000);
    console.log(`PostgreSQL cut for 1 s with 3 deliveries in flight: all delivered ${Date.now() - restored} ms after it came back`);
    const again = await system.client.post('/v1/events', { id: 'evt_pg_refused', type: 'outage.pg', data: {}, destinations: [destination.id] });
    expect(again.status).toBe(202);
    expect((await system.client.get('/v1/events/evt_pg_refused')).status).toBe(200);
    await waitForDelivery(system.client, again.body.deliveries[0].id, 'delivered');
  }, 60_000);

  it('uses up no attempt while PostgreSQL is down: a retry due during the outage is still made', async () => {
    // Two attempts allowed: were the outage to cost one, the delivery would end a dead letter.
    receiver.answer((request) => (request.headers['dispatch-attempt'] === '1' ? { status: 500 } : { status: 200 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 2, schedule: [1000], jitter: 0 } });
    const id = (await system.client.post('/v1/events', { id: 'evt_pg_retry', type: 'outage.pg', data: {}, destinations: [destination.id] })).body.deliveries[0].id;
    await waitForDelivery(system.client, id, 'retrying');
    proxy.cut();
    try {
      // The retry falls due while the database cannot be reached.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(receiver.eventIds().filter((eventId) => eventId === 'evt_pg_retry')).toHaveLength(1);
    } finally {
      proxy.restore();
    }
    const delivered = await waitForDelivery(system.client, id, 'delivered', 30_000);
    expect(delivered.attempts.map((attempt: { number: number; statusCode: number }) => [attempt.number, attempt.statusCode])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(receiver.eventIds().filter((eventId) => eventId === 'evt_pg_retry')).toHaveLength(2);
  }, 60_000);
});
