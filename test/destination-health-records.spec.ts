import { AttemptHealth, newId, responseWindowStart } from '@dispatch/domain';
import { AttemptRepository, Database, DestinationHealthRepository, DestinationRepository, EventRepository } from '@dispatch/db';
import { openRepositoryFixture, RepositoryFixture } from './repositories';

const WINDOW_MS = 15 * 60_000;

/** The health rows the worker keeps with its attempt records, several attempts in one statement (as under load). */
describe('destination health written with the attempts', () => {
  let fixture: RepositoryFixture;
  let database: Database;
  let attempts: AttemptRepository;
  let events: EventRepository;
  let health: DestinationHealthRepository;

  beforeAll(async () => {
    fixture = await openRepositoryFixture('health');
    database = fixture.database;
    attempts = new AttemptRepository(database);
    events = new EventRepository(database);
    health = new DestinationHealthRepository(database);
  });

  afterAll(async () => {
    await fixture.close();
  });

  /** A delivery of a new event to the destination, claimed for its first attempt. */
  async function claimed(destinationId: string): Promise<string> {
    const eventId = newId('evt');
    const result = await events.ingest(
      { organizationId: fixture.organizationId, id: eventId, type: 'a.b', source: null, data: {}, orderingKey: null, priority: 0, correlationId: null, tags: [] },
      [{ id: newId('dlv'), destinationId, ordered: false }],
    );
    const deliveryId = result.deliveries[0].id;
    await attempts.claim(deliveryId, destinationId);
    return deliveryId;
  }

  /** Settles the claimed deliveries' attempts all in one group (submitted in the same tick), in this order. */
  async function settleTogether(items: { destinationId: string; deliveryId: string; health: AttemptHealth; durationMs?: number; startedAt?: Date }[]): Promise<void> {
    await Promise.all(
      items.map((item) =>
        attempts.settleAttempt(
          {
            id: newId('att'),
            deliveryId: item.deliveryId,
            number: 1,
            trigger: 'scheduled',
            startedAt: item.startedAt ?? new Date(),
            durationMs: item.durationMs ?? 10,
            outcome: item.health === 'success' ? 'delivered' : 'failed',
            statusCode: item.health === 'success' ? 200 : item.health === 'throttled' ? 429 : 500,
            responseBody: null,
            error: null,
          },
          { status: item.health === 'success' ? 'delivered' : 'failed', nextAttemptAt: null, lastError: null, health: item.health },
          item.destinationId,
        ),
      ),
    );
  }

  async function settle(destinationId: string, outcomes: AttemptHealth[], startedAt?: Date[]): Promise<void> {
    const deliveryIds = await Promise.all(outcomes.map(() => claimed(destinationId)));
    await settleTogether(outcomes.map((outcome, index) => ({ destinationId, deliveryId: deliveryIds[index], health: outcome, startedAt: startedAt?.[index] })));
  }

  const read = async (id: string) => (await health.find([id])).get(id)!;

  it('follows the order of a group: a success ends the failure streak, later failures start a new one, throttled answers count in neither', async () => {
    const [a, b] = [await fixture.createDestination(), await fixture.createDestination()];
    const t = (seconds: number) => new Date(Date.UTC(2026, 11, 1, 9, 0, seconds));
    await settle(a, ['failure', 'success', 'failure', 'throttled', 'failure'], [t(1), t(2), t(3), t(4), t(5)]);
    expect(await read(a)).toMatchObject({
      consecutiveFailures: 2,
      totalDeliveries: 5,
      totalFailures: 3,
      averageResponseMs: 10,
      failingSince: t(3),
      lastSuccessAt: t(2),
      lastFailureAt: t(5),
      lastCheckAt: t(5),
    });

    await settle(a, ['throttled', 'failure'], [t(6), t(7)]);
    expect(await read(a)).toMatchObject({ consecutiveFailures: 3, totalDeliveries: 7, totalFailures: 4, failingSince: t(3) });

    await settle(a, ['failure', 'success'], [t(8), t(9)]);
    expect(await read(a)).toMatchObject({ consecutiveFailures: 0, totalDeliveries: 9, totalFailures: 5, failingSince: null, lastSuccessAt: t(9), lastFailureAt: t(8) });

    await settle(b, ['throttled']);
    expect(await read(b)).toMatchObject({ consecutiveFailures: 0, totalDeliveries: 1, totalFailures: 0, failingSince: null, lastSuccessAt: null, lastFailureAt: null });
  });

  it('writes the health of several destinations of one group, each from its own attempts', async () => {
    const [a, b] = [await fixture.createDestination(), await fixture.createDestination()];
    const [a1, b1, a2] = [await claimed(a), await claimed(b), await claimed(a)];
    await settleTogether([
      { destinationId: a, deliveryId: a1, health: 'failure', durationMs: 100 },
      { destinationId: b, deliveryId: b1, health: 'success', durationMs: 40 },
      { destinationId: a, deliveryId: a2, health: 'failure', durationMs: 300 },
    ]);
    const both = await health.find([a, b]);
    expect(both.get(a)).toMatchObject({ consecutiveFailures: 2, totalDeliveries: 2, totalFailures: 2, averageResponseMs: 200, windowAttempts: 2, windowResponseMs: 400 });
    expect(both.get(b)).toMatchObject({ consecutiveFailures: 0, totalDeliveries: 1, totalFailures: 0, averageResponseMs: 40, windowAttempts: 1, windowResponseMs: 40 });
  });

  it('moves the response times of the window before into previous when a new 15-minute window begins, and forgets older ones', async () => {
    const a = await fixture.createDestination();
    await settle(a, ['success']);
    const current = (await read(a)).windowStartedAt!;
    expect(current.getTime()).toBe(responseWindowStart(new Date()));
    await database.sql('UPDATE destination_health SET window_started_at = $2::timestamp, window_attempts = 4, window_response_ms = 800 WHERE destination_id = $1', [
      a,
      new Date(current.getTime() - WINDOW_MS).toISOString(),
    ]);
    await settle(a, ['success']);
    expect(await read(a)).toMatchObject({ windowStartedAt: current, windowAttempts: 1, windowResponseMs: 10, previousWindowAttempts: 4, previousWindowResponseMs: 800 });

    await database.sql('UPDATE destination_health SET window_started_at = $2::timestamp WHERE destination_id = $1', [
      a,
      new Date(current.getTime() - 3 * WINDOW_MS).toISOString(),
    ]);
    await settle(a, ['success']);
    expect(await read(a)).toMatchObject({ windowStartedAt: current, windowAttempts: 1, previousWindowAttempts: 0, previousWindowResponseMs: 0 });
  });

  it('disables an enabled destination failing since the cutoff or earlier, once; a restarted failure clock counts from the next failure', async () => {
    const [old, recent, recovered] = [await fixture.createDestination(), await fixture.createDestination(), await fixture.createDestination()];
    const longAgo = new Date(Date.now() - 60_000);
    await settle(old, ['failure'], [longAgo]);
    await settle(recent, ['failure']);
    await settle(recovered, ['failure', 'success'], [longAgo, new Date()]);

    // Destinations of the tests above fail since long ago too: only these three are looked at.
    const mine = (found: { id: string }[]) => found.filter((destination) => [old, recent, recovered].includes(destination.id));
    const disabled = mine(await health.disableFailingSince(new Date(Date.now() - 30_000), 'every attempt failed for 30 seconds'));
    expect(disabled.map((destination) => destination.id)).toEqual([old]);
    expect(disabled[0]).toMatchObject({ organizationId: fixture.organizationId, disabledReason: 'every attempt failed for 30 seconds', failingSince: longAgo });
    expect(await database.prisma.destination.findUniqueOrThrow({ where: { id: old } })).toMatchObject({
      enabled: false,
      disabledReason: 'every attempt failed for 30 seconds',
      disabledAt: expect.any(Date),
    });
    expect(mine(await health.disableFailingSince(new Date(Date.now() - 30_000), 'again'))).toEqual([]);

    await health.restartFailureClock(old);
    await database.prisma.destination.update({ where: { id: old }, data: { enabled: true } });
    expect(mine(await health.disableFailingSince(new Date(), 'again'))).toEqual([expect.objectContaining({ id: recent })]);
    expect(await read(old)).toMatchObject({ consecutiveFailures: 1, failingSince: null });
    await settle(old, ['failure']);
    expect((await read(old)).failingSince!.getTime()).toBeGreaterThan(longAgo.getTime());
  });

  it("leaves with its destination: a deleted destination's health row is deleted too", async () => {
    const a = await fixture.createDestination();
    await settle(a, ['failure']);
    expect((await read(a)).totalDeliveries).toBe(1);
    await new DestinationRepository(database).delete(a);
    expect(await database.sql('SELECT 1 FROM destination_health WHERE destination_id = $1', [a])).toEqual([]);
  });

  it('counts open deliveries as the backlog', async () => {
    const a = await fixture.createDestination();
    const [, settledOne] = [await claimed(a), await claimed(a)];
    await settleTogether([{ destinationId: a, deliveryId: settledOne, health: 'success' }]);
    await events.ingest(
      { organizationId: fixture.organizationId, id: newId('evt'), type: 'a.b', source: null, data: {}, orderingKey: null, priority: 0, correlationId: null, tags: [] },
      [{ id: newId('dlv'), destinationId: a, ordered: false }],
    );
    expect(await health.backlog(a)).toBe(2);
  });
});
