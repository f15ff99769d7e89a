import { createWebhook, eventually, Json, OwnRedisServer, POSTGRES_URL, REDIS_URL, sendEvent, TcpProxy, waitForDelivery } from '@dispatch/testing';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment, useReceiver, useSystem } from './system';

/** A worker process and the base URL of its `/metrics` and `/health/*`. */
type RunningWorker = { process: AppProcess; url: string };

/** The longest a readiness answer may take here: each check has a second, run together. */
const READY_BOUND_MS = 3_000;

/** What `GET <url>` answered, and how long it took; gives up (throws) after `timeoutMs`. */
async function timedGet(url: string, timeoutMs = 10_000): Promise<{ status: number; body: Json; text: string; type: string | null; ms: number }> {
  const started = Date.now();
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body, text, type: response.headers.get('content-type'), ms: Date.now() - started };
}

/**
 * The value of sample `name` whose labels include `labels`, in Prometheus text; 0 when the
 * series has no sample yet (a labelled counter appears at its first increment).
 */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, key, value]) => [key, value]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return 0;
}

/** Waits until the worker's /health/ready answers 200 again, with both checks up. */
async function expectReadyAgain(workerUrl: string): Promise<void> {
  const back = await eventually(
    async () => {
      const ready = await timedGet(`${workerUrl}/health/ready`);
      return ready.status === 200 ? ready : undefined;
    },
    20_000,
    'the worker ready again',
  );
  expect(back.body).toEqual({ status: 'ok', checks: { postgres: 'up', redis: 'up' } });
}

describe('the worker process: metrics, health and drain timeout', () => {
  const system = useSystem({ worker: false });
  const receiver = useReceiver();
  const workers: AppProcess[] = [];

  /** Starts a worker on the system's database and queues (unless `settings` say otherwise) and waits until it is ready. */
  async function startWorker(settings: Record<string, string> = {}): Promise<RunningWorker> {
    const port = await freePort();
    const process = spawnApp(
      'worker',
      testEnvironment({
        DATABASE_URL: system.config.databaseUrl,
        REDIS_URL,
        DISPATCH_QUEUE_PREFIX: system.config.queuePrefix,
        DISPATCH_METRICS_PORT: String(port),
        DISPATCH_LOCK_MS: '2000',
        ...settings,
      }),
    );
    workers.push(process);
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(`${url}/health/ready`, process);
    return { process, url };
  }

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
  });

  it('serves Prometheus text with the worker metrics on DISPATCH_METRICS_PORT; the attempt counter counts each delivery once', async () => {
    const worker = await startWorker();
    const before = await timedGet(`${worker.url}/metrics`);
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const family of [
      'dispatch_attempts_total counter',
      'dispatch_delivery_duration_seconds histogram',
      'dispatch_accept_to_delivered_seconds histogram',
      'dispatch_queue_workers gauge',
      'dispatch_reconciler_enqueued_total counter',
      'dispatch_worker_process_cpu_user_seconds_total counter',
    ]) {
      expect(before.text).toContain(`# TYPE ${family}\n`);
    }
    const delivered = { kind: 'webhook', outcome: 'delivered' };
    expect(sample(before.text, 'dispatch_attempts_total', delivered)).toBe(0);

    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      ids.push((await sendEvent(system.client, { id: `evt_metrics_${i}`, type: 'metrics.test', destinations: [destination.id] })).deliveries[0].id);
    }
    await Promise.all(ids.map((id) => waitForDelivery(system.client, id, 'delivered', 15_000)));

    // The counter moves before the delivery is recorded, so it is final by now.
    const after = (await timedGet(`${worker.url}/metrics`)).text;
    expect(receiver.requests).toHaveLength(3);
    expect(sample(after, 'dispatch_attempts_total', delivered)).toBe(3);
    expect(sample(after, 'dispatch_attempts_total', { kind: 'webhook', outcome: 'retry' })).toBe(0);
    expect(sample(after, 'dispatch_delivery_duration_seconds_count', delivered)).toBe(3);
    expect(sample(after, 'dispatch_accept_to_delivered_seconds_count')).toBe(3);
  }, 60_000);

  it('answers /health/live 200, and /health/ready 200 with PostgreSQL and Redis up', async () => {
    const worker = await startWorker();
    const live = await timedGet(`${worker.url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok' });
    const ready = await timedGet(`${worker.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', checks: { postgres: 'up', redis: 'up' } });
  }, 60_000);

  it('answers /health/ready 503 within a bound, Redis down, while its Redis is stopped, and 200 once it is back', async () => {
    const redis = await OwnRedisServer.start();
    try {
      const worker = await startWorker({ REDIS_URL: redis.url });
      await redis.stop();
      try {
        // Twice: the first check right after the stop, and one once the client knows it is reconnecting.
        for (const when of ['at once', 'again']) {
          const ready = await timedGet(`${worker.url}/health/ready`);
          console.log(`worker's Redis stopped: /health/ready ${when} answered ${ready.status} in ${ready.ms} ms, ${ready.text}`);
          expect(ready.status).toBe(503);
          expect(ready.ms).toBeLessThan(READY_BOUND_MS);
          expect(ready.body).toEqual({ status: 'unavailable', checks: { postgres: 'up', redis: expect.stringMatching(/^down: /) } });
        }
        expect(worker.process.child.exitCode).toBeNull();
      } finally {
        await redis.restart();
      }
      await expectReadyAgain(worker.url);
    } finally {
      await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
      await redis.stop();
    }
  }, 60_000);

  it('answers /health/ready 503 within a bound, PostgreSQL down, while its database is cut, and 200 once it is back', async () => {
    const proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
    try {
      const worker = await startWorker({ DATABASE_URL: proxy.url(system.config.databaseUrl) });
      proxy.cut();
      try {
        const ready = await timedGet(`${worker.url}/health/ready`);
        console.log(`worker's PostgreSQL cut: /health/ready answered ${ready.status} in ${ready.ms} ms, ${ready.text}`);
        expect(ready.status).toBe(503);
        expect(ready.ms).toBeLessThan(READY_BOUND_MS);
        expect(ready.body).toEqual({ status: 'unavailable', checks: { postgres: expect.stringMatching(/^down: /), redis: 'up' } });
        expect(worker.process.child.exitCode).toBeNull();
      } finally {
        proxy.restore();
      }
      await expectReadyAgain(worker.url);
    } finally {
      await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
      await proxy.close();
    }
  }, 60_000);

  it('exits 1 on SIGTERM when an attempt outlasts DISPATCH_DRAIN_TIMEOUT_MS; the delivery is then delivered by a new worker', async () => {
    const answerAfterMs = 5_000;
    // The first attempt is answered only after 5 s; the attempt made again is answered at once.
    receiver.answer((_, index) => (index === 0 ? { status: 200, delayMs: answerAfterMs } : { status: 200 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const first = await startWorker({ DISPATCH_DRAIN_TIMEOUT_MS: '500' });
    const deliveryId: string = (await sendEvent(system.client, { id: 'evt_drain', type: 'drain.test', destinations: [destination.id] })).deliveries[0].id;
    await eventually(async () => (receiver.requests.length > 0 ? true : undefined), 15_000, 'the attempt in flight');

    const signalledAt = Date.now();
    const exitCode = await first.process.stop('SIGTERM');
    const exitedAt = Date.now();
    expect(exitCode).toBe(1);
    // It waited for the drain timeout, and left well before the receiver would have answered.
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(450);
    expect(exitedAt - receiver.requests[0].receivedAt).toBeLessThan(answerAfterMs - 2_000);
    // Nothing recorded an outcome: the attempt was cut off in flight.
    expect((await system.client.get(`/v1/deliveries/${deliveryId}`)).body.status).toBe('delivering');
    expect(receiver.requests).toHaveLength(1);

    await startWorker();
    const delivery = await waitForDelivery(system.client, deliveryId, 'delivered', 20_000);
    // The job ran again: the same delivery sent a second time (the documented possible duplicate), by the new worker.
    expect(receiver.eventIds()).toEqual(['evt_drain', 'evt_drain']);
    expect(receiver.requests.map((request) => request.headers['dispatch-delivery-id'])).toEqual([deliveryId, deliveryId]);
    expect(receiver.requests[1].receivedAt).toBeGreaterThanOrEqual(exitedAt);
    expect(delivery.attempts.at(-1)).toMatchObject({ statusCode: 200, error: null });
    console.log(
      `drain timeout 500 ms: exited ${exitCode} ${exitedAt - signalledAt} ms after SIGTERM; ` +
        `the attempt sent again ${receiver.requests[1].receivedAt - exitedAt} ms after the exit (lock 2 s)`,
    );
  }, 60_000);
});
