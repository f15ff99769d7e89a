import IORedis from 'ioredis';
import { countDeliveries, createWebhook, eventually, Json, sendEvent, waitForCount } from '@dispatch/testing';
import { CircuitBreakers } from '@dispatch/queue';
import { WorkerMetrics } from '../apps/worker/src/operations/worker-metrics';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment, useReceiver, useSystem } from './system';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Small thresholds: one attempt per delivery, so what the receiver sees is what the breaker counts. */
const BREAKER = { failureThreshold: 3, failureRateThreshold: 0.5, minimumRequests: 100, windowMs: 60_000, recoveryTimeoutMs: 60_000, halfOpenMaxCalls: 1 };

describe('circuit breaker', () => {
  // One attempt slot per destination: attempts follow each other, as the counts below expect.
  const system = useSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '1' } });
  const receiver = useReceiver();
  let redis: IORedis;
  let circuits: CircuitBreakers;

  beforeAll(() => {
    redis = new IORedis(system.config.redisUrl);
    circuits = new CircuitBreakers(redis, system.config.queuePrefix);
  });

  afterAll(() => {
    redis.disconnect();
  });

  // A test's destination must not send its probes to the next test's receiver.
  const created: string[] = [];
  afterEach(async () => {
    for (const id of created.splice(0)) await system.client.request('DELETE', `/v1/destinations/${id}`);
  });

  async function destinationWith(circuitBreaker: Record<string, unknown>): Promise<Json> {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, {
      retryPolicy: { maxAttempts: 1 },
      circuitBreaker: { ...BREAKER, ...circuitBreaker },
    });
    created.push(destination.id);
    return destination;
  }

  async function send(destinationId: string, count: number, type = 'order.created'): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) ids.push((await sendEvent(system.client, { type, data: { i }, destinations: [destinationId] })).deliveries[0].id);
    return ids;
  }

  function circuitOf(destinationId: string, circuit: string, timeoutMs = 10_000): Promise<unknown> {
    return eventually(async () => ((await circuits.state(destinationId)).circuit === circuit ? true : undefined), timeoutMs, `circuit ${circuit}`);
  }

  async function queuePaused(destinationId: string): Promise<boolean> {
    return (await redis.hget(`${system.config.queuePrefix}:{${destinationId}}:meta`, 'paused')) === '1';
  }

  async function circuitAudit(destinationId: string): Promise<Json[]> {
    const entries: Json[] = (await system.client.get('/v1/audit-log?limit=100')).body.data;
    return entries.filter((entry) => entry.target === destinationId && String(entry.action).startsWith('destination.circuit_')).reverse();
  }

  /** The worker's Prometheus metrics, as GET /metrics shows them. */
  function metrics(): Promise<string> {
    if (!system.worker) throw new Error('no worker');
    return system.worker.get(WorkerMetrics).registry.metrics();
  }

  /** Deliveries still pending that have had no attempt. */
  async function untouched(ids: string[]): Promise<number> {
    const deliveries = await Promise.all(ids.map(async (id) => (await system.client.get(`/v1/deliveries/${id}`)).body));
    return deliveries.filter((delivery) => delivery.status === 'pending' && delivery.attempts.length === 0).length;
  }

  it('opens after failureThreshold consecutive failures; while open it makes no attempt, uses none up and keeps the queue paused', async () => {
    receiver.answer(() => ({ status: 500 }));
    const destination = await destinationWith({});
    await send(destination.id, 3);
    await circuitOf(destination.id, 'open');
    const opened = await circuits.state(destination.id);
    expect(opened.openedAt).toBeInstanceOf(Date);
    await eventually(async () => ((await queuePaused(destination.id)) ? true : undefined), 5_000, 'the queue to be paused');
    expect(await metrics()).toContain(`dispatch_circuit_breaker_state{destination="${destination.id}"} 2`);
    expect(await metrics()).toMatch(/^dispatch_circuit_breaker_trips_total [1-9]/m);

    const held = await send(destination.id, 4, 'order.held');
    await sleep(1500);
    expect(receiver.requests).toHaveLength(3);
    expect(await untouched(held)).toBe(4);
    expect(await countDeliveries(system.client, destination.id, 'failed')).toBe(3);

    // An operator's resume does not undo the open circuit.
    expect((await system.client.post(`/v1/destinations/${destination.id}/resume`)).status).toBe(200);
    await sleep(1000);
    expect(await queuePaused(destination.id)).toBe(true);
    expect(receiver.requests).toHaveLength(3);

    const audit = await circuitAudit(destination.id);
    expect(audit).toEqual([
      expect.objectContaining({
        actor: 'dispatch',
        action: 'destination.circuit_opened',
        details: { from: 'closed', to: 'open', reason: '3 consecutive failed attempts' },
      }),
    ]);
    // The organization's own event says so, for the destinations that subscribe to it.
    const events: Json[] = (await system.client.get('/v1/events?type=dispatch.destination.circuit_opened')).body.data;
    expect(events.find((event) => event.data?.destination?.id === destination.id)?.data).toEqual({
      destination: expect.objectContaining({ id: destination.id }),
      openedAt: opened.openedAt?.toISOString(),
      reason: '3 consecutive failed attempts',
      recoveryTimeoutMs: 60_000,
    });
  });

  it('half-open after recoveryTimeoutMs lets halfOpenMaxCalls probes through; a successful probe closes it and the backlog is delivered', async () => {
    receiver.answer(() => ({ status: 500 }));
    const destination = await destinationWith({ failureThreshold: 2, recoveryTimeoutMs: 2_000 });
    await send(destination.id, 2);
    await circuitOf(destination.id, 'open');
    const backlog = await send(destination.id, 5, 'order.backlog');
    receiver.reset();
    // The probe takes a while to answer: meanwhile no other attempt is made.
    receiver.answer((_request, index) => ({ status: 200, delayMs: index === 0 ? 1_000 : 0 }));

    await eventually(async () => (receiver.requests.length > 0 ? true : undefined), 10_000, 'the probe');
    await sleep(700);
    expect(receiver.requests).toHaveLength(1);
    await waitForCount(() => countDeliveries(system.client, destination.id, 'delivered'), 5, 'backlog delivered', 15_000);
    expect((await circuits.state(destination.id)).circuit).toBe('closed');
    expect(await queuePaused(destination.id)).toBe(false);
    // A closed circuit has no series.
    expect(await metrics()).not.toContain(destination.id);
    expect(receiver.requests).toHaveLength(5);
    for (const id of backlog) expect((await system.client.get(`/v1/deliveries/${id}`)).body.attempts).toHaveLength(1);
    expect((await circuitAudit(destination.id)).map((entry) => entry.action)).toEqual([
      'destination.circuit_opened',
      'destination.circuit_half_opened',
      'destination.circuit_closed',
    ]);
  });

  it('a failed probe opens it again, and the deliveries behind it keep their attempts', async () => {
    receiver.answer(() => ({ status: 500 }));
    const destination = await destinationWith({ failureThreshold: 2, recoveryTimeoutMs: 1_500, halfOpenMaxCalls: 2 });
    await send(destination.id, 2);
    await circuitOf(destination.id, 'open');
    const backlog = await send(destination.id, 6, 'order.backlog');
    receiver.reset();
    receiver.answer(() => ({ status: 503 }));
    await eventually(async () => ((await circuitAudit(destination.id)).length >= 3 ? true : undefined), 10_000, 'the circuit to open again');
    await circuitOf(destination.id, 'open');
    expect((await circuitAudit(destination.id)).slice(0, 3).map((entry) => entry.details)).toEqual([
      expect.objectContaining({ from: 'closed', to: 'open' }),
      expect.objectContaining({ from: 'open', to: 'half-open' }),
      { from: 'half-open', to: 'open', reason: 'a probe failed' },
    ]);
    expect(receiver.requests.length).toBeGreaterThanOrEqual(1);
    expect(receiver.requests.length).toBeLessThanOrEqual(2);
    expect(await untouched(backlog)).toBe(6 - receiver.requests.length);
  });

  it('opens when at least minimumRequests attempts in the window failed at failureRateThreshold or more', async () => {
    // Every other attempt fails: never 2 failures in a row (a delivered attempt may be counted
    // before the failure ahead of it, whose record it does not wait for, hence the threshold of 5).
    receiver.answer((_request, index) => ({ status: index % 2 === 0 ? 500 : 200 }));
    const destination = await destinationWith({ failureThreshold: 5, minimumRequests: 6, failureRateThreshold: 0.5 });
    const ids = await send(destination.id, 12);
    await circuitOf(destination.id, 'open');
    const audit = await circuitAudit(destination.id);
    expect(audit[0].details).toEqual({ from: 'closed', to: 'open', reason: expect.stringMatching(/^[3-4] of [6-8] attempts in 60000 ms failed$/) });
    await sleep(1000);
    // The 6th to 8th attempt opened it; the one claimed behind it may have gone too.
    expect(receiver.requests.length).toBeLessThanOrEqual(9);
    expect(await untouched(ids)).toBe(12 - receiver.requests.length);
  });

  it('429s and answers with Retry-After do not open it', async () => {
    receiver.answer((_request, index) => (index % 2 === 0 ? { status: 429 } : { status: 503, headers: { 'retry-after': '1' } }));
    const destination = await destinationWith({ failureThreshold: 2, minimumRequests: 2 });
    await send(destination.id, 6);
    await waitForCount(() => countDeliveries(system.client, destination.id, 'failed'), 6, 'throttled dead letters');
    expect(receiver.requests).toHaveLength(6);
    expect((await circuits.state(destination.id)).circuit).toBe('closed');
    expect(await circuitAudit(destination.id)).toEqual([]);
  });

  it('an operator pause outlasts the circuit: half-open does not resume the queue until the operator resumes it', async () => {
    receiver.answer(() => ({ status: 500 }));
    const destination = await destinationWith({ failureThreshold: 2, recoveryTimeoutMs: 1_500 });
    await send(destination.id, 2);
    await circuitOf(destination.id, 'open');
    expect((await system.client.post(`/v1/destinations/${destination.id}/pause`)).status).toBe(200);
    const held = await send(destination.id, 3, 'order.held');
    receiver.reset();
    await circuitOf(destination.id, 'half-open');
    await eventually(async () => ((await metrics()).includes(`dispatch_circuit_breaker_state{destination="${destination.id}"} 1`) ? true : undefined));
    await sleep(1000);
    expect(await queuePaused(destination.id)).toBe(true);
    expect(receiver.requests).toHaveLength(0);

    expect((await system.client.post(`/v1/destinations/${destination.id}/resume`)).status).toBe(200);
    await waitForCount(() => countDeliveries(system.client, destination.id, 'delivered'), 3, 'held deliveries delivered', 15_000);
    expect(await untouched(held)).toBe(0);
    expect((await circuits.state(destination.id)).circuit).toBe('closed');
  });

  describe('with a second worker process', () => {
    let second: AppProcess | undefined;
    let secondMetrics = '';

    beforeAll(async () => {
      const port = await freePort();
      second = spawnApp(
        'worker',
        testEnvironment({
          DATABASE_URL: system.config.databaseUrl,
          DISPATCH_QUEUE_PREFIX: system.config.queuePrefix,
          DISPATCH_WORKER_CONCURRENCY: '1',
          DISPATCH_METRICS_PORT: String(port),
        }),
      );
      secondMetrics = `http://127.0.0.1:${port}/metrics`;
      await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, second, 45_000);
    }, 60_000);

    afterAll(async () => {
      await second?.stop();
    });

    it('both share one circuit: it opens once, both stop sending, and both show it open', async () => {
      receiver.answer(() => ({ status: 500, delayMs: 50 }));
      const destination = await destinationWith({ failureThreshold: 4 });
      await send(destination.id, 4);
      await circuitOf(destination.id, 'open');
      const sent = receiver.requests.length;
      const held = await send(destination.id, 4, 'order.held');
      await sleep(1500);
      expect(receiver.requests).toHaveLength(sent);
      expect(await untouched(held)).toBe(4);
      expect((await circuitAudit(destination.id)).map((entry) => entry.action)).toEqual(['destination.circuit_opened']);
      const series = `dispatch_circuit_breaker_state{destination="${destination.id}"} 2`;
      expect(await metrics()).toContain(series);
      expect(await (await fetch(secondMetrics)).text()).toContain(series);
    });
  });
});
