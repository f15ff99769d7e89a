import IORedis from 'ioredis';
import { wakeChannel } from '@dispatch/queue';
import { ApiClient, createTestDatabase, createWebhook, deleteQueueKeys, POSTGRES_URL, Receiver, REDIS_URL, TcpProxy, waitForDelivery } from '@dispatch/testing';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment } from './system';

const ADMIN_KEY = 'admin-key-for-transient-errors-0';

/** Longer than the 5 s in which a PostgreSQL connection must be made: every connection attempt meanwhile times out. */
const STALL_MS = 6_500;

const alive = (app: AppProcess) => app.child.exitCode === null && app.child.signalCode === null;

describe('transient PostgreSQL and Redis errors (API and worker as child processes)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let postgres: TcpProxy;
  let redisProxy: TcpProxy;
  let receiver: Receiver;
  let env: Record<string, string>;
  let api: AppProcess;
  let worker: AppProcess;
  let client: ApiClient;

  beforeAll(async () => {
    database = await createTestDatabase('transient');
    postgres = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    redisProxy = await TcpProxy.start(Number(new URL(REDIS_URL).port || 6379));
    receiver = await Receiver.start();
    const [port, metricsPort] = [await freePort(), await freePort()];
    env = testEnvironment({
      DATABASE_URL: postgres.url(database.url),
      REDIS_URL: redisProxy.url(REDIS_URL),
      PORT: String(port),
      DISPATCH_METRICS_PORT: String(metricsPort),
      DISPATCH_BOOTSTRAP_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
    });
    api = spawnApp('api', env);
    worker = spawnApp('worker', env);
    await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, api);
    await waitUntilReady(`http://127.0.0.1:${metricsPort}/health/ready`, worker);
    client = new ApiClient(`http://127.0.0.1:${port}`, ADMIN_KEY);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([api, worker].filter(Boolean).map((app) => app.stop('SIGKILL')));
    await receiver?.close();
    await postgres?.close();
    await redisProxy?.close();
    if (env) await deleteQueueKeys(env.DISPATCH_QUEUE_PREFIX);
    await database?.drop();
  }, 30_000);

  it('outlive PostgreSQL connections that time out and Redis connections that drop, and deliver once both answer', async () => {
    const destination = await createWebhook(client, `${receiver.url}/hook`);
    const redis = new IORedis(REDIS_URL);
    try {
      postgres.stall();
      redisProxy.cut();
      redisProxy.restore();
      // Work for both while PostgreSQL does not answer: an event to accept, and a wake notice for
      // the destination's queue, as an API publishes after queueing a delivery.
      const refused = client.post('/v1/events', { id: 'evt_transient_refused', type: 'transient.test', data: {}, destinations: [destination.id] });
      await redis.publish(wakeChannel(env.DISPATCH_QUEUE_PREFIX), destination.id);
      await new Promise((resolve) => setTimeout(resolve, STALL_MS));
      expect((await refused).status).toBe(503);
    } finally {
      postgres.restore();
      redis.disconnect();
    }
    expect({ api: alive(api), worker: alive(worker) }).toEqual({ api: true, worker: true });

    const accepted = await client.post('/v1/events', { id: 'evt_transient_after', type: 'transient.test', data: {}, destinations: [destination.id] });
    expect(accepted.status).toBe(202);
    await waitForDelivery(client, accepted.body.deliveries[0].id, 'delivered', 30_000);
    expect(receiver.eventIds()).toContain('evt_transient_after');
    expect({ api: alive(api), worker: alive(worker) }).toEqual({ api: true, worker: true });
  }, 60_000);
});
