import { ApiClient, eventually, Json, Receiver, webhookDestination } from '@dispatch/testing';
import { destinationQueueName } from '@dispatch/queue';
import { startSystem, TestSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-operator-tests-0';

describe('operator actions: replay, cancel, Bull Board retry, audit trail', () => {
  let system: TestSystem;
  let client: ApiClient;
  let receiver: Receiver;

  beforeAll(async () => {
    system = await startSystem({ env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
    receiver = await Receiver.start();
    client = new ApiClient(system.url, OPERATOR_KEY);
  });

  afterAll(async () => {
    await system.close();
    await receiver.close();
  });

  async function deadLetters(count: number, overrides: Record<string, unknown> = {}, type = 'order.created'): Promise<{ destination: Json; ids: string[] }> {
    receiver.answer(() => ({ status: 500 }));
    const destination = (await client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 }, ...overrides }))).body;
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) ids.push((await client.post('/v1/events', { type, data: { i }, destinations: [destination.id] })).body.deliveries[0].id);
    await eventually(async () => ((await client.get(`/v1/deliveries?destinationId=${destination.id}&status=failed`)).body.data.length === count ? true : undefined));
    receiver.requests.length = 0;
    receiver.answer(() => ({ status: 200 }));
    return { destination, ids };
  }

  it('replays dead letters: dry run counts, a real run can be watched to the end and is audited', async () => {
    const { destination, ids } = await deadLetters(4);
    await client.post('/v1/events', { type: 'invoice.paid', data: {}, destinations: [destination.id] });
    await eventually(async () => ((await client.get(`/v1/deliveries?destinationId=${destination.id}&status=delivered`)).body.data.length === 1 ? true : undefined));
    receiver.requests.length = 0;

    const dry = await client.post('/v1/deliveries/retry', { destinationId: destination.id, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ count: 4 });
    expect((await client.post('/v1/deliveries/retry', { destinationId: destination.id, eventType: 'invoice.*', status: 'delivered', dryRun: true })).body).toEqual({ count: 1 });
    expect((await client.post('/v1/deliveries/retry', { status: 'delivering' })).status).toBe(400);
    expect(receiver.requests).toHaveLength(0);

    const run = await client.post('/v1/deliveries/retry', { destinationId: destination.id });
    expect(run.status).toBe(202);
    expect(run.body).toEqual({ count: 4, replayId: expect.stringMatching(/^rpl_/) });
    const finished = await eventually(async () => {
      const progress = (await client.get(`/v1/replays/${run.body.replayId}`)).body;
      return progress.remaining === 0 ? progress : undefined;
    });
    expect(finished).toMatchObject({ total: 4, done: 4, remaining: 0, byStatus: { delivered: 4 } });
    expect(receiver.requests).toHaveLength(4);
    for (const id of ids) expect((await client.get(`/v1/deliveries/${id}`)).body.attempts.at(-1)).toMatchObject({ number: 2, trigger: 'manual', statusCode: 200 });

    const audit = (await client.get('/v1/audit-log?limit=10')).body.data;
    expect(audit.find((entry: Json) => entry.action === 'deliveries.replay')).toMatchObject({
      target: run.body.replayId,
      details: { destinationId: destination.id, statuses: ['failed'], count: 4 },
      actor: expect.stringMatching(/^key_/),
    });
  });

  it('replays at the destination rate limit', async () => {
    const { destination } = await deadLetters(6, { rateLimit: { max: 2, durationMs: 1000 } });
    await client.post('/v1/deliveries/retry', { destinationId: destination.id });
    const requests = await receiver.waitFor(6, 15_000);
    const span = requests[5].receivedAt - requests[0].receivedAt;
    expect(span).toBeGreaterThanOrEqual(1500);
  });

  it('retries a dead letter from Bull Board and keeps the delivery in step', async () => {
    const { destination, ids } = await deadLetters(1);
    const basic = `Basic ${Buffer.from(`operator:${OPERATOR_KEY}`).toString('base64')}`;
    const queue = encodeURIComponent(destinationQueueName(destination.id));
    const answer = await fetch(`${system.url}/queues/api/queues/${queue}/${ids[0]}/retry`, { method: 'PUT', headers: { authorization: basic } });
    expect(answer.status).toBe(204);
    const delivery = await eventually(async () => {
      const current = (await client.get(`/v1/deliveries/${ids[0]}`)).body;
      return current.status === 'delivered' ? current : undefined;
    });
    expect(delivery.attempts.map((attempt: Json) => attempt.trigger)).toEqual(['scheduled', 'manual']);
  });

  it('cancels held deliveries one by one or in bulk, so they are never sent', async () => {
    const destination = (await client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    await client.post(`/v1/destinations/${destination.id}/pause`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await client.post('/v1/events', { type: 'held.one', data: { i }, destinations: [destination.id] })).body.deliveries[0].id);

    const one = await client.post(`/v1/deliveries/${ids[0]}/cancel`);
    expect(one.status).toBe(200);
    expect(one.body.status).toBe('cancelled');
    expect((await client.post('/v1/deliveries/cancel', { destinationId: destination.id, dryRun: true })).body).toEqual({ count: 2 });
    expect((await client.post('/v1/deliveries/cancel', { destinationId: destination.id })).body).toEqual({ count: 2 });

    receiver.requests.length = 0;
    await client.post(`/v1/destinations/${destination.id}/resume`);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(receiver.requests).toHaveLength(0);
    const statuses = await Promise.all(ids.map(async (id) => (await client.get(`/v1/deliveries/${id}`)).body.status));
    expect(statuses).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect((await client.post(`/v1/deliveries/${ids[0]}/cancel`)).status).toBe(409);
    const actions = (await client.get('/v1/audit-log?limit=10')).body.data.map((entry: Json) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['delivery.cancel', 'deliveries.cancel', 'destination.pause', 'destination.resume']));
  });
});
