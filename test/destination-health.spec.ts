import { createTestOrganization, createWebhook, eventually, Json, sendEvent, waitForDelivery } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

/** One attempt per delivery: each event makes exactly one attempt. */
const ONE_ATTEMPT = { maxAttempts: 1 };

describe('destination health (api and worker)', () => {
  const system = useSystem();
  const receiver = useReceiver();

  const destination = (overrides: Record<string, unknown> = {}): Promise<Json> =>
    createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: ONE_ATTEMPT, ...overrides });

  const health = async (id: string): Promise<Json> => {
    const answer = await system.client.get(`/v1/destinations/${id}/health`);
    expect(answer.status).toBe(200);
    return answer.body;
  };

  /** Sends one event to the destination and waits until its delivery is `status`. */
  async function deliver(dst: Json, status: 'delivered' | 'failed'): Promise<Json> {
    const accepted = await sendEvent(system.client, { type: 'health.check', destinations: [dst.id] });
    return waitForDelivery(system.client, accepted.deliveries[0].id, status);
  }

  it('answers every field of the contract for a destination never attempted', async () => {
    const dst = await destination();
    expect(await health(dst.id)).toEqual({
      status: 'healthy',
      circuit: 'closed',
      circuitOpenedAt: null,
      consecutiveFailures: 0,
      totalDeliveries: 0,
      totalFailures: 0,
      averageResponseMs: null,
      lastSuccessAt: null,
      lastFailureAt: null,
      lastCheckAt: null,
      disabledAt: null,
      disabledReason: null,
      backlog: 0,
      currentRate: null,
      recentAverageResponseMs: null,
    });
  });

  it('counts successful attempts, their times and their average response time', async () => {
    const dst = await destination();
    receiver.answer(() => ({ status: 200, delayMs: 60 }));
    const before = Date.now();
    for (let i = 0; i < 3; i += 1) await deliver(dst, 'delivered');
    const answer = await health(dst.id);
    expect(answer).toMatchObject({ status: 'healthy', circuit: 'closed', consecutiveFailures: 0, totalDeliveries: 3, totalFailures: 0, lastFailureAt: null, backlog: 0 });
    expect(answer.averageResponseMs).toBeGreaterThanOrEqual(60);
    expect(answer.recentAverageResponseMs).toBeGreaterThanOrEqual(60);
    expect(Date.parse(answer.lastSuccessAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(answer.lastCheckAt).toBe(answer.lastSuccessAt);
  });

  it('is degraded after 1 and 2 consecutive failures, unhealthy from 3, and healthy again after a success', async () => {
    const dst = await destination();
    receiver.answer(() => ({ status: 500 }));
    await deliver(dst, 'failed');
    expect(await health(dst.id)).toMatchObject({ status: 'degraded', consecutiveFailures: 1, totalFailures: 1 });
    await deliver(dst, 'failed');
    expect(await health(dst.id)).toMatchObject({ status: 'degraded', consecutiveFailures: 2 });
    await deliver(dst, 'failed');
    const failing = await health(dst.id);
    expect(failing).toMatchObject({ status: 'unhealthy', consecutiveFailures: 3, totalDeliveries: 3, totalFailures: 3, lastSuccessAt: null });
    expect(failing.lastFailureAt).toEqual(expect.any(String));

    receiver.answer(() => ({ status: 200 }));
    await deliver(dst, 'delivered');
    const recovered = await health(dst.id);
    expect(recovered).toMatchObject({ status: 'healthy', consecutiveFailures: 0, totalDeliveries: 4, totalFailures: 3, lastFailureAt: failing.lastFailureAt });
    expect(Date.parse(recovered.lastSuccessAt)).toBeGreaterThan(Date.parse(failing.lastFailureAt));
  });

  it('does not count a 429 or an answer with Retry-After as a failure, nor let it end a failure streak', async () => {
    const dst = await destination();
    receiver.answer(() => ({ status: 429, headers: { 'retry-after': '1' } }));
    await deliver(dst, 'failed');
    receiver.answer(() => ({ status: 503, headers: { 'retry-after': '1' } }));
    await deliver(dst, 'failed');
    expect(await health(dst.id)).toMatchObject({ status: 'healthy', consecutiveFailures: 0, totalDeliveries: 2, totalFailures: 0, lastFailureAt: null });

    receiver.answer(() => ({ status: 500 }));
    await deliver(dst, 'failed');
    receiver.answer(() => ({ status: 429 }));
    await deliver(dst, 'failed');
    receiver.answer(() => ({ status: 500 }));
    await deliver(dst, 'failed');
    expect(await health(dst.id)).toMatchObject({ status: 'degraded', consecutiveFailures: 2, totalDeliveries: 5, totalFailures: 2 });
  });

  it("is degraded while the average response time of the last 15 minutes is above the organization's responseTimeMs, and not with the setting off", async () => {
    // An organization of its own, so its alert settings change no other test.
    const admin = system.client.as((await createTestOrganization(system.config.databaseUrl)).adminKey);
    const dst = await createWebhook(admin, `${receiver.url}/slow`, { retryPolicy: ONE_ATTEMPT });
    receiver.answer(() => ({ status: 200, delayMs: 150 }));
    const accepted = await sendEvent(admin, { type: 'health.slow', destinations: [dst.id] });
    await waitForDelivery(admin, accepted.deliveries[0].id, 'delivered');
    const healthOf = async () => (await admin.get(`/v1/destinations/${dst.id}/health`)).body;
    expect(await healthOf()).toMatchObject({ status: 'healthy', consecutiveFailures: 0 });

    expect((await admin.request('PUT', '/v1/alert-settings', { responseTimeMs: 100 })).status).toBe(200);
    const slow = await healthOf();
    expect(slow.status).toBe('degraded');
    expect(slow.recentAverageResponseMs).toBeGreaterThan(100);
    expect((await admin.get(`/v1/destinations/${dst.id}`)).body.health).toEqual({ status: 'degraded', circuit: 'closed' });

    expect((await admin.request('PUT', '/v1/alert-settings', { responseTimeMs: null })).status).toBe(200);
    expect((await healthOf()).status).toBe('healthy');
  });

  it('is unhealthy while its circuit is open, with when it opened, in its health and in the list', async () => {
    const dst = await destination({ circuitBreaker: { failureThreshold: 2, recoveryTimeoutMs: 600_000 } });
    receiver.answer(() => ({ status: 500 }));
    const before = Date.now();
    await deliver(dst, 'failed');
    await deliver(dst, 'failed');
    const open = await eventually(
      async () => {
        const answer = await health(dst.id);
        return answer.circuit === 'open' ? answer : undefined;
      },
      10_000,
      'the circuit to open',
    );
    expect(open).toMatchObject({ status: 'unhealthy', consecutiveFailures: 2 });
    expect(Date.parse(open.circuitOpenedAt)).toBeGreaterThanOrEqual(before - 1000);
    const listed: Json[] = (await system.client.get('/v1/destinations?limit=200')).body.data;
    expect(listed.find((item) => item.id === dst.id)?.health).toEqual({ status: 'unhealthy', circuit: 'open' });
  });

  it('counts the open deliveries of a destination as its backlog', async () => {
    const dst = await destination();
    expect((await system.client.post(`/v1/destinations/${dst.id}/pause`, {})).status).toBe(200);
    for (let i = 0; i < 3; i += 1) await sendEvent(system.client, { type: 'health.backlog', destinations: [dst.id] });
    expect(await health(dst.id)).toMatchObject({ status: 'healthy', backlog: 3 });
    expect((await system.client.post(`/v1/destinations/${dst.id}/resume`, {})).status).toBe(200);
    await eventually(async () => ((await health(dst.id)).backlog === 0 ? true : undefined), 10_000, 'the backlog to drain');
    expect(await health(dst.id)).toMatchObject({ totalDeliveries: 3, backlog: 0 });
  });

  it('shows { status, circuit } in the list and on each destination', async () => {
    const good = await destination();
    const bad = await destination();
    receiver.answer(() => ({ status: 500 }));
    for (let i = 0; i < 3; i += 1) await deliver(bad, 'failed');
    const disabled = await destination({ enabled: false });

    const got = await system.client.get(`/v1/destinations/${bad.id}`);
    expect(got.body.health).toEqual({ status: 'unhealthy', circuit: 'closed' });

    const listed = new Map<string, Json>();
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page: Json = (await system.client.get(`/v1/destinations?limit=200${cursor ? `&cursor=${cursor}` : ''}`)).body;
      for (const item of page.data) listed.set(item.id, item);
      cursor = page.nextCursor;
    }
    expect(listed.get(good.id)?.health).toEqual({ status: 'healthy', circuit: 'closed' });
    expect(listed.get(bad.id)?.health).toEqual({ status: 'unhealthy', circuit: 'closed' });
    expect(listed.get(disabled.id)?.health).toEqual({ status: 'disabled', circuit: 'closed' });
    expect([...listed.values()].every((item) => typeof item.health?.status === 'string')).toBe(true);
  });

  it('answers disabled with when and why for a destination disabled by an operator, and healthy once enabled again', async () => {
    const dst = await destination();
    const before = Date.now();
    expect((await system.client.request('PATCH', `/v1/destinations/${dst.id}`, { enabled: false })).status).toBe(200);
    const disabled = await health(dst.id);
    expect(disabled.status).toBe('disabled');
    expect(Date.parse(disabled.disabledAt)).toBeGreaterThanOrEqual(before - 1000);
    await system.client.post(`/v1/destinations/${dst.id}/resume`, {});
    expect(await health(dst.id)).toMatchObject({ status: 'healthy', disabledAt: null, disabledReason: null });
  });

  it('answers disabled with the reason and time for a destination its receiver said is gone (410)', async () => {
    const dst = await destination();
    receiver.answer(() => ({ status: 410 }));
    const before = Date.now();
    await deliver(dst, 'failed');
    const gone = await health(dst.id);
    expect(gone).toMatchObject({ status: 'disabled', disabledReason: expect.stringContaining('410'), consecutiveFailures: 1, totalFailures: 1 });
    expect(Date.parse(gone.disabledAt)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('is described in the OpenAPI document', async () => {
    const docs = await system.client.get('/docs-json');
    const operation = docs.body.paths['/v1/destinations/{id}/health']?.get;
    expect(operation?.summary).toContain('Health of a destination');
    expect(operation?.description).toContain('responseTimeMs');
  });

  it("answers 404 for another organization's destination, and for none", async () => {
    const dst = await destination();
    const other = system.client.as((await createTestOrganization(system.config.databaseUrl)).adminKey);
    const answer = await other.get(`/v1/destinations/${dst.id}/health`);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual(errorShape(404, 'Not Found'));
    expect((await system.client.get('/v1/destinations/dst_missing/health')).status).toBe(404);
  });
});

describe('auto-disable (api and worker)', () => {
  // Every attempt failing for 2 s disables a destination; the reconciler looks every second.
  const system = useSystem({ env: { DISPATCH_AUTO_DISABLE_AFTER_MS: '2000' } });
  const receiver = useReceiver();
  /** Retries every 200 ms, and never stops trying (no circuit breaker), so its attempts keep failing. */
  const KEEPS_TRYING = { retryPolicy: { maxAttempts: 100, schedule: [200], jitter: 0 }, circuitBreaker: { enabled: false } };

  it('disables a destination whose attempts have all failed for DISPATCH_AUTO_DISABLE_AFTER_MS, with the reason, in the audit trail; resume enables it again', async () => {
    const dst = await createWebhook(system.client, `${receiver.url}/hook`, KEEPS_TRYING);
    const healthy = await createWebhook(system.client, `${receiver.url}/healthy`, KEEPS_TRYING);
    receiver.answer((request) => ({ status: request.path === '/hook' ? 500 : 200 }));
    const started = Date.now();
    const failing = await sendEvent(system.client, { type: 'auto.disable', destinations: [dst.id] });
    const health = await eventually(
      async () => {
        const answer = (await system.client.get(`/v1/destinations/${dst.id}/health`)).body;
        return answer.status === 'disabled' ? answer : undefined;
      },
      15_000,
      'the failing destination to be disabled',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(health).toMatchObject({ disabledReason: 'every attempt failed for 2 seconds', backlog: 1 });
    expect(Date.parse(health.disabledAt)).toBeGreaterThanOrEqual(started + 2000);
    expect(health.consecutiveFailures).toBeGreaterThanOrEqual(2);
    const shown = (await system.client.get(`/v1/destinations/${dst.id}`)).body;
    expect(shown).toMatchObject({ enabled: false, disabledReason: 'every attempt failed for 2 seconds', health: { status: 'disabled', circuit: 'closed' } });

    const audit = (await system.client.get('/v1/audit-log?limit=200')).body.data as Json[];
    expect(audit.filter((entry) => entry.target === dst.id && entry.action === 'destination.disable')).toEqual([
      expect.objectContaining({ actor: 'dispatch', details: expect.objectContaining({ reason: 'every attempt failed for 2 seconds' }) }),
    ]);

    // The organization hears of it as an event of its own.
    const told = (await system.client.get('/v1/events?type=dispatch.destination.disabled')).body.data as Json[];
    expect(told.filter((event) => event.data?.destination?.id === dst.id)).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ destination: expect.objectContaining({ enabled: false, disabledReason: 'every attempt failed for 2 seconds' }) }),
      }),
    ]);

    // A destination that succeeds meanwhile stays enabled.
    const ok = await sendEvent(system.client, { type: 'auto.ok', destinations: [healthy.id] });
    await waitForDelivery(system.client, ok.deliveries[0].id, 'delivered');
    expect((await system.client.get(`/v1/destinations/${healthy.id}/health`)).body.status).toBe('healthy');

    // Resumed, it gets a new period: the receiver now accepts, and what it held is delivered.
    receiver.answer(() => ({ status: 200 }));
    const resumed = await system.client.post(`/v1/destinations/${dst.id}/resume`, {});
    expect(resumed.body).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null });
    await waitForDelivery(system.client, failing.deliveries[0].id, 'delivered');
    expect((await system.client.get(`/v1/destinations/${dst.id}/health`)).body).toMatchObject({ status: 'healthy', consecutiveFailures: 0, backlog: 0 });
  }, 30_000);

  it('gives a resumed destination a whole new period before it is disabled again', async () => {
    const dst = await createWebhook(system.client, `${receiver.url}/hook`, KEEPS_TRYING);
    receiver.answer(() => ({ status: 500 }));
    await sendEvent(system.client, { type: 'auto.again', destinations: [dst.id] });
    const disabledOnce = async () =>
      eventually(
        async () => ((await system.client.get(`/v1/destinations/${dst.id}/health`)).body.status === 'disabled' ? true : undefined),
        15_000,
        'the destination to be disabled',
      );
    await disabledOnce();
    const resumedAt = Date.now();
    await system.client.post(`/v1/destinations/${dst.id}/resume`, {});
    await disabledOnce();
    expect(Date.now() - resumedAt).toBeGreaterThanOrEqual(2000);
  }, 30_000);
});
