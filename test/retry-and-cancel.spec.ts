import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { destinationQueueName } from '@dispatch/queue';
import { ApiClient, createWebhook, eventually, Json, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

describe('manual retry, cancel and replay (api and worker)', () => {
  // The reconciler at its default period: what these tests see is the queues' own doing, not its repairs.
  const system = useSystem({ env: { DISPATCH_RECONCILE_MS: '10000' } });
  const receiver = useReceiver();
  let client: ApiClient;
  let redis: IORedis;
  const queues: Queue[] = [];

  beforeAll(() => {
    client = system.client;
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    redis.disconnect();
  });

  const destination = (overrides: Record<string, unknown> = {}): Promise<Json> => createWebhook(client, `${receiver.url}/hook`, overrides);

  /** Sends event `id` to `dst` only; returns its delivery id there. */
  async function send(dst: Json, id: string, extra: Record<string, unknown> = {}): Promise<string> {
    const accepted = await sendEvent(client, { id, type: 'order.created', data: { id }, destinations: [dst.id], ...extra });
    return accepted.deliveries[0].id;
  }

  const deliveryOf = async (id: string): Promise<Json> => (await client.get(`/v1/deliveries/${id}`)).body;

  const queueOf = (dst: Json): Queue => {
    const queue = new Queue(destinationQueueName(dst.id), { connection: redis, prefix: system.config.queuePrefix });
    queues.push(queue);
    return queue;
  };

  /** The state of a delivery's job once no attempt of it is running (BullMQ moves it after the delivery is settled). */
  const jobStateAtRest = (queue: Queue, deliveryId: string): Promise<string> =>
    eventually(
      async () => {
        const state = (await queue.getJob(deliveryId)) ? await queue.getJobState(deliveryId) : 'missing';
        return state === 'active' ? undefined : state;
      },
      10_000,
      `the job of ${deliveryId} to leave the active list`,
    );

  /** Barrier: a marker event to `dst`, sent now, has reached the receiver. */
  async function marker(dst: Json): Promise<void> {
    const id = uniqueId('marker');
    await send(dst, id);
    await receiver.waitForEvent(id);
  }

  /** Resolves once the clock has passed `at`. */
  const clockPast = (at: Date): Promise<boolean> =>
    eventually(async () => (Date.now() > at.getTime() ? true : undefined), at.getTime() - Date.now() + 5_000, `${at.toISOString()}`);

  const auditEntries = async (): Promise<Json[]> => (await client.get('/v1/audit-log?limit=200')).body.data;

  describe('one delivery, retried by an operator', () => {
    it('answers 409 in the one error shape while an attempt is in flight, and the refused retry writes nothing', async () => {
      const dst = await destination();
      const eventId = uniqueId('held');
      receiver.answerEvent(eventId, () => ({ status: 200, body: 'late', delayMs: 2000 }));
      const id = await send(dst, eventId);
      await eventually(async () => (receiver.requestsOf(eventId).length === 1 ? true : undefined), 10_000, 'the attempt to reach the receiver');
      expect((await deliveryOf(id)).status).toBe('delivering');

      const refused = await client.post(`/v1/deliveries/${id}/retry`);
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual(errorShape(409, 'Conflict'));
      expect(refused.body.message).toContain(id);

      const delivered = await waitForDelivery(client, id, 'delivered');
      await marker(dst);
      expect(receiver.requestsOf(eventId)).toHaveLength(1);
      expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([[1, 'scheduled', 200]]);
      expect((await deliveryOf(id)).attempts).toHaveLength(1);
      expect((await auditEntries()).filter((entry) => entry.target === id)).toEqual([]);
    }, 45_000);

    it('answers 404 in the one error shape for an unknown delivery', async () => {
      const answer = await client.post('/v1/deliveries/dlv_does_not_exist/retry');
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual(errorShape(404, 'Not Found'));
      expect(answer.body.message).toContain('dlv_does_not_exist');
    });

    it('goes on retrying when a manual attempt of a dead letter fails and the policy has attempts left', async () => {
      // A 422 the policy does not retry makes a dead letter after one attempt of three.
      const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [1000], jitter: 0, nonRetryableStatuses: [422] } });
      const eventId = uniqueId('left');
      receiver.answerEvent(eventId, (earlier) => [{ status: 422 }, { status: 500, body: 'still down' }][earlier] ?? { status: 200, body: 'ok' });
      const id = await send(dst, eventId);
      const dead = await waitForDelivery(client, id, 'failed');
      expect(dead.attempts).toHaveLength(1);

      expect((await client.post(`/v1/deliveries/${id}/retry`)).status).toBe(202);
      const retrying = await waitForDelivery(client, id, 'retrying');
      expect(retrying.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
        [1, 'scheduled', 422],
        [2, 'manual', 500],
      ]);
      expect(retrying.lastError).toBe('HTTP 500');
      expect(new Date(retrying.nextAttemptAt).getTime()).toBeGreaterThanOrEqual(new Date(retrying.attempts[1].startedAt).getTime() + 900);

      const delivered = await waitForDelivery(client, id, 'delivered');
      expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
        [1, 'scheduled', 422],
        [2, 'manual', 500],
        [3, 'scheduled', 200],
      ]);
      expect(receiver.requestsOf(eventId).map((request) => request.headers['dispatch-attempt'])).toEqual(['1', '2', '3']);
    }, 45_000);

    it('goes on retrying when the policy was given more attempts after the dead letter', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
      const eventId = uniqueId('raised');
      receiver.answerEvent(eventId, (earlier) => (earlier < 2 ? { status: 500, body: 'still down' } : { status: 200, body: 'ok' }));
      const id = await send(dst, eventId);
      await waitForDelivery(client, id, 'failed');
      const queue = queueOf(dst);
      expect(await jobStateAtRest(queue, id)).toBe('failed');

      const patched = await client.request('PATCH', `/v1/destinations/${dst.id}`, { retryPolicy: { maxAttempts: 3, schedule: [1000], jitter: 0 } });
      expect(patched.status).toBe(200);
      expect((await client.post(`/v1/deliveries/${id}/retry`)).status).toBe(202);
      const retrying = await waitForDelivery(client, id, 'retrying');
      expect(retrying.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
        [1, 'scheduled', 500],
        [2, 'manual', 500],
      ]);
      // Waiting for its retry, it is not a dead letter: Bull Board shows it waiting, not as a failed job.
      expect(await jobStateAtRest(queue, id)).toBe('delayed');
      expect((await queue.getFailed()).map((job) => job.id)).toEqual([]);

      const delivered = await waitForDelivery(client, id, 'delivered');
      expect(delivered.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
        [1, 'scheduled', 500],
        [2, 'manual', 500],
        [3, 'scheduled', 200],
      ]);
      // The next attempt is made when the policy says (nextAttemptAt), not when something notices it later.
      const third = new Date(delivered.attempts[2].startedAt).getTime();
      expect(third).toBeGreaterThanOrEqual(new Date(retrying.nextAttemptAt).getTime() - 50);
      expect(third).toBeLessThan(new Date(retrying.nextAttemptAt).getTime() + 5000);
    }, 60_000);

    it('is a dead letter again when a manual attempt fails and the policy has no attempts left', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 2, schedule: [300], jitter: 0 } });
      const eventId = uniqueId('spent');
      receiver.answerEvent(eventId, () => ({ status: 500, body: 'down' }));
      const id = await send(dst, eventId);
      await waitForDelivery(client, id, 'failed');

      expect((await client.post(`/v1/deliveries/${id}/retry`)).status).toBe(202);
      const failed = await eventually(
        async () => {
          const delivery = await deliveryOf(id);
          return delivery.status === 'failed' && delivery.attempts.length === 3 ? delivery : undefined;
        },
        10_000,
        'the manual attempt to fail',
      );
      expect(failed.attempts.map((attempt: Json) => [attempt.number, attempt.trigger, attempt.statusCode])).toEqual([
        [1, 'scheduled', 500],
        [2, 'scheduled', 500],
        [3, 'manual', 500],
      ]);
      expect(failed).toMatchObject({ nextAttemptAt: null, lastError: 'HTTP 500; gave up after 3 attempts', lastStatusCode: 500 });
      const deadLetters = await client.get(`/v1/deliveries?status=failed&destinationId=${dst.id}`);
      expect(deadLetters.body.data.map((delivery: Json) => delivery.id)).toEqual([id]);
      const queue = queueOf(dst);
      expect(await jobStateAtRest(queue, id)).toBe('failed');
      expect((await queue.getFailed()).map((job) => job.id)).toEqual([id]);

      // Had it gone on retrying, its next attempt would have been due 300 ms after the last one.
      await clockPast(new Date(new Date(failed.attempts[2].startedAt).getTime() + failed.attempts[2].durationMs + 1000));
      await marker(dst);
      expect(receiver.requestsOf(eventId)).toHaveLength(3);
      expect(await deliveryOf(id)).toMatchObject({ status: 'failed', attemptCount: 3 });
    }, 60_000);
  });

  describe('cancel', () => {
    it('cancels a retrying delivery: its retry never goes out', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [1500], jitter: 0 } });
      const eventId = uniqueId('retrying');
      receiver.answerEvent(eventId, () => ({ status: 500 }));
      const id = await send(dst, eventId);
      const retrying = await waitForDelivery(client, id, 'retrying');
      const due = new Date(retrying.nextAttemptAt);

      const cancelled = await client.post(`/v1/deliveries/${id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ id, status: 'cancelled', nextAttemptAt: null });

      await clockPast(new Date(due.getTime() + 1000));
      await marker(dst);
      expect(receiver.requestsOf(eventId)).toHaveLength(1);
      const after = await deliveryOf(id);
      expect(after).toMatchObject({ status: 'cancelled', attemptCount: 1 });
      expect(after.attempts).toHaveLength(1);
      expect((await queueOf(dst).getJob(id))?.id).toBeUndefined();
    }, 45_000);

    it('cancels a dead letter: it is no longer one, a replay of dead letters skips it, and it is never sent', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
      const eventId = uniqueId('dead');
      receiver.answerEvent(eventId, () => ({ status: 500 }));
      const id = await send(dst, eventId);
      await waitForDelivery(client, id, 'failed');

      const cancelled = await client.post(`/v1/deliveries/${id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ id, status: 'cancelled' });
      expect((await client.get(`/v1/deliveries?status=failed&destinationId=${dst.id}`)).body.data).toEqual([]);
      expect((await queueOf(dst).getFailed()).map((job) => job.id)).toEqual([]);
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id, dryRun: true })).body).toEqual({ count: 0, bytes: 0, destinations: [] });
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id })).body).toMatchObject({ count: 0 });

      await marker(dst);
      expect(receiver.requestsOf(eventId)).toHaveLength(1);
      expect(await deliveryOf(id)).toMatchObject({ status: 'cancelled', attemptCount: 1 });
      const again = await client.post(`/v1/deliveries/${id}/cancel`);
      expect(again.status).toBe(409);
      expect(again.body).toEqual(errorShape(409, 'Conflict'));
    });

    it('cancels deliveries held by a disabled destination, one or in bulk: they are not sent when it is enabled again', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 3, schedule: [300], jitter: 0 } });
      const goneEvent = uniqueId('gone');
      receiver.answerEvent(goneEvent, () => ({ status: 410 }));
      await waitForDelivery(client, await send(dst, goneEvent), 'failed');
      expect((await client.get(`/v1/destinations/${dst.id}`)).body).toMatchObject({ enabled: false });
      const heldEvents = [uniqueId('held'), uniqueId('held')];
      const [one, other] = [await send(dst, heldEvents[0]), await send(dst, heldEvents[1])];
      expect((await deliveryOf(one)).status).toBe('pending');

      const cancelled = await client.post(`/v1/deliveries/${one}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({ id: one, status: 'cancelled' });
      expect((await client.post('/v1/deliveries/cancel', { destinationId: dst.id, dryRun: true })).body).toEqual({ count: 1 });
      expect((await client.post('/v1/deliveries/cancel', { destinationId: dst.id })).body).toEqual({ count: 1 });

      expect((await client.post(`/v1/destinations/${dst.id}/resume`)).body).toMatchObject({ enabled: true });
      await marker(dst);
      for (const eventId of heldEvents) expect(receiver.requestsOf(eventId)).toHaveLength(0);
      for (const id of [one, other]) expect(await deliveryOf(id)).toMatchObject({ status: 'cancelled', attemptCount: 0 });
    }, 45_000);

    it('cancels the head of an ordering key: the next delivery of the key goes out at once', async () => {
      // The head's retry is a minute away, so only the cancel can let the next one go within the test.
      const dst = await destination({ ordering: 'key', retryPolicy: { maxAttempts: 5, schedule: [60_000], jitter: 0 } });
      const key = uniqueId('key');
      const headEvent = uniqueId('head');
      const nextEvent = uniqueId('next');
      receiver.answerEvent(headEvent, () => ({ status: 500 }));
      const head = await send(dst, headEvent, { orderingKey: key });
      await waitForDelivery(client, head, 'retrying');
      const next = await send(dst, nextEvent, { orderingKey: key });
      // The next delivery's job has been taken and put back to wait behind the head.
      const queue = queueOf(dst);
      await eventually(
        async () => ((await (await queue.getJob(next))?.getState()) === 'delayed' ? true : undefined),
        10_000,
        'the next delivery to wait behind the head',
      );
      expect((await deliveryOf(next)).status).toBe('pending');
      expect(receiver.requestsOf(nextEvent)).toHaveLength(0);

      expect((await client.post(`/v1/deliveries/${head}/cancel`)).status).toBe(200);
      await receiver.waitForEvent(nextEvent, 10_000);
      await waitForDelivery(client, next, 'delivered');
      expect(receiver.requestsOf(headEvent)).toHaveLength(1);
      expect((await deliveryOf(head)).status).toBe('cancelled');
    }, 60_000);
  });

  describe('replay', () => {
    /** Sends events to `dst` that fail for good (maxAttempts 1) and waits until they are dead letters. */
    async function deadLetters(dst: Json, names: string[]): Promise<Json[]> {
      const ids: string[] = [];
      for (const name of names) {
        const eventId = uniqueId(name);
        receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500 } : { status: 200, body: 'ok' }));
        ids.push(await send(dst, eventId));
      }
      return Promise.all(ids.map((id) => waitForDelivery(client, id, 'failed')));
    }

    const replayDone = (replayId: string): Promise<Json> =>
      eventually(
        async () => {
          const progress = (await client.get(`/v1/replays/${replayId}`)).body;
          return progress.remaining === 0 ? progress : undefined;
        },
        10_000,
        `replay ${replayId} to finish`,
      );

    const sentTimes = (delivery: Json): number => receiver.requestsOf(delivery.eventId).length;

    it('replays only the deliveries created between since and until; a dry run counts them', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
      const before = await deadLetters(dst, ['before1', 'before2']);
      const since = new Date();
      const inside = await deadLetters(dst, ['inside1', 'inside2', 'inside3']);
      const until = new Date();
      const after = await deadLetters(dst, ['after1']);
      for (const delivery of before) expect(new Date(delivery.createdAt).getTime()).toBeLessThan(since.getTime());
      for (const delivery of inside) expect(new Date(delivery.createdAt).getTime()).toBeGreaterThanOrEqual(since.getTime());
      for (const delivery of inside) expect(new Date(delivery.createdAt).getTime()).toBeLessThan(until.getTime());
      for (const delivery of after) expect(new Date(delivery.createdAt).getTime()).toBeGreaterThanOrEqual(until.getTime());

      const window = { destinationId: dst.id, since: since.toISOString(), until: until.toISOString() };
      const dry = await client.post('/v1/deliveries/retry', { ...window, dryRun: true });
      expect(dry.status).toBe(200);
      expect(dry.body).toMatchObject({ count: 3, destinations: [{ id: dst.id, count: 3 }] });
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id, since: window.since, dryRun: true })).body).toMatchObject({ count: 4 });
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id, until: window.until, dryRun: true })).body).toMatchObject({ count: 5 });
      expect(receiver.requests).toHaveLength(6);

      const run = await client.post('/v1/deliveries/retry', window);
      expect(run.status).toBe(202);
      expect(run.body).toEqual({ count: 3, replayId: expect.stringMatching(/^rpl_/) });
      expect(await replayDone(run.body.replayId)).toMatchObject({ total: 3, done: 3, remaining: 0, byStatus: { delivered: 3 } });

      await marker(dst);
      for (const delivery of inside) {
        expect(sentTimes(delivery)).toBe(2);
        expect((await deliveryOf(delivery.id)).attempts.map((attempt: Json) => attempt.trigger)).toEqual(['scheduled', 'manual']);
      }
      for (const delivery of [...before, ...after]) {
        expect(sentTimes(delivery)).toBe(1);
        expect(await deliveryOf(delivery.id)).toMatchObject({ status: 'failed', attemptCount: 1 });
      }
    }, 75_000);

    it('replays every status given in a list, and only those', async () => {
      const dst = await destination({ retryPolicy: { maxAttempts: 1 } });
      const [failed1, failed2, toCancel] = await deadLetters(dst, ['failed1', 'failed2', 'cancelled']);
      expect((await client.post(`/v1/deliveries/${toCancel.id}/cancel`)).status).toBe(200);
      const deliveredEvent = uniqueId('delivered');
      const delivered = await waitForDelivery(client, await send(dst, deliveredEvent), 'delivered');

      const statuses = ['failed', 'delivered'];
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id, status: statuses, dryRun: true })).body).toMatchObject({ count: 3 });
      expect((await client.post('/v1/deliveries/retry', { destinationId: dst.id, status: 'failed', dryRun: true })).body).toMatchObject({ count: 2 });
      const run = await client.post('/v1/deliveries/retry', { destinationId: dst.id, status: statuses });
      expect(run.status).toBe(202);
      expect(run.body).toEqual({ count: 3, replayId: expect.stringMatching(/^rpl_/) });
      const progress = await replayDone(run.body.replayId);
      expect(progress).toMatchObject({ total: 3, done: 3, remaining: 0, byStatus: { delivered: 3 } });
      expect(progress.filter).toMatchObject({ statuses, destinationId: dst.id });

      await marker(dst);
      for (const delivery of [failed1, failed2, delivered]) {
        expect(sentTimes(delivery)).toBe(2);
        expect((await deliveryOf(delivery.id)).attempts.map((attempt: Json) => attempt.trigger)).toEqual(['scheduled', 'manual']);
      }
      expect(sentTimes(toCancel)).toBe(1);
      expect(await deliveryOf(toCancel.id)).toMatchObject({ status: 'cancelled', attemptCount: 1 });
    }, 60_000);

    it('refuses to replay deliveries in flight (status delivering) with a 400 naming the field, and writes nothing', async () => {
      const replaysBefore = (await client.get('/v1/replays')).body.data.length;
      const auditBefore = (await auditEntries()).length;
      for (const status of ['delivering', ['failed', 'delivering']]) {
        for (const dryRun of [false, true]) {
          const answer = await client.post('/v1/deliveries/retry', { status, dryRun });
          expect(answer.status).toBe(400);
          expect(answer.body).toEqual({ ...errorShape(400, 'Bad Request'), details: [{ path: expect.stringMatching(/^status(\.|$)/), message: expect.any(String) }] });
          expect(answer.body.message).toMatch(/^status/);
        }
      }
      expect((await client.get('/v1/replays')).body.data).toHaveLength(replaysBefore);
      expect(await auditEntries()).toHaveLength(auditBefore);
    });
  });
});
