import { AttemptRepository, Database, EventRepository, OperatorActions } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { openRepositoryFixture, RepositoryFixture } from './repositories';

/** The worker's writes: claims and attempt records, several at once (as under load). */
describe('claims and attempt records written together', () => {
  let fixture: RepositoryFixture;
  let database: Database;
  let deliveries: AttemptRepository;
  let actions: OperatorActions;
  let events: EventRepository;
  let organizationId: string;
  let destinationId: string;

  beforeAll(async () => {
    fixture = await openRepositoryFixture('attempts');
    ({ database, organizationId } = fixture);
    deliveries = new AttemptRepository(database);
    actions = new OperatorActions(database);
    events = new EventRepository(database);
    destinationId = await fixture.createDestination();
  });

  afterAll(async () => {
    await fixture.close();
  });

  async function pendingDelivery(eventId: string): Promise<string> {
    const result = await events.ingest(
      { organizationId, id: eventId, type: 'a.b', source: null, data: { eventId }, orderingKey: null, priority: 0, correlationId: null, tags: [] },
      [{ id: newId('dlv'), destinationId, ordered: false }],
    );
    return result.deliveries[0].id;
  }

  function attempt(deliveryId: string, number: number) {
    const record = {
      id: newId('att'),
      deliveryId,
      number,
      trigger: 'scheduled' as const,
      startedAt: new Date(),
      durationMs: 3,
      outcome: 'delivered' as const,
      statusCode: 200,
      responseBody: 'ok',
      error: null,
    };
    return deliveries.settleAttempt(record, { status: 'delivered', nextAttemptAt: null, lastError: null, health: 'success' }, destinationId);
  }

  it('answers every claim of a group, claims a delivery asked twice once, and records attempts alongside', async () => {
    const [a, b, c] = [await pendingDelivery('evt_w_a'), await pendingDelivery('evt_w_b'), await pendingDelivery('evt_w_c')];
    const first = await deliveries.claim(a, destinationId);
    expect(first).toMatchObject({ id: a, attemptNumber: 1, trigger: 'scheduled', event: { id: 'evt_w_a', data: { eventId: 'evt_w_a' } } });

    const [, claimB, claimBAgain, claimC] = await Promise.all([
      attempt(a, 1),
      deliveries.claim(b, destinationId),
      deliveries.claim(b, destinationId),
      deliveries.claim(c, destinationId),
    ]);
    expect(claimB).toMatchObject({ id: b, attemptNumber: 1 });
    expect(claimBAgain).toBeNull();
    expect(claimC).toMatchObject({ id: c, attemptNumber: 1 });

    const settled = await database.prisma.delivery.findUniqueOrThrow({ where: { id: a }, include: { attempts: true } });
    expect(settled).toMatchObject({ status: 'delivered', lastStatusCode: 200, attempts: [{ number: 1, statusCode: 200 }] });
    // A delivered delivery is not claimed again (a job run twice sends nothing).
    expect(await deliveries.claim(a, destinationId)).toBeNull();
  });

  it('gives back a claim left unused: status, attempt count and schedule as before, so the next claim makes the same attempt; never once it was settled', async () => {
    const id = await pendingDelivery('evt_w_release');
    const firstClaim = await deliveries.claim(id, destinationId);
    await database.prisma.delivery.update({ where: { id }, data: { status: 'retrying', nextAttemptAt: new Date('2030-01-01T00:00:00Z') } });
    const before = await database.prisma.delivery.findUniqueOrThrow({ where: { id } });
    expect(firstClaim?.attemptNumber).toBe(1);

    const claimed = await deliveries.claim(id, destinationId);
    expect(claimed).toMatchObject({ attemptNumber: 2, claimedFrom: { status: 'retrying', nextAttemptAt: new Date('2030-01-01T00:00:00Z') } });
    await deliveries.release(claimed!);
    const after = await database.prisma.delivery.findUniqueOrThrow({ where: { id } });
    expect(after).toMatchObject({ status: 'retrying', attemptCount: 1, nextAttemptAt: before.nextAttemptAt, manualRetryAt: null });
    expect((await deliveries.claim(id, destinationId))?.attemptNumber).toBe(2);

    await attempt(id, 2);
    await deliveries.release(claimed!);
    expect(await database.prisma.delivery.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'delivered', attemptCount: 2 });
  });

  it('records an attempt but keeps the status when an operator asked for a new attempt meanwhile', async () => {
    const id = await pendingDelivery('evt_w_retry');
    const claimed = await deliveries.claim(id, destinationId);
    expect(claimed?.attemptNumber).toBe(1);
    await actions.requestManualRetry(id, new Date());
    await attempt(id, 1);

    const after = await database.prisma.delivery.findUniqueOrThrow({ where: { id }, include: { attempts: true } });
    expect(after.status).toBe('pending');
    expect(after.manualRetryAt).not.toBeNull();
    expect(after.attempts).toHaveLength(1);
    expect(await deliveries.claim(id, destinationId)).toMatchObject({ attemptNumber: 2, trigger: 'manual' });
  });

  it('resolves flush once everything submitted is written', async () => {
    const ids = await Promise.all(['evt_w_f1', 'evt_w_f2', 'evt_w_f3'].map(pendingDelivery));
    for (const id of ids) await deliveries.claim(id, destinationId);
    for (const id of ids) void attempt(id, 1);
    await deliveries.flush();
    const statuses = await database.prisma.delivery.findMany({ where: { id: { in: ids } }, select: { status: true } });
    expect(statuses.map((row) => row.status)).toEqual(['delivered', 'delivered', 'delivered']);
  });
});
