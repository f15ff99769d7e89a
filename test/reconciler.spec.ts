import { createDatabase, Database, OperatorActions } from '@dispatch/db';
import { countDeliveries, createWebhook, sendEvent, waitForCount, waitForDelivery } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

describe('the reconciler', () => {
  const system = useSystem({ env: { DISPATCH_RECONCILE_MS: '1000' } });
  const receiver = useReceiver();
  let database: Database;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterAll(async () => {
    await database.close();
  });

  it('queues a replay that was recorded but never queued, as if the API stopped half way', async () => {
    receiver.answer(() => ({ status: 500 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await sendEvent(system.client, { id: `evt_half_${i}`, type: 'half.way', destinations: [destination.id] })).deliveries[0].id);
    await waitForCount(() => countDeliveries(system.client, destination.id, 'failed'), 3, 'dead letters');
    receiver.reset();

    // What POST /v1/deliveries/retry writes before it queues the jobs; here nothing queues them.
    const marked = await new OperatorActions(database).markForReplay(
      { organizationId: system.organization.organizationId, statuses: ['failed'], destinationId: destination.id },
      { id: 'rpl_half_way', createdBy: 'test', filter: { statuses: ['failed'] } },
    );
    expect(marked.map((delivery) => delivery.id).sort()).toEqual([...ids].sort());

    for (const id of ids) {
      const delivery = await waitForDelivery(system.client, id, 'delivered', 15_000);
      expect(delivery.attempts.map((attempt: { number: number; trigger: string }) => [attempt.number, attempt.trigger])).toEqual([
        [1, 'scheduled'],
        [2, 'manual'],
      ]);
    }
    expect((await system.client.get('/v1/replays/rpl_half_way')).body).toMatchObject({ total: 3, done: 3, remaining: 0, byStatus: { delivered: 3 } });
    expect(receiver.eventIds().sort()).toEqual(['evt_half_0', 'evt_half_1', 'evt_half_2']);
  }, 30_000);
});
