import { ApiClient, eventually, Json, OwnRedisServer, Receiver, TcpProxy, webhookDestination } from '@dispatch/testing';
import { POSTGRES_URL } from '@dispatch/testing';
import { startSystem, TestSystem } from './system';

/** Deliveries of the system's organization, by status. */
async function statuses(client: ApiClient, ids: string[]): Promise<string[]> {
  return Promise.all(ids.map(async (id) => (await client.get(`/v1/deliveries/${id}`)).body.status));
}

describe('Redis outages', () => {
  let redis: OwnRedisServer;
  let system: TestSystem;
  let receiver: Receiver;

  beforeAll(async () => {
    redis = await OwnRedisServer.start();
    receiver = await Receiver.start();
    system = await startSystem({ env: { REDIS_URL: redis.url, DISPATCH_RECONCILE_MS: '1000', DISPATCH_WORKER_SCAN_MS: '200' } });
  });

  afterAll(async () => {
    await system.close();
    await redis.stop();
    await receiver.close();
  });

  it('accepts events while Redis is down and delivers them once it is back', async () => {
    const destination = (await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    await redis.stop();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const started = Date.now();
      const accepted = await system.client.post('/v1/events', { id: `evt_redis_down_${i}`, type: 'outage.redis', data: { i }, destinations: [destination.id] });
      expect(accepted.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(1000);
      ids.push(accepted.body.deliveries[0].id);
    }
    expect((await system.client.get('/health/ready')).status).toBe(503);
    expect(await statuses(system.client, ids)).toEqual(Array(5).fill('pending'));

    const restarted = Date.now();
    await redis.restart();
    await receiver.waitFor(5, 20_000);
    const recoveryMs = Date.now() - restarted;
    console.log(`Redis down at ingest: 5 events accepted, all received ${recoveryMs} ms after Redis came back`);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set(ids.map((_, i) => `evt_redis_down_${i}`)));
    await eventually(async () => ((await statuses(system.client, ids)).every((s) => s === 'delivered') ? true : undefined));
  });

  it('rebuilds lost retry jobs after Redis restarts empty', async () => {
    receiver.requests.length = 0;
    receiver.answer((request) => (request.headers['dispatch-attempt'] === '1' ? { status: 500 } : { status: 200 }));
    const destination = (
      await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`, { retryPolicy: { maxAttempts: 3, schedule: [3000], jitter: 0 } }))
    ).body;
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      ids.push((await system.client.post('/v1/events', { type: 'outage.flush', data: { i }, destinations: [destination.id] })).body.deliveries[0].id);
    }
    await eventually(async () => ((await statuses(system.client, ids)).every((s) => s === 'retrying') ? true : undefined));
    await redis.stop();
    const restarted = Date.now();
    await redis.restart();
    await eventually(async () => ((await statuses(system.client, ids)).every((s) => s === 'delivered') ? true : undefined), 20_000);
    console.log(`Redis restarted empty with 5 retries scheduled: all delivered ${Date.now() - restarted} ms after the restart`);
    const seconds = receiver.requests.filter((r) => r.headers['dispatch-attempt'] === '2');
    expect(seconds).toHaveLength(5);
  });
});

describe('PostgreSQL outage', () => {
  let proxy: TcpProxy;
  let system: TestSystem;
  let receiver: Receiver;

  beforeAll(async () => {
    proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    receiver = await Receiver.start();
    system = await startSystem({ databaseUrl: (url) => proxy.url(url) });
  });

  afterAll(async () => {
    proxy.restore();
    await system.close();
    await receiver.close();
    await proxy.close();
  });

  it('answers 503 while PostgreSQL is down, loses nothing accepted, and resumes by itself', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 1500 }));
    const destination: Json = (await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      ids.push((await system.client.post('/v1/events', { id: `evt_pg_${i}`, type: 'outage.pg', data: { i }, destinations: [destination.id] })).body.deliveries[0].id);
    }
    await receiver.waitFor(1, 5000);
    proxy.cut();
    const refused = await system.client.post('/v1/events', { id: 'evt_pg_refused', type: 'outage.pg', data: {}, destinations: [destination.id] });
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('database') });
    expect((await system.client.get('/health/ready')).body.checks.postgres).toMatch(/^down/);
    await new Promise((resolve) => setTimeout(resolve, 1000));

    proxy.restore();
    const restored = Date.now();
    await eventually(async () => ((await statuses(system.client, ids)).every((s) => s === 'delivered') ? true : undefined), 30_000);
    console.log(`PostgreSQL cut for 1 s with 3 deliveries in flight: all delivered ${Date.now() - restored} ms after it came back`);
    const again = await system.client.post('/v1/events', { id: 'evt_pg_refused', type: 'outage.pg', data: {}, destinations: [destination.id] });
    expect(again.status).toBe(202);
    expect((await system.client.get('/v1/events/evt_pg_refused')).status).toBe(200);
  });
});
