import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { destinationQueueName } from '@dispatch/queue';
import { createDatabase, Database, RETENTION_START, RetentionCursor, RetentionRepository } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { createWebhook, eventually, sendEvent, waitForDelivery } from '@dispatch/testing';
import { openRepositoryFixture, RepositoryFixture } from './repositories';
import { useReceiver, useSystem } from './system';

const DAY_MS = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY_MS);

/** Rows written straight into the tables, as the API and the worker would have left them that long ago. */
async function insertEvent(
  database: Database,
  organizationId: string,
  receivedAt: Date,
  deliveries: { destinationId: string; status: string; updatedAt?: Date; attempts?: number }[],
) {
  const eventId = newId('evt');
  await database.sql(`INSERT INTO events (organization_id, id, type, data, tags, received_at) VALUES ($1, $2, 'old.event', '{}', '{}', $3)`, [
    organizationId,
    eventId,
    receivedAt.toISOString(),
  ]);
  const deliveryIds: string[] = [];
  for (const delivery of deliveries) {
    const id = newId('dlv');
    deliveryIds.push(id);
    const updatedAt = (delivery.updatedAt ?? receivedAt).toISOString();
    await database.sql(
      `INSERT INTO deliveries (id, organization_id, event_id, destination_id, status, attempt_count, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5::"DeliveryStatus", $6, $7, $8)`,
      [id, organizationId, eventId, delivery.destinationId, delivery.status, delivery.attempts ?? 1, receivedAt.toISOString(), updatedAt],
    );
    for (let number = 1; number <= (delivery.attempts ?? 1); number += 1) {
      await database.sql(`INSERT INTO attempts (id, delivery_id, number, trigger, started_at, duration_ms, outcome) VALUES ($1, $2, $3, 'scheduled', $4, 5, 'retry')`, [
        newId('att'),
        id,
        number,
        receivedAt.toISOString(),
      ]);
    }
  }
  return { eventId, deliveryIds };
}

/** The organization's rows; every attempt of the database (its only organization's), those of removed deliveries too. */
async function counts(database: Database, organizationId: string) {
  const [row] = await database.sql<{ events: bigint; deliveries: bigint; attempts: bigint }>(
    `SELECT (SELECT count(*) FROM events WHERE organization_id = $1) AS events,
            (SELECT count(*) FROM deliveries WHERE organization_id = $1) AS deliveries,
            (SELECT count(*) FROM attempts) AS attempts`,
    [organizationId],
  );
  return { events: Number(row.events), deliveries: Number(row.deliveries), attempts: Number(row.attempts) };
}

async function eventExists(database: Database, organizationId: string, eventId: string): Promise<boolean> {
  return (await database.sql(`SELECT 1 FROM events WHERE organization_id = $1 AND id = $2`, [organizationId, eventId])).length === 1;
}

describe('retention in the database', () => {
  let fixture: RepositoryFixture;
  let retention: RetentionRepository;

  beforeAll(async () => {
    fixture = await openRepositoryFixture('retention');
    retention = new RetentionRepository(fixture.database);
  });

  afterAll(async () => {
    await fixture.close();
  });

  it('removes old settled events with their deliveries and attempts, a bounded batch at a time, and keeps open, recent and recently touched ones', async () => {
    const { database, organizationId } = fixture;
    const [first, second] = [await fixture.createDestination(), await fixture.createDestination()];
    const old = daysAgo(40);
    const settled: string[] = [];
    const deadLetters: { id: string; destinationId: string }[] = [];
    for (let i = 0; i < 9; i += 1) {
      const status = ['delivered', 'failed', 'cancelled'][i % 3];
      const inserted = await insertEvent(database, organizationId, new Date(old.getTime() + i), [
        { destinationId: first, status, attempts: 2 },
        { destinationId: second, status: 'delivered', attempts: 1 },
      ]);
      settled.push(inserted.eventId);
      if (status === 'failed') deadLetters.push({ id: inserted.deliveryIds[0], destinationId: first });
    }
    // Old, but one delivery still has work to do: never removed, nor its settled sibling.
    const open = [];
    for (const status of ['pending', 'delivering', 'retrying']) {
      open.push(
        (
          await insertEvent(database, organizationId, old, [
            { destinationId: first, status },
            { destinationId: second, status: 'delivered' },
          ])
        ).eventId,
      );
    }
    // Old, but an operator retried it 2 days ago: kept for the period from then.
    const touched = (await insertEvent(database, organizationId, old, [{ destinationId: first, status: 'delivered', updatedAt: daysAgo(2), attempts: 3 }])).eventId;
    // Received within the period.
    const recent = (await insertEvent(database, organizationId, daysAgo(29), [{ destinationId: first, status: 'delivered' }])).eventId;
    // Old, with no delivery at all (no destination matched).
    const undelivered = (await insertEvent(database, organizationId, old, [])).eventId;
    expect(await counts(database, organizationId)).toEqual({ events: 15, deliveries: 26, attempts: 37 });

    const cutoff = daysAgo(30);
    const batches = [];
    let cursor: RetentionCursor = RETENTION_START;
    for (;;) {
      const batch = await retention.removeEvents(organizationId, cutoff, cursor, 4);
      batches.push(batch);
      if (batch.scanned < 4 || batch.next === null) break;
      cursor = batch.next;
    }
    // 14 old events looked at 4 to a statement: every statement (one transaction) removes at
    // most 4 events with their 2 deliveries and 3 attempts each.
    expect(batches.map((batch) => batch.scanned)).toEqual([4, 4, 4, 2]);
    for (const batch of batches) {
      expect(batch.removed.events).toBeLessThanOrEqual(4);
      expect(batch.removed.deliveries).toBeLessThanOrEqual(8);
      expect(batch.removed.attempts).toBeLessThanOrEqual(12);
    }
    const removed = batches.reduce((sum, batch) => sum + batch.removed.events, 0);
    expect(removed).toBe(10);
    // The removed dead letters are named, for their failed jobs to leave the queues.
    expect(batches.flatMap((batch) => batch.deadLetters)).toEqual(expect.arrayContaining(deadLetters));
    expect(batches.flatMap((batch) => batch.deadLetters)).toHaveLength(3);
    expect(await counts(database, organizationId)).toEqual({ events: 5, deliveries: 8, attempts: 10 });
    for (const id of [...settled, undelivered]) expect(await eventExists(database, organizationId, id)).toBe(false);
    for (const id of [...open, touched, recent]) expect(await eventExists(database, organizationId, id)).toBe(true);

    // A second pass finds nothing more to remove.
    const again = await retention.removeEvents(organizationId, cutoff, RETENTION_START, 100);
    expect(again).toMatchObject({ scanned: 4, removed: { events: 0, deliveries: 0, attempts: 0 } });
  });

  it('removes old replays once none of their deliveries is open or recent', async () => {
    const { database, organizationId } = fixture;
    const destination = await fixture.createDestination();
    const replay = async (createdAt: Date, deliveryStatus: string | undefined) => {
      const id = newId('rpl');
      await database.sql(`INSERT INTO replays (id, organization_id, filter, total, created_at, created_by) VALUES ($1, $2, '{}', 1, $3, 'key_test')`, [
        id,
        organizationId,
        createdAt.toISOString(),
      ]);
      if (deliveryStatus) {
        const { deliveryIds } = await insertEvent(database, organizationId, daysAgo(60), [{ destinationId: destination, status: deliveryStatus }]);
        await database.sql(`UPDATE deliveries SET replay_id = $1 WHERE id = $2`, [id, deliveryIds[0]]);
      }
      return id;
    };
    const finished = await replay(daysAgo(40), 'delivered');
    const emptied = await replay(daysAgo(40), undefined);
    const stillOpen = await replay(daysAgo(40), 'retrying');
    const recent = await replay(daysAgo(3), undefined);

    expect(await retention.removeReplays(organizationId, daysAgo(30), 100)).toBe(2);
    const left = (await database.sql<{ id: string }>(`SELECT id FROM replays WHERE organization_id = $1`, [organizationId])).map((row) => row.id);
    expect(left.sort()).toEqual([stillOpen, recent].sort());
    expect(left).not.toContain(finished);
    expect(left).not.toContain(emptied);
  });
});

describe('retention by the worker', () => {
  const system = useSystem({ env: { DISPATCH_RETENTION_DAYS: '30', DISPATCH_RETENTION_BATCH: '2', DISPATCH_RETENTION_SWEEP_MS: '500' } });
  const receiver = useReceiver();
  let database: Database;
  let redis: IORedis;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(async () => {
    await database.close();
    redis.disconnect();
  });

  /** Makes an event and everything about it look `days` old. */
  async function age(eventId: string, days: number): Promise<void> {
    const at = daysAgo(days).toISOString();
    const organizationId = system.organization.organizationId;
    await database.sql(`UPDATE events SET received_at = $3 WHERE organization_id = $1 AND id = $2`, [organizationId, eventId, at]);
    await database.sql(`UPDATE attempts SET started_at = $3 WHERE delivery_id IN (SELECT id FROM deliveries WHERE organization_id = $1 AND event_id = $2)`, [
      organizationId,
      eventId,
      at,
    ]);
    await database.sql(`UPDATE deliveries SET created_at = $3, updated_at = $3 WHERE organization_id = $1 AND event_id = $2`, [organizationId, eventId, at]);
  }

  it('removes delivered events older than the period from the API, several batches over, and keeps what is open or recent', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const held = await createWebhook(system.client, `${receiver.url}/held`);
    expect((await system.client.post(`/v1/destinations/${held.id}/pause`, {})).status).toBe(200);

    const old: { eventId: string; deliveryId: string }[] = [];
    for (let i = 0; i < 5; i += 1) {
      const sent = await sendEvent(system.client, { id: `evt_old_${i}`, type: 'old.event', destinations: [destination.id] });
      await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
      old.push({ eventId: `evt_old_${i}`, deliveryId: sent.deliveries[0].id });
    }
    const recent = await sendEvent(system.client, { id: 'evt_recent', type: 'old.event', destinations: [destination.id] });
    await waitForDelivery(system.client, recent.deliveries[0].id, 'delivered');
    const open = await sendEvent(system.client, { id: 'evt_old_held', type: 'old.event', destinations: [held.id] });
    // A dead letter: its failed job stays in the destination's queue until the delivery is removed.
    receiver.answer((request) => ({ status: request.path === '/dead' ? 500 : 200 }));
    const dead = await createWebhook(system.client, `${receiver.url}/dead`, { retryPolicy: { maxAttempts: 1 } });
    const deadLetter = (await sendEvent(system.client, { id: 'evt_old_dead', type: 'old.event', destinations: [dead.id] })).deliveries[0].id;
    await waitForDelivery(system.client, deadLetter, 'failed');
    const deadQueue = new Queue(destinationQueueName(dead.id), { connection: redis, prefix: system.config.queuePrefix });
    await eventually(async () => ((await deadQueue.getJobState(deadLetter)) === 'failed' ? true : undefined), 5_000, 'the failed job');
    for (const { eventId } of old) await age(eventId, 31);
    await age('evt_old_held', 31);
    await age('evt_old_dead', 31);

    await eventually(async () => ((await system.client.get('/v1/events/evt_old_4')).status === 404 ? true : undefined), 15_000, 'the old events to be removed');
    await eventually(async () => ((await system.client.get('/v1/events/evt_old_dead')).status === 404 ? true : undefined), 5_000, 'the dead letter to be removed');
    expect(await deadQueue.getJob(deadLetter)).toBeUndefined();
    await deadQueue.close();
    for (const { eventId, deliveryId } of old) {
      expect((await system.client.get(`/v1/events/${eventId}`)).status).toBe(404);
      expect((await system.client.get(`/v1/deliveries/${deliveryId}`)).status).toBe(404);
    }
    const attemptsLeft = await database.sql(`SELECT id FROM attempts WHERE delivery_id = ANY($1)`, [old.map(({ deliveryId }) => deliveryId)]);
    expect(attemptsLeft).toEqual([]);
    const listedEvents = (await system.client.get('/v1/events?limit=100')).body.data.map((event: { id: string }) => event.id);
    expect(listedEvents.sort()).toEqual(['evt_old_held', 'evt_recent']);
    const listedDeliveries = (await system.client.get('/v1/deliveries?limit=100')).body.data.map((delivery: { id: string }) => delivery.id);
    expect(listedDeliveries.sort()).toEqual([recent.deliveries[0].id, open.deliveries[0].id].sort());
    expect((await system.client.get(`/v1/deliveries/${open.deliveries[0].id}`)).body).toMatchObject({ status: 'pending' });
    expect((await system.client.get(`/v1/deliveries/${recent.deliveries[0].id}`)).body.attempts).toHaveLength(1);
  }, 40_000);
});
