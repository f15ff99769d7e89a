import { Webhook } from 'standardwebhooks';
import { ApiClient, createTestOrganization, createWebhook, eventually, Json, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { errorShape } from './answers';
import { freePort as closedPort } from './processes';
import { useReceiver, useSystem } from './system';

describe('delivery rules the docs promise (api and worker)', () => {
  // The reconciler at its default period: what these tests see is the queues' own doing, not its repairs.
  const system = useSystem({ env: { DISPATCH_RECONCILE_MS: '10000' } });
  const receiver = useReceiver();
  let client: ApiClient;

  beforeAll(() => {
    client = system.client;
  });

  /** A webhook on the receiver that no routed event of these tests matches. */
  const destination = (overrides: Record<string, unknown> = {}): Promise<Json> =>
    createWebhook(client, `${receiver.url}/hook`, { eventTypes: [`${uniqueId('rules')}.*`], ...overrides });

  /** Sends event `id` to `dst` only; returns its delivery id there. */
  async function send(dst: Json, id: string, extra: Record<string, unknown> = {}): Promise<string> {
    const accepted = await sendEvent(client, { id, type: 'order.created', data: { id }, destinations: [dst.id], ...extra });
    return accepted.deliveries[0].id;
  }

  const deliveryOf = async (id: string): Promise<Json> => (await client.get(`/v1/deliveries/${id}`)).body;

  /** Barrier: a marker event to `dst`, sent now, has reached the receiver. Returns its id. */
  async function marker(dst: Json): Promise<string> {
    const id = uniqueId('marker');
    await send(dst, id);
    await receiver.waitForEvent(id);
    return id;
  }

  /**
   * A backlog on a destination an operator then disabled: with no worker running, event
   * `eventId` is accepted for `dst` (its job is queued), then `dst` is disabled, then the
   * worker starts again. Returns the delivery id.
   */
  async function heldByDisabling(dst: Json, eventId: string): Promise<string> {
    await system.stopWorker();
    try {
      const id = await send(dst, eventId);
      const disabled = await client.request('PATCH', `/v1/destinations/${dst.id}`, { enabled: false });
      expect(disabled.status).toBe(200);
      expect(disabled.body.enabled).toBe(false);
      return id;
    } finally {
      await system.startWorker();
    }
  }

  it('signs every attempt with its own webhook-timestamp: a retry carries a later one, and verifies', async () => {
    const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [1100], jitter: 0 } });
    const eventId = uniqueId('stamped');
    receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500 } : { status: 200 }));
    const id = await send(dst, eventId);
    await waitForDelivery(client, id, 'delivered');

    const requests = receiver.requestsOf(eventId);
    expect(requests.map((request) => request.headers['dispatch-attempt'])).toEqual(['1', '2']);
    const stamp = (index: number) => Number(requests[index].headers['webhook-timestamp']);
    for (const [index, request] of requests.entries()) {
      expect(String(request.headers['webhook-timestamp'])).toMatch(/^\d+$/);
      // Unix seconds of this attempt: at most a second before the receiver got it.
      expect(request.receivedAt / 1000 - stamp(index)).toBeGreaterThanOrEqual(0);
      expect(request.receivedAt / 1000 - stamp(index)).toBeLessThan(2);
      expect(new Webhook(dst.secret).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ id: eventId });
    }
    expect(stamp(1)).toBeGreaterThan(stamp(0));
    // The body is the same on every attempt: its timestamp is when the event was accepted.
    expect(requests[1].body).toBe(requests[0].body);
  });

  it('brings a waiting retry forward on a manual retry: attempt 2 goes at once, trigger manual', async () => {
    const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [60_000], jitter: 0 } });
    const eventId = uniqueId('forward');
    receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500, body: 'down' } : { status: 200, body: 'ok' }));
    const id = await send(dst, eventId);
    const retrying = await waitForDelivery(client, id, 'retrying');
    expect(new Date(retrying.nextAttemptAt).getTime()).toBeGreaterThan(Date.now() + 50_000);

    const asked = Date.now();
    const retry = await client.post(`/v1/deliveries/${id}/retry`);
    expect(retry.status).toBe(202);
    await eventually(async () => (receiver.requestsOf(eventId).length === 2 ? true : undefined), 5_000, 'attempt 2 to reach the receiver');
    const second = receiver.requestsOf(eventId)[1];
    expect(second.headers['dispatch-attempt']).toBe('2');
    expect(second.receivedAt - asked).toBeLessThan(5_000);

    const delivered = await waitForDelivery(client, id, 'delivered');
    expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
      [1, 'scheduled', 500],
      [2, 'manual', 200],
    ]);
    expect(delivered.nextAttemptAt).toBeNull();
  });

  it('routes no new delivery to a destination disabled by 410 Gone', async () => {
    // An organization of its own: no event of another test has been routed in it.
    const organization = await createTestOrganization(system.config.databaseUrl);
    const own = new ApiClient(system.url, organization.adminKey);
    const gone = await createWebhook(own, `${receiver.url}/gone`, { eventTypes: ['parcel.*'], retryPolicy: { maxAttempts: 3, schedule: [150], jitter: 0 } });
    const live = await createWebhook(own, `${receiver.url}/live`, { eventTypes: ['parcel.*'] });
    const goneEvent = uniqueId('gone');
    receiver.answerEvent(goneEvent, () => ({ status: 410 }));
    const first = (await sendEvent(own, { id: goneEvent, type: 'parcel.sent', destinations: [gone.id] })).deliveries[0].id;
    await waitForDelivery(own, first, 'failed');
    expect((await own.get(`/v1/destinations/${gone.id}`)).body).toMatchObject({ enabled: false, disabledReason: 'receiver answered 410 Gone' });

    const routed = await sendEvent(own, { id: uniqueId('routed'), type: 'parcel.arrived' });
    expect(routed.deliveries.map((delivery: Json) => delivery.destinationId)).toEqual([live.id]);
    const ofGone = (await own.get(`/v1/deliveries?destinationId=${gone.id}`)).body.data.map((delivery: Json) => delivery.id);
    expect(ofGone).toEqual([first]);
  });

  it('holds the deliveries of a destination an operator disabled, pending, and sends them once it is re-enabled', async () => {
    const dst = await destination();
    const other = await destination();
    const backlogEvent = uniqueId('backlog');
    const backlog = await heldByDisabling(dst, backlogEvent);
    // Named explicitly, a disabled destination still gets a delivery: it is held too.
    const namedEvent = uniqueId('named');
    const named = await send(dst, namedEvent);

    await marker(other);
    expect(receiver.requestsOf(backlogEvent)).toHaveLength(0);
    expect(receiver.requestsOf(namedEvent)).toHaveLength(0);
    expect((await deliveryOf(backlog)).status).toBe('pending');
    expect((await deliveryOf(named)).status).toBe('pending');

    const enabled = await client.request('PATCH', `/v1/destinations/${dst.id}`, { enabled: true });
    expect(enabled.status).toBe(200);
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null });
    // Sent by the re-enabling itself, well before the reconciler (10 s) would notice them.
    for (const id of [backlog, named]) {
      const delivered = await waitForDelivery(client, id, 'delivered', 5_000);
      expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([[1, 'scheduled', 200]]);
    }
    expect(receiver.requestsOf(backlogEvent)).toHaveLength(1);
    expect(receiver.requestsOf(namedEvent)).toHaveLength(1);
  });

  it('cancels a held delivery of a disabled destination: it is never sent, also after the destination is resumed', async () => {
    const dst = await destination();
    const heldEvent = uniqueId('held');
    const id = await heldByDisabling(dst, heldEvent);

    const cancelled = await client.post(`/v1/deliveries/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled' });

    const resumed = await client.post(`/v1/destinations/${dst.id}/resume`);
    expect(resumed.body).toMatchObject({ enabled: true, disabledReason: null });
    // The held delivery was queued before the marker: once the marker is in, it has had its turn.
    const markerId = await marker(dst);
    expect(receiver.eventIds()).toEqual([markerId]);
    expect((await deliveryOf(id)).status).toBe('cancelled');
  });

  it('refuses to cancel a delivered or a delivering delivery: 409 in the one error shape, nothing written', async () => {
    const dst = await destination();
    const doneEvent = uniqueId('done');
    const done = await send(dst, doneEvent);
    await waitForDelivery(client, done, 'delivered');
    const refusedDone = await client.post(`/v1/deliveries/${done}/cancel`);
    expect(refusedDone.status).toBe(409);
    expect(refusedDone.body).toEqual(errorShape(409, 'Conflict'));
    expect(refusedDone.body.message).toContain(done);
    expect((await deliveryOf(done)).status).toBe('delivered');

    const slowEvent = uniqueId('slow');
    receiver.answerEvent(slowEvent, () => ({ status: 200, body: 'late', delayMs: 2000 }));
    const slow = await send(dst, slowEvent);
    await eventually(async () => (receiver.requestsOf(slowEvent).length === 1 ? true : undefined), 10_000, 'the attempt to reach the receiver');
    expect((await deliveryOf(slow)).status).toBe('delivering');
    const refusedSlow = await client.post(`/v1/deliveries/${slow}/cancel`);
    expect(refusedSlow.status).toBe(409);
    expect(refusedSlow.body).toEqual(errorShape(409, 'Conflict'));
    expect(refusedSlow.body.message).toContain(slow);

    const delivered = await waitForDelivery(client, slow, 'delivered');
    expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.statusCode])).toEqual([[1, 200]]);
    const audit = (await client.get('/v1/audit-log?limit=200')).body.data;
    expect(audit.filter((entry: Json) => [done, slow].includes(entry.target))).toEqual([]);
  });

  it('records a connection error on the attempt (no status code) and retries it per the policy', async () => {
    const port = await closedPort();
    const dst = await destination({ config: { url: `http://127.0.0.1:${port}/hook` }, retryPolicy: { maxAttempts: 3, schedule: [3000], jitter: 0 } });
    const eventId = uniqueId('refused');
    const id = await send(dst, eventId);
    const retrying = await waitForDelivery(client, id, 'retrying');
    expect(retrying.attempts).toEqual([
      {
        number: 1,
        trigger: 'scheduled',
        startedAt: expect.any(String),
        durationMs: expect.any(Number),
        outcome: 'retry',
        statusCode: null,
        responseBody: null,
        error: expect.stringMatching(/^connection error \(ECONNREFUSED\)/),
      },
    ]);
    expect(retrying.lastError).toMatch(/^connection error \(ECONNREFUSED\)/);
    expect(retrying.lastStatusCode).toBeNull();
    const firstStarted = new Date(retrying.attempts[0].startedAt).getTime();
    expect(new Date(retrying.nextAttemptAt).getTime() - firstStarted).toBeGreaterThanOrEqual(2900);

    // The receiver is reachable at another address now: the scheduled retry goes there.
    const moved = await client.request('PATCH', `/v1/destinations/${dst.id}`, { config: { url: `${receiver.url}/hook` } });
    expect(moved.status).toBe(200);
    const delivered = await waitForDelivery(client, id, 'delivered');
    expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode, attempt.error])).toEqual([
      [1, 'scheduled', null, expect.stringMatching(/^connection error/)],
      [2, 'scheduled', 200, null],
    ]);
    expect(new Date(delivered.attempts[1].startedAt).getTime() - firstStarted).toBeGreaterThanOrEqual(2900);
    expect(receiver.requestsOf(eventId).map((request) => request.headers['dispatch-attempt'])).toEqual(['2']);
  });

  it('makes an ordered delivery wait behind its retrying head without using an attempt', async () => {
    const dst = await destination({ ordering: 'key', retryPolicy: { maxAttempts: 5, schedule: [1200], jitter: 0 } });
    const key = uniqueId('key');
    const head = uniqueId('head');
    const next = uniqueId('next');
    receiver.answerEvent(head, (earlier) => (earlier < 2 ? { status: 500 } : { status: 200 }));
    const headId = await send(dst, head, { orderingKey: key });
    const nextId = await send(dst, next, { orderingKey: key });

    await waitForDelivery(client, headId, 'retrying');
    const waiting = await deliveryOf(nextId);
    expect(waiting).toMatchObject({ status: 'pending', attemptCount: 0 });

    const delivered = await waitForDelivery(client, nextId, 'delivered', 15_000);
    expect(receiver.eventIds()).toEqual([head, head, head, next]);
    expect(receiver.requestsOf(next).map((request) => request.headers['dispatch-attempt'])).toEqual(['1']);
    expect(delivered.attemptCount).toBe(1);
    expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([[1, 'scheduled', 200]]);
    expect((await deliveryOf(headId)).attempts.map((attempt: Json) => attempt.statusCode)).toEqual([500, 500, 200]);
  }, 20_000);

  it("counts deliveries that settle as failed again in a replay's progress: done, remaining 0, byStatus.failed", async () => {
    const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
    const again = [uniqueId('again'), uniqueId('again')];
    const healed = uniqueId('healed');
    for (const eventId of again) receiver.answerEvent(eventId, () => ({ status: 500, body: 'still down' }));
    receiver.answerEvent(healed, (earlier) => (earlier === 0 ? { status: 500 } : { status: 200 }));
    const failedAgain = [await send(dst, again[0]), await send(dst, again[1])];
    const delivered = await send(dst, healed);
    for (const id of [...failedAgain, delivered]) await waitForDelivery(client, id, 'failed');

    const run = await client.post('/v1/deliveries/retry', { destinationId: dst.id });
    expect(run.status).toBe(202);
    expect(run.body).toEqual({ count: 3, replayId: expect.stringMatching(/^rpl_/) });
    for (const id of failedAgain) {
      const settled = await eventually(
        async () => {
          const delivery = await deliveryOf(id);
          return delivery.status === 'failed' && delivery.attempts.length === 2 ? delivery : undefined;
        },
        10_000,
        `${id} to fail again`,
      );
      expect(settled.attempts[1]).toMatchObject({ number: 2, trigger: 'manual', statusCode: 500 });
    }
    await waitForDelivery(client, delivered, 'delivered');

    const progress = (await client.get(`/v1/replays/${run.body.replayId}`)).body;
    expect(progress).toMatchObject({ id: run.body.replayId, total: 3, done: 3, remaining: 0 });
    expect(progress.byStatus).toEqual({ failed: 2, delivered: 1 });
  });
});

describe('the kept answer with DISPATCH_RESPONSE_MAX_BYTES=100', () => {
  const system = useSystem({ env: { DISPATCH_RESPONSE_MAX_BYTES: '100' } });
  const receiver = useReceiver();

  async function keptAnswer(answer: string): Promise<string> {
    receiver.answer(() => ({ status: 200, body: answer, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
    const dst = await createWebhook(system.client, `${receiver.url}/hook`, { eventTypes: [`${uniqueId('kept')}.*`] });
    const accepted = await sendEvent(system.client, { type: 'answer.kept', destinations: [dst.id] });
    const delivered = await waitForDelivery(system.client, accepted.deliveries[0].id, 'delivered');
    return delivered.attempts[0].responseBody;
  }

  it('keeps the first 100 bytes of a 1,000-byte answer', async () => {
    // 250 numbered blocks of 4 digits: no two 100-byte stretches of it are alike.
    const answer = Array.from({ length: 250 }, (_, index) => String(index).padStart(4, '0')).join('');
    expect(Buffer.byteLength(answer)).toBe(1000);
    expect(await keptAnswer(answer)).toBe(answer.slice(0, 100));
  });

  it('keeps at most 100 bytes of a multi-byte UTF-8 answer, and only characters it holds', async () => {
    // "€" is 3 bytes in UTF-8: 100 bytes end inside the 34th.
    const answer = '€'.repeat(400);
    const kept = await keptAnswer(answer);
    expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(100);
    expect(kept).toBe('€'.repeat(33));
  });
});
