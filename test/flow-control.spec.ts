import { AdaptiveRates, REDIS, RedisConnection } from '@dispatch/queue';
import { createWebhook, sendEvent } from '@dispatch/testing';
import { WorkerMetrics } from '../apps/worker/src/operations/worker-metrics';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

const DEFAULT_CIRCUIT_BREAKER = {
  enabled: true,
  failureThreshold: 10,
  failureRateThreshold: 0.5,
  minimumRequests: 20,
  windowMs: 60_000,
  recoveryTimeoutMs: 300_000,
  halfOpenMaxCalls: 3,
};

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('flow control settings of a destination', () => {
  const system = useSystem({ worker: false });
  const receiver = useReceiver();

  it('gives a new destination 100 attempts a second and the default circuit breaker, every field filled in', async () => {
    const created = await createWebhook(system.client, `${receiver.url}/hook`);
    expect(created.rateLimit).toEqual({ max: 100, durationMs: 1000, adaptive: false });
    expect(created.circuitBreaker).toEqual(DEFAULT_CIRCUIT_BREAKER);
    const read = await system.client.get(`/v1/destinations/${created.id}`);
    expect(read.body).toMatchObject({ rateLimit: { max: 100, durationMs: 1000, adaptive: false }, circuitBreaker: DEFAULT_CIRCUIT_BREAKER });
  });

  it('reads the older { max, durationMs } form as not adaptive, and completes a partial circuitBreaker with the defaults', async () => {
    const created = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: { max: 5, durationMs: 2000 }, circuitBreaker: { failureThreshold: 3 } });
    expect(created.rateLimit).toEqual({ max: 5, durationMs: 2000, adaptive: false });
    expect(created.circuitBreaker).toEqual({ ...DEFAULT_CIRCUIT_BREAKER, failureThreshold: 3 });
  });

  it('replaces rateLimit and circuitBreaker whole on PATCH, and keeps them when left out', async () => {
    const created = await createWebhook(system.client, `${receiver.url}/hook`, {
      rateLimit: { max: 50, durationMs: 1000, adaptive: true },
      circuitBreaker: { failureThreshold: 3, windowMs: 30_000 },
    });
    const changed = await system.client.request('PATCH', `/v1/destinations/${created.id}`, {
      circuitBreaker: { enabled: false },
      rateLimit: { max: 7, durationMs: 500 },
    });
    expect(changed.status).toBe(200);
    expect(changed.body.circuitBreaker).toEqual({ ...DEFAULT_CIRCUIT_BREAKER, enabled: false });
    expect(changed.body.rateLimit).toEqual({ max: 7, durationMs: 500, adaptive: false });
    const renamed = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { name: 'renamed' });
    expect(renamed.body).toMatchObject({ rateLimit: { max: 7, durationMs: 500, adaptive: false }, circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, enabled: false } });
    const unlimited = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { rateLimit: null });
    expect(unlimited.body.rateLimit).toBeNull();
  });

  it.each([
    [{ circuitBreaker: { failureRateThreshold: 1.5 } }, 'circuitBreaker.failureRateThreshold'],
    [{ circuitBreaker: { halfOpenMaxCalls: 0 } }, 'circuitBreaker.halfOpenMaxCalls'],
    [{ circuitBreaker: { recoveryTimeoutMs: 'soon' } }, 'circuitBreaker.recoveryTimeoutMs'],
    [{ circuitBreaker: { retries: 3 } }, 'circuitBreaker'],
    [{ rateLimit: { max: 10, durationMs: 1000, adaptive: 'yes' } }, 'rateLimit.adaptive'],
    [{ rateLimit: { max: 0, durationMs: 1000 } }, 'rateLimit.max'],
  ])('refuses %j naming %s, and writes nothing', async (fields, path) => {
    const before = await system.client.get('/v1/destinations?limit=200');
    const refused = await system.client.post('/v1/destinations', { name: 'bad', kind: 'webhook', config: { url: `${receiver.url}/hook` }, ...fields });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(refused.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect((await system.client.get('/v1/destinations?limit=200')).body.data).toHaveLength(before.body.data.length);

    const existing = await createWebhook(system.client, `${receiver.url}/hook`);
    const patched = await system.client.request('PATCH', `/v1/destinations/${existing.id}`, fields);
    expect(patched.status).toBe(400);
    expect(patched.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    const read = await system.client.get(`/v1/destinations/${existing.id}`);
    expect(read.body).toMatchObject({ rateLimit: existing.rateLimit, circuitBreaker: existing.circuitBreaker });
  });

  it("answers a test send 429 with Retry-After once the destination's rate limit is used up, and sends nothing", async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/limited`, { rateLimit: { max: 2, durationMs: 60_000 } });
    for (let i = 0; i < 2; i += 1) {
      const test = await system.client.post(`/v1/destinations/${destination.id}/test`);
      expect(test.status).toBe(200);
      expect(test.body.ok).toBe(true);
    }
    const refused = await system.client.post(`/v1/destinations/${destination.id}/test`);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject(errorShape(429, 'Too Many Requests'));
    expect(refused.body.message).toMatch(/rate limit.*used up; nothing was sent/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(receiver.requests.filter((request) => request.path === '/limited')).toHaveLength(2);
    const metrics = await fetch(`${system.url}/metrics`).then((answer) => answer.text());
    expect(metrics).toMatch(/^dispatch_rate_limiter_rejections_total\{source="test"\} [1-9]/m);

    // A destination without a limit is never held back.
    const unlimited = await createWebhook(system.client, `${receiver.url}/free`, { rateLimit: null });
    for (let i = 0; i < 3; i += 1) expect((await system.client.post(`/v1/destinations/${unlimited.id}/test`)).status).toBe(200);
  });
});

describe('adaptive rate limit', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('halves the rate the workers send at after a 429, then climbs back to max while the receiver keeps up', async () => {
    const rates = system.api.get(AdaptiveRates);
    const redis = system.api.get<RedisConnection>(REDIS);
    const limit = { max: 10, durationMs: 1000, adaptive: true };
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: limit, retryPolicy: { maxAttempts: 3, schedule: [60_000] } });
    const metaKey = `${system.config.queuePrefix}:{${destination.id}}:meta`;
    const limiterKey = `${system.config.queuePrefix}:{${destination.id}}:limiter`;
    expect(await rates.currentRate(destination.id, limit)).toBe(10);

    receiver.answer((_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    await sendEvent(system.client, { id: 'evt_aimd_first', type: 'aimd.first', destinations: [destination.id] });
    await receiver.waitFor(1, 10_000);
    expect(
      await eventually(
        () => rates.currentRate(destination.id, limit),
        (rate) => rate === 5,
      ),
    ).toBe(5);
    expect(await redis.hget(metaKey, 'max')).toBe('5');

    // Ten events held, then let go once the limiter's current window is over, so the first of them opens a window. At max all
    // ten would go in that window; at 5 a window (a few more if it climbed meanwhile) the last waits for the next one.
    await system.client.post(`/v1/destinations/${destination.id}/pause`);
    for (let i = 0; i < 10; i += 1) await sendEvent(system.client, { id: `evt_aimd_${i}`, type: 'aimd.burst', destinations: [destination.id] });
    receiver.reset();
    await eventually(
      () => redis.exists(limiterKey),
      (exists) => exists === 0,
    );
    await system.client.post(`/v1/destinations/${destination.id}/resume`);
    const requests = await receiver.waitFor(10, 20_000);
    expect(requests[9].receivedAt - requests[0].receivedAt).toBeGreaterThanOrEqual(900);
    const workerMetrics = await system.worker!.get(WorkerMetrics).registry.metrics();
    expect(workerMetrics).toMatch(/^dispatch_rate_limiter_rejections_total\{source="worker"\} [1-9]/m);

    // The receiver kept up: the rate climbs by a tenth of max a window, and back at max BullMQ's own limit applies again.
    expect(
      await eventually(
        () => rates.currentRate(destination.id, limit),
        (rate) => rate === 10,
      ),
    ).toBe(10);
    await sendEvent(system.client, { id: 'evt_aimd_last', type: 'aimd.last', destinations: [destination.id] });
    expect(
      await eventually(
        () => redis.hget(metaKey, 'max'),
        (max) => max === null,
      ),
    ).toBeNull();
  }, 60_000);

  it('forgets a lowered rate when the rate limit is changed', async () => {
    const rates = system.api.get(AdaptiveRates);
    const limit = { max: 40, durationMs: 60_000, adaptive: true };
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: limit });
    await rates.slowDown(destination.id, limit);
    expect(await rates.currentRate(destination.id, limit)).toBe(20);
    await system.client.request('PATCH', `/v1/destinations/${destination.id}`, { rateLimit: limit });
    expect(await rates.currentRate(destination.id, limit)).toBe(40);
    expect(await rates.currentRate(destination.id, { ...limit, adaptive: false })).toBeNull();
    expect(await rates.currentRate(destination.id, null)).toBeNull();
  });
});
