import { eventually, Receiver, webhookDestination } from '@dispatch/testing';
import { startSystem, TestSystem } from './system';

describe('ordering by key', () => {
  let system: TestSystem;
  let receiver: Receiver;

  beforeAll(async () => {
    system = await startSystem();
    receiver = await Receiver.start();
  });

  afterAll(async () => {
    await system.close();
    await receiver.close();
  });

  it('delivers one key in ingest order across retries while other keys keep flowing', async () => {
    let failuresLeft = 2;
    receiver.answer((request) => {
      const body = JSON.parse(request.body);
      if (body.id === 'A1' && failuresLeft > 0) {
        failuresLeft -= 1;
        return { status: 500 };
      }
      return { status: 200 };
    });
    const destination = (
      await system.client.post(
        '/v1/destinations',
        webhookDestination(`${receiver.url}/hook`, { ordering: 'key', retryPolicy: { maxAttempts: 5, schedule: [700], jitter: 0 } }),
      )
    ).body;
    const send = (id: string, orderingKey?: string) =>
      system.client.post('/v1/events', { id, type: 'doc.changed', data: { id }, destinations: [destination.id], ...(orderingKey ? { orderingKey } : {}) });
    for (const [id, key] of [['A1', 'A'], ['B1', 'B'], ['A2', 'A'], ['C1', undefined], ['B2', 'B'], ['A3', 'A']] as const) {
      expect((await send(id, key)).status).toBe(202);
    }
    await receiver.waitFor(8, 15_000);
    const delivered = receiver.requests.map((request) => JSON.parse(request.body).id as string);
    expect(delivered.filter((id) => id.startsWith('A'))).toEqual(['A1', 'A1', 'A1', 'A2', 'A3']);
    expect(delivered.filter((id) => id.startsWith('B'))).toEqual(['B1', 'B2']);
    const a1Delivered = delivered.lastIndexOf('A1');
    for (const other of ['B1', 'B2', 'C1']) expect(delivered.indexOf(other)).toBeLessThan(a1Delivered);
  });

  it('lets the next delivery go once the head fails for good', async () => {
    receiver.requests.length = 0;
    receiver.answer((request) => (JSON.parse(request.body).id === 'K1' ? { status: 500 } : { status: 200 }));
    const destination = (
      await system.client.post(
        '/v1/destinations',
        webhookDestination(`${receiver.url}/hook`, { ordering: 'key', retryPolicy: { maxAttempts: 2, schedule: [300], jitter: 0 } }),
      )
    ).body;
    for (const id of ['K1', 'K2']) await system.client.post('/v1/events', { id, type: 'doc.changed', data: {}, destinations: [destination.id], orderingKey: 'K' });
    await receiver.waitFor(3, 10_000);
    expect(receiver.requests.map((request) => JSON.parse(request.body).id)).toEqual(['K1', 'K1', 'K2']);
  });
});

describe('priority', () => {
  let system: TestSystem;
  let receiver: Receiver;

  beforeAll(async () => {
    system = await startSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '1' } });
    receiver = await Receiver.start();
  });

  afterAll(async () => {
    await system.close();
    await receiver.close();
  });

  it('sends higher priorities first from a destination backlog', async () => {
    const destination = (await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    await system.client.post(`/v1/destinations/${destination.id}/pause`);
    for (const [id, priority] of [['p0a', 0], ['p5', 5], ['p10a', 10], ['p0b', 0], ['p10b', 10]] as const) {
      await system.client.post('/v1/events', { id, type: 'job.run', data: {}, priority, destinations: [destination.id] });
    }
    await system.client.post(`/v1/destinations/${destination.id}/resume`);
    await receiver.waitFor(5);
    expect(receiver.requests.map((request) => JSON.parse(request.body).id)).toEqual(['p10a', 'p10b', 'p5', 'p0a', 'p0b']);
    await eventually(async () => ((await system.client.get(`/v1/deliveries?destinationId=${destination.id}&status=delivered`)).body.data.length === 5 ? true : undefined));
  });
});
