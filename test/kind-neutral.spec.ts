import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { DELIVERY_JOB_NAME, destinationQueueName } from '@dispatch/queue';
import { ApiClient, createTestOrganization, createWebhook, Json, Receiver, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

/** Bytes no text column can hold as they are: NUL, and bytes that are not UTF-8. */
const BINARY = Buffer.concat([Buffer.from('ok'), Buffer.from([0x00, 0xff, 0xfe]), Buffer.from('end')]);

describe('attempts whatever the peer sends back', () => {
  const system = useSystem();
  const receiver = useReceiver();

  async function attemptsOf(deliveryId: string): Promise<Json[]> {
    return (await system.client.get(`/v1/deliveries/${deliveryId}`)).body.attempts;
  }

  it('records a 2xx answer carrying binary bytes and settles the delivery, sending it once', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const eventId = uniqueId('binary_ok');
    receiver.answerEvent(eventId, () => ({ status: 200, body: BINARY }));
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'binary.ok', destinations: [destination.id] })).deliveries[0].id;
    await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(await attemptsOf(deliveryId)).toEqual([
      expect.objectContaining({ number: 1, outcome: 'delivered', statusCode: 200, responseBody: 'ok\uFFFD\uFFFD\uFFFDend' }),
    ]);

    // Not sent again by the reconciler (it would be, were the delivery left `delivering`): a
    // marker sent two reconcile periods later is the only other webhook.
    await new Promise((resolve) => setTimeout(resolve, 2 * Number(system.config.worker.reconcileMs)));
    const marker = uniqueId('marker');
    await sendEvent(system.client, { id: marker, type: 'binary.marker', destinations: [destination.id] });
    await receiver.waitForEvent(marker);
    expect(receiver.eventIds()).toEqual([eventId, marker]);
  });

  it('records a 5xx answer carrying binary bytes and retries it', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 2, schedule: [300], jitter: 0 } });
    const eventId = uniqueId('binary_500');
    receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500, body: BINARY } : { status: 200, body: 'fine' }));
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'binary.retry', destinations: [destination.id] })).deliveries[0].id;
    await waitForDelivery(system.client, deliveryId, 'delivered');
    expect((await attemptsOf(deliveryId)).map((attempt) => [attempt.number, attempt.outcome, attempt.statusCode, attempt.responseBody])).toEqual([
      [1, 'retry', 500, 'ok\uFFFD\uFFFD\uFFFDend'],
      [2, 'delivered', 200, 'fine'],
    ]);
  });
});

describe('a job placed on the queue of a destination its delivery does not belong to', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let redis: IORedis;

  beforeAll(() => {
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(() => {
    redis.disconnect();
  });

  it("sends nothing: organization A's delivery never reaches B's receiver, signed with B's secret", async () => {
    const elsewhere = await Receiver.start();
    try {
      const a = system.client;
      const b = new ApiClient(system.url, (await createTestOrganization(system.config.databaseUrl)).adminKey);
      const aDestination = await createWebhook(a, `${receiver.url}/a`);
      const bDestination = await createWebhook(b, `${elsewhere.url}/b`);
      // A's delivery waits (its destination is paused): its job sits in A's queue.
      await a.post(`/v1/destinations/${aDestination.id}/pause`);
      const aEvent = uniqueId('evt_a');
      const aDelivery = (await sendEvent(a, { id: aEvent, type: 'private.data', data: { secret: 'of A' }, destinations: [aDestination.id] })).deliveries[0].id;

      // Anyone with Redis access (or Bull Board's "add job") places a job naming it on B's queue.
      const bQueue = new Queue(destinationQueueName(bDestination.id), { connection: redis, prefix: system.config.queuePrefix });
      await bQueue.add(DELIVERY_JOB_NAME, { deliveryId: aDelivery }, { jobId: `foreign-${aDelivery}`, priority: 1 });
      await redis.publish(`${system.config.queuePrefix}:wake`, bDestination.id);
      const bMarker = uniqueId('evt_b');
      await sendEvent(b, { id: bMarker, type: 'b.marker', destinations: [bDestination.id] });
      await elsewhere.waitForEvent(bMarker);

      expect(elsewhere.eventIds()).toEqual([bMarker]);
      expect(await bQueue.getJobState(`foreign-${aDelivery}`)).not.toBe('active');
      expect((await a.get(`/v1/deliveries/${aDelivery}`)).body).toMatchObject({ status: 'pending', attemptCount: 0 });
      await bQueue.close();

      // A's delivery is untouched: sent to A, once, when A resumes.
      await a.post(`/v1/destinations/${aDestination.id}/resume`);
      await waitForDelivery(a, aDelivery, 'delivered');
      expect(receiver.eventIds()).toEqual([aEvent]);
    } finally {
      await elsewhere.close();
    }
  });
});
