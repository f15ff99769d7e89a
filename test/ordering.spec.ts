import { countDeliveries, createWebhook, ReceivedRequest, sendEvent, waitForCount } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

describe('ordering by key', () => {
  const system = useSystem();
  const receiver = useReceiver();

  const bodyId = (request: ReceivedRequest) => JSON.parse(request.body).id as string;

  it('delivers one key in ingest order across retries while other keys keep flowing', async () => {
    // A1 fails until the other keys' events have all arrived: if a failing head held more
    // than its own key, they never would, and A1 would end a dead letter.
    const arrived = (id: string) => receiver.requests.some((request) => bodyId(request) === id);
    let a1Failures = 0;
    receiver.answer((request) => {
      if (bodyId(request) === 'A1' && (a1Failures < 2 || !['B1', 'B2', 'C1'].every(arrived))) {
        a1Failures += 1;
        return { status: 500 };
      }
      return { status: 200 };
    });
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { ordering: 'key', retryPolicy: { maxAttempts: 20, schedule: [300], jitter: 0 } });
    for (const [id, key] of [
      ['A1', 'A'],
      ['B1', 'B'],
      ['A2', 'A'],
      ['C1', undefined],
      ['B2', 'B'],
      ['A3', 'A'],
    ] as const) {
      await sendEvent(system.client, { id, type: 'doc.changed', data: { id }, destinations: [destination.id], ...(key ? { orderingKey: key } : {}) });
    }
    await receiver.waitForEvent('A3', 20_000);
    const delivered = receiver.requests.map(bodyId);
    const a1Attempts = a1Failures + 1;
    expect(delivered.filter((id) => id.startsWith('A'))).toEqual([...Array(a1Attempts).fill('A1'), 'A2', 'A3']);
    expect(delivered.filter((id) => id.startsWith('B'))).toEqual(['B1', 'B2']);
    expect(delivered.filter((id) => id === 'C1')).toEqual(['C1']);
  }, 30_000);

  it('lets the next delivery go once the head fails for good', async () => {
    receiver.answer((request) => (bodyId(request) === 'K1' ? { status: 500 } : { status: 200 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { ordering: 'key', retryPolicy: { maxAttempts: 2, schedule: [300], jitter: 0 } });
    for (const id of ['K1', 'K2']) await sendEvent(system.client, { id, type: 'doc.changed', destinations: [destination.id], orderingKey: 'K' });
    await receiver.waitForEvent('K2', 10_000);
    expect(receiver.requests.map(bodyId)).toEqual(['K1', 'K1', 'K2']);
  });
});

describe('priority', () => {
  const system = useSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '1' } });
  const receiver = useReceiver();

  it('sends higher priorities first from a destination backlog', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    await system.client.post(`/v1/destinations/${destination.id}/pause`);
    for (const [id, priority] of [
      ['p0a', 0],
      ['p5', 5],
      ['p10a', 10],
      ['p0b', 0],
      ['p10b', 10],
    ] as const) {
      await system.client.post('/v1/events', { id, type: 'job.run', data: {}, priority, destinations: [destination.id] });
    }
    await system.client.post(`/v1/destinations/${destination.id}/resume`);
    await receiver.waitFor(5);
    expect(receiver.requests.map((request) => JSON.parse(request.body).id)).toEqual(['p10a', 'p10b', 'p5', 'p0a', 'p0b']);
    await waitForCount(() => countDeliveries(system.client, destination.id, 'delivered'), 5, 'delivered deliveries');
  });
});
