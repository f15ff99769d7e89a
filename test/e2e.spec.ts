import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ApiClient, createTestDatabase, deleteQueueKeys, eventually, Receiver, REDIS_URL, TEST_ENCRYPTION_KEY, uniqueQueuePrefix } from '@dispatch/testing';
import { AppProcess, freePort, LOOPBACK_ALLOWED, spawnApp, waitUntilReady } from './processes';

describe('end to end: api and worker processes, a receiver on loopback', () => {
  const prefix = uniqueQueuePrefix();
  const key = `dsp_e2e_${randomBytes(12).toString('hex')}`;
  const type = `e2e${randomBytes(3).toString('hex')}`;
  let api: AppProcess;
  let worker: AppProcess;
  let receiver: Receiver;
  let client: ApiClient;
  let dropDatabase: () => Promise<void>;

  beforeAll(async () => {
    const database = await createTestDatabase('e2e');
    dropDatabase = database.drop;
    const port = await freePort();
    const env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      REDIS_URL,
      DISPATCH_BOOTSTRAP_KEY: key,
      DISPATCH_QUEUE_PREFIX: prefix,
      DISPATCH_METRICS_PORT: '0',
      DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
      DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    };
    api = spawnApp('api', env);
    worker = spawnApp('worker', env);
    await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, api);
    receiver = await Receiver.start();
    client = new ApiClient(`http://127.0.0.1:${port}`, key);
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await receiver?.close();
    await deleteQueueKeys(prefix);
    await dropDatabase?.();
  });

  it('delivers an event routed by type with a verifiable signature, once per id, and retries a 500', async () => {
    const created = await client.post('/v1/destinations', {
      name: 'e2e',
      kind: 'webhook',
      config: { url: `${receiver.url}/hook` },
      eventTypes: [`${type}.*`],
      retryPolicy: { maxAttempts: 3, schedule: [300], jitter: 0 },
    });
    expect(created.status).toBe(201);
    const secret: string = created.body.secret;

    const latencies: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const sentAt = Date.now();
      const accepted = await client.post('/v1/events', { id: `evt_${type}_${i}`, type: `${type}.created`, data: { i } });
      expect(accepted.status).toBe(202);
      const request = (await receiver.waitFor(i + 1))[i];
      latencies.push(request.receivedAt - sentAt);
      expect(request.headers['webhook-id']).toBe(`evt_${type}_${i}`);
      expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ id: `evt_${type}_${i}`, data: { i } });
    }
    latencies.sort((a, b) => a - b);
    console.log(`accept to webhook received over 20 events: p50 ${latencies[10]} ms, max ${latencies[19]} ms`);

    const again = await client.post('/v1/events', { id: `evt_${type}_0`, type: `${type}.created`, data: { i: 0 } });
    expect(again.status).toBe(200);
    // The repeated id is not sent again: a marker sent after it arrives, and it is the only new webhook.
    expect((await client.post('/v1/events', { id: `evt_${type}_marker`, type: `${type}.created`, data: {} })).status).toBe(202);
    await receiver.waitForEvent(`evt_${type}_marker`);
    expect(receiver.eventIds()).toEqual([...Array.from({ length: 20 }, (_, i) => `evt_${type}_${i}`), `evt_${type}_marker`]);

    receiver.answer((_request, index) => (index === 21 ? { status: 500, body: 'try later' } : { status: 200 }));
    const failing = await client.post('/v1/events', { id: `evt_${type}_retry`, type: `${type}.updated`, data: {} });
    const deliveryId = failing.body.deliveries[0].id;
    const delivery = await eventually(async () => {
      const answer = await client.get(`/v1/deliveries/${deliveryId}`);
      return answer.body.status === 'delivered' ? answer.body : undefined;
    });
    expect(delivery.attempts.map((attempt: { statusCode: number }) => attempt.statusCode)).toEqual([500, 200]);
    expect(receiver.requests).toHaveLength(23);
  });
});
