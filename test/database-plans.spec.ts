import { AttemptRepository, createDatabase, Database, EventRepository } from '@dispatch/db';
import { newId } from '@dispatch/domain';
import { createTestDatabase, createTestOrganization, eventually } from '@dispatch/testing';

/**
 * The claim and settle statement is planned once per connection (`sqlByKey`), not at each
 * execution. A plan made while the tables were empty (a fresh install) must not turn into a
 * scan of every row once they have grown.
 */
describe('the claim and settle statement, planned once', () => {
  let drop: () => Promise<void>;
  let database: Database;
  /** Its keyed connections live a second. */
  let shortLived: Database;
  let organizationId: string;

  beforeAll(async () => {
    const created = await createTestDatabase('plans');
    drop = created.drop;
    organizationId = (await createTestOrganization(created.url)).organizationId;
    database = createDatabase(created.url, { max: 2 });
    shortLived = createDatabase(created.url, { max: 1, keyedLifetimeSeconds: 1 });
  });

  afterAll(async () => {
    await Promise.all([database.close(), shortLived.close()]);
    await drop();
  });

  const sequentialScans = async () =>
    (
      await database.sql<{ scans: bigint }>(
        `SELECT coalesce(sum(seq_scan), 0)::bigint AS scans FROM pg_stat_user_tables WHERE relname IN ('deliveries', 'events', 'attempts', 'destination_health')`,
      )
    )[0].scans;

  it('finds its rows by key even when it was planned on empty tables and the tables grew since', async () => {
    const destinationId = newId('dst');
    await database.prisma.destination.create({
      data: { id: destinationId, organizationId, name: destinationId, kind: 'webhook', config: { url: 'http://127.0.0.1:9/hook' }, eventTypes: ['*'], retryPolicy: {} },
    });
    const attempts = new AttemptRepository(database);
    const events = new EventRepository(database);
    const deliver = async () => {
      const ingested = await events.ingest(
        { organizationId, id: newId('evt'), type: 'a.b', source: null, data: {}, orderingKey: null, priority: 0, correlationId: null, tags: [] },
        [{ id: newId('dlv'), destinationId, ordered: false }],
      );
      return attempts.claim(ingested.deliveries[0].id, destinationId);
    };
    // Planned now, on tables holding one row each; the plan is kept for 10 seconds.
    expect(await deliver()).toMatchObject({ attemptNumber: 1 });

    await database.sql(
      `WITH e AS (INSERT INTO events (organization_id, id, type, data) SELECT $1, 'evt_bulk_' || g, 'a.b', '{}' FROM generate_series(1, 20000) g RETURNING id)
       INSERT INTO deliveries (id, organization_id, event_id, destination_id, status, updated_at) SELECT 'dlv_bulk_' || e.id, $1, e.id, $2, 'delivered', now() FROM e`,
      [organizationId, destinationId],
    );
    // A backend's statistics reach pg_stat_user_tables within a second of its last statement.
    const settled = () => new Promise((resolve) => setTimeout(resolve, 1_500));
    await settled();
    const before = await sequentialScans();
    for (let round = 0; round < 20; round += 1) expect(await deliver()).toMatchObject({ attemptNumber: 1 });
    await settled();
    expect(await sequentialScans()).toBe(before);
  });

  it('is planned again on a new connection once the last one has lived its time', async () => {
    const backend = async () => (await shortLived.sqlByKey<{ pid: number }>('SELECT pg_backend_pid() AS pid', [], 'backend'))[0].pid;
    const first = await backend();
    expect(await backend()).toBe(first);
    await eventually(async () => ((await backend()) !== first ? true : undefined), 5_000, 'a new connection');
  });
});
