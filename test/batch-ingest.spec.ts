import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { destinationQueueName } from '@dispatch/queue';
import { ApiClient, createWebhook, Json, REDIS_URL, uniqueId } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

/** POST /v1/events/batch against a real API, worker, PostgreSQL, Redis and receiver. */
describe('batch ingest', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let client: ApiClient;
  /** Receives `batch.even` events; `odd` receives `batch.odd`. */
  let even: string;
  let odd: string;

  beforeAll(async () => {
    client = system.client;
    even = (await createWebhook(client, `${receiver.url}/even`, { eventTypes: ['batch.even'] })).id;
    odd = (await createWebhook(client, `${receiver.url}/odd`, { eventTypes: ['batch.odd'] })).id;
  });

  const postBatch = (events: unknown[], as: ApiClient = client, headers?: Record<string, string>) => as.post('/v1/events/batch', { events }, headers);

  /** Rows in the whole database: what a refused batch must leave unchanged. */
  async function stored(): Promise<{ events: number; deliveries: number }> {
    const database = new Client({ connectionString: system.config.databaseUrl });
    await database.connect();
    try {
      const { rows } = await database.query<{ events: number; deliveries: number }>(
        'SELECT (SELECT count(*) FROM events)::int AS events, (SELECT count(*) FROM deliveries)::int AS deliveries',
      );
      return rows[0];
    } finally {
      await database.end();
    }
  }

  /** An answer's events as id, type, created and their deliveries without status (a repeat shows the status now). */
  const answered = (body: Json) =>
    body.events.map((event: Json) => ({ ...event, deliveries: event.deliveries.map(({ id, destinationId }: Json) => ({ id, destinationId })) }));

  /** `count` events with ids `<prefix>_<i>`, alternately `batch.even` and `batch.odd`. */
  function events(prefix: string, count: number): { id: string; type: string; data: Json }[] {
    return Array.from({ length: count }, (_, i) => ({ id: `${prefix}_${i}`, type: i % 2 === 0 ? 'batch.even' : 'batch.odd', data: { i } }));
  }

  /** The ids of the jobs waiting in a destination's queue (every job has a priority). */
  async function waitingJobs(destinationId: string): Promise<string[]> {
    const redis = new IORedis(REDIS_URL);
    const queue = new Queue(destinationQueueName(destinationId), { connection: redis, prefix: system.config.queuePrefix });
    try {
      return (await queue.getJobs(['waiting', 'prioritized'])).map((job) => job.id as string);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  }

  it('routes each event of a batch by its type or its `destinations`, answers each in the order sent, queues every delivery at once and delivers them all', async () => {
    const sent = [...events(uniqueId('evt_route'), 20), { id: uniqueId('evt_named'), type: 'nobody.wants', data: { named: true }, destinations: [odd] }];
    // Without a worker nothing is consumed and no reconciler runs: the jobs waiting are those the API queued.
    await system.stopWorker();
    const answer = await postBatch(sent);
    expect(answer.status).toBe(202);
    expect(answer.body.events.map((event: Json) => [event.id, event.type, event.created])).toEqual(sent.map((event) => [event.id, event.type, true]));
    answer.body.events.forEach((event: Json, index: number) => {
      const expected = index === 20 || index % 2 === 1 ? odd : even;
      expect(event.deliveries).toEqual([{ id: expect.stringMatching(/^dlv_/), destinationId: expected, status: 'pending' }]);
    });
    const deliveriesTo = (destinationId: string) =>
      answer.body.events.flatMap((event: Json) =>
        event.deliveries.filter((delivery: Json) => delivery.destinationId === destinationId).map((delivery: Json) => delivery.id),
      );
    expect((await waitingJobs(even)).sort()).toEqual(deliveriesTo(even).sort());
    expect((await waitingJobs(odd)).sort()).toEqual(deliveriesTo(odd).sort());

    await system.startWorker();

    const arrived = await Promise.all(sent.map((event) => receiver.waitForEvent(event.id)));
    arrived.forEach((request, index) => {
      expect(request.path).toBe(index === 20 || index % 2 === 1 ? '/odd' : '/even');
      expect(JSON.parse(request.body)).toMatchObject({ type: sent[index].type, data: sent[index].data });
    });
  });

  it('answers 200 with every event `created: false` and its first deliveries when no event is new, and writes or delivers nothing again', async () => {
    const sent = events(uniqueId('evt_repeat'), 4);
    const first = await postBatch(sent);
    expect(first.status).toBe(202);
    await receiver.waitFor(4);
    const before = await stored();

    const again = await postBatch(sent.map((event) => ({ ...event, data: { changed: true } })));
    expect(again.status).toBe(200);
    expect(answered(again.body)).toEqual(answered(first.body).map((event: Json) => ({ ...event, created: false })));
    expect(await stored()).toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(4);
  });

  it('answers 202 for a batch of new and already accepted events, each with its own `created`, and delivers only the new ones; an id twice in the batch is one event', async () => {
    const [old, fresh] = events(uniqueId('evt_mixed'), 2);
    const earlier = await postBatch([old]);
    await receiver.waitForEvent(old.id);

    const answer = await postBatch([fresh, old, fresh]);
    expect(answer.status).toBe(202);
    expect(answer.body.events.map((event: Json) => [event.id, event.created])).toEqual([
      [fresh.id, true],
      [old.id, false],
      [fresh.id, false],
    ]);
    expect(answered(answer.body)[1].deliveries).toEqual(answered(earlier.body)[0].deliveries);
    expect(answer.body.events[2].deliveries).toEqual(answer.body.events[0].deliveries);
    await receiver.waitForEvent(fresh.id);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests.map((request) => request.headers['webhook-id'])).toEqual([old.id, fresh.id]);
  });

  it('refuses the whole batch with 400 naming `events.3.type` when one event is invalid, and writes nothing', async () => {
    const sent: Json[] = events(uniqueId('evt_invalid'), 5);
    sent[3].type = 'not a type!';
    const before = await stored();
    const answer = await postBatch(sent);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(answer.body.details).toEqual([{ path: 'events.3.type', message: expect.any(String) }]);
    expect(await stored()).toEqual(before);
    for (const event of sent) expect((await client.get(`/v1/events/${event.id}`)).status).toBe(404);
  });

  it('refuses the whole batch with 400 naming `events.N.destinations.M` for an unknown destination, and NUL in an event naming `events.N.<field>`; writes nothing', async () => {
    const before = await stored();
    const unknown = await postBatch([...events(uniqueId('evt_unknown'), 2), { type: 'batch.even', data: {}, destinations: [even, 'dst_nope'] }]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.details).toEqual([{ path: 'events.2.destinations.1', message: 'unknown destination "dst_nope"' }]);
    const nul = await postBatch([...events(uniqueId('evt_nul'), 1), { type: 'batch.even', data: { note: 'a\u0000b' } }]);
    expect(nul.status).toBe(400);
    expect(nul.body.details).toEqual([{ path: 'events.1.data', message: 'must not contain the NUL character (\\u0000)' }]);
    expect(await stored()).toEqual(before);
  });

  it('refuses an empty batch and one of 501 events with 400 naming `events`, and accepts 500 events of 1.5 KB each', async () => {
    const before = await stored();
    const quiet = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: `${prefix}_${i}`, type: 'quiet.tick', data: { pad: 'x'.repeat(1500) } }));
    for (const sent of [[], quiet(uniqueId('evt_over'), 501)]) {
      const answer = await postBatch(sent);
      expect(answer.status).toBe(400);
      expect(answer.body.details).toEqual([{ path: 'events', message: expect.any(String) }]);
    }
    expect(await stored()).toEqual(before);

    const full = await postBatch(quiet(uniqueId('evt_full'), 500));
    expect(full.status).toBe(202);
    expect(full.body.events).toHaveLength(500);
    expect((await stored()).events).toBe(before.events + 500);
  });

  it('lets a producer send a batch; a viewer gets 403 and nothing is written', async () => {
    const before = await stored();
    const viewer = await postBatch(events(uniqueId('evt_viewer'), 2), client.as(system.organization.viewerKey));
    expect(viewer.status).toBe(403);
    expect(viewer.body).toMatchObject(errorShape(403, 'Forbidden'));
    expect(await stored()).toEqual(before);
    const producer = await postBatch(events(uniqueId('evt_producer'), 2), client.as(system.organization.producerKey));
    expect(producer.status).toBe(202);
    await receiver.waitFor(2);
  });

  it('is described in the OpenAPI document, with its body', async () => {
    const docs = await client.get('/docs-json');
    const operation = docs.body.paths['/v1/events/batch']?.post;
    expect(operation?.summary).toContain('500 events');
    expect(operation?.requestBody?.content?.['application/json']?.schema?.properties?.events?.maxItems).toBe(500);
  });

  it('refuses the Idempotency-Key header with 400 naming it (each event is idempotent by its own id), and writes nothing', async () => {
    const before = await stored();
    const answer = await postBatch(events(uniqueId('evt_key'), 2), client, { 'idempotency-key': 'batch-1' });
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([{ path: 'Idempotency-Key', message: expect.stringContaining('id') }]);
    expect(await stored()).toEqual(before);
  });
});
