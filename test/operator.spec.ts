import { ApiClient, countDeliveries, createWebhook, eventually, Json, sendEvent, waitForCount } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-operator-tests-0';

describe('operator actions: replay, cancel, audit trail', () => {
  const system = useSystem({ env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  const receiver = useReceiver();
  let client: ApiClient;

  beforeAll(() => {
    client = new ApiClient(system.url, OPERATOR_KEY);
  });

  async function deadLetters(count: number, overrides: Record<string, unknown> = {}, type = 'order.created'): Promise<{ destination: Json; ids: string[] }> {
    receiver.answer(() => ({ status: 500 }));
    const destination = await createWebhook(client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 }, ...overrides });
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) ids.push((await sendEvent(client, { type, data: { i }, destinations: [destination.id] })).deliveries[0].id);
    await waitForCount(() => countDeliveries(client, destination.id, 'failed'), count, 'dead letters');
    receiver.reset();
    return { destination, ids };
  }

  /** Sends a marker event to the destination and waits for it: what was queued before it has had its turn. */
  async function marker(destinationId: string): Promise<string> {
    const { id } = await sendEvent(client, { type: 'marker.sent', destinations: [destinationId] });
    await receiver.waitForEvent(id);
    return id;
  }

  it('replays dead letters: dry run counts, a real run can be watched to the end and is audited', async () => {
    const { destination, ids } = await deadLetters(4);
    await sendEvent(client, { type: 'invoice.paid', destinations: [destination.id] });
    await waitForCount(() => countDeliveries(client, destination.id, 'delivered'), 1, 'delivered deliveries');
    receiver.reset();

    const dry = await client.post('/v1/deliveries/retry', { destinationId: destination.id, dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({ count: 4, bytes: expect.any(Number), destinations: [{ id: destination.id, name: destination.name, count: 4 }] });
    expect((await client.post('/v1/deliveries/retry', { destinationId: destination.id, eventType: 'invoice.*', status: 'delivered', dryRun: true })).body).toMatchObject({
      count: 1,
    });
    expect((await client.post('/v1/deliveries/retry', { status: 'delivering' })).status).toBe(400);
    // A dry run sends nothing: a marker sent after it is the only webhook, and the dead letters stay dead.
    const markerId = await marker(destination.id);
    expect(receiver.eventIds()).toEqual([markerId]);
    expect(await countDeliveries(client, destination.id, 'failed')).toBe(4);
    receiver.reset();

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
    // At most 2 a second: the 5th and 6th wait for the third window (2 s after the first
    // started; the first arrives up to a few hundred ms into its window). Without the limit the
    // six arrive together.
    const span = requests[5].receivedAt - requests[0].receivedAt;
    expect(span).toBeGreaterThanOrEqual(1500);
  });

  it('cancels held deliveries one by one or in bulk, so they are never sent', async () => {
    const destination = await createWebhook(client, `${receiver.url}/hook`);
    await client.post(`/v1/destinations/${destination.id}/pause`);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await sendEvent(client, { type: 'held.one', data: { i }, destinations: [destination.id] })).deliveries[0].id);

    const one = await client.post(`/v1/deliveries/${ids[0]}/cancel`);
    expect(one.status).toBe(200);
    expect(one.body.status).toBe('cancelled');
    expect((await client.post('/v1/deliveries/cancel', { destinationId: destination.id, dryRun: true })).body).toEqual({ count: 2 });
    expect((await client.post('/v1/deliveries/cancel', { destinationId: destination.id })).body).toEqual({ count: 2 });

    await client.post(`/v1/destinations/${destination.id}/resume`);
    // The held deliveries were queued before the marker: once it arrives they have had their turn.
    const markerId = await marker(destination.id);
    expect(receiver.eventIds()).toEqual([markerId]);
    const statuses = await Promise.all(ids.map(async (id) => (await client.get(`/v1/deliveries/${id}`)).body.status));
    expect(statuses).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect((await client.post(`/v1/deliveries/${ids[0]}/cancel`)).status).toBe(409);
    const actions = (await client.get('/v1/audit-log?limit=10')).body.data.map((entry: Json) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(['delivery.cancel', 'deliveries.cancel', 'destination.pause', 'destination.resume']));
  });
});
