import { randomBytes } from 'node:crypto';
import { connect, headers, JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { createDatabase, Database } from '@dispatch/db';
import {
  createTestOrganization,
  createWebhook,
  eventually,
  Json,
  POSTGRES_URL,
  REDIS_URL,
  TcpProxy,
  TEST_ENCRYPTION_KEY,
  TestOrganization,
  waitForCount,
} from '@dispatch/testing';
import { WorkerMetrics } from '../apps/worker/src/operations/worker-metrics';
import { AppProcess, LOOPBACK_ALLOWED, spawnApp } from './processes';
import { useReceiver, useSystem } from './system';

const NATS_URL = 'nats://127.0.0.1:4222';
const CONSUMER = 'dispatch-ingest';

/** A stream of its own for each part of this file, on subjects no other run uses; deleted in afterAll. */
function ingestStream() {
  const run = randomBytes(4).toString('hex');
  const prefix = `dispatch_test_ingest_${run}`;
  return {
    prefix,
    env: {
      DISPATCH_NATS_URL: NATS_URL,
      DISPATCH_NATS_INGEST_STREAM: `DISPATCH_TEST_INGEST_${run}`,
      DISPATCH_NATS_INGEST_SUBJECTS: `${prefix}.>`,
      DISPATCH_NATS_INGEST_ACK_WAIT_MS: '3000',
    },
  };
}

/** A NATS connection for the enclosing `describe` (publishing, reading the consumer), which deletes the stream afterwards. */
function useNats(stream: string) {
  const nats = {} as { connection: NatsConnection; js: JetStreamClient; manager: JetStreamManager };
  beforeAll(async () => {
    nats.connection = await connect({ servers: NATS_URL });
    nats.js = nats.connection.jetstream();
    nats.manager = await nats.connection.jetstreamManager();
  });
  afterAll(async () => {
    await nats.manager?.streams.delete(stream).catch(() => undefined);
    await nats.connection?.close();
  });
  return nats;
}

/** Waits until the worker has made the stream and its consumer. */
function consumerReady(manager: JetStreamManager, stream: string): Promise<true> {
  return eventually(async () => ((await manager.consumers.info(stream, CONSUMER).catch(() => null)) ? true : undefined), 20_000, `consumer ${CONSUMER} on ${stream}`);
}

const encode = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));

describe('ingest from NATS JetStream', () => {
  const stream = ingestStream();
  const streamName = stream.env.DISPATCH_NATS_INGEST_STREAM;
  const system = useSystem({ env: stream.env });
  const receiver = useReceiver();
  const nats = useNats(streamName);
  let operator: TestOrganization;

  beforeAll(async () => {
    operator = await createTestOrganization(system.config.databaseUrl, 'default');
    await consumerReady(nats.manager, streamName);
  }, 30_000);

  const subject = (organizationId: string, rest = 'orders') => `${stream.prefix}.${organizationId}.${rest}`;
  const publish = (organizationId: string, body: unknown, msgID?: string) => nats.js.publish(subject(organizationId), encode(body), msgID ? { msgID } : {});
  const outcomes = async () => {
    const metric = await (system.worker?.get(WorkerMetrics) as WorkerMetrics).ingestMessages.get();
    return Object.fromEntries(metric.values.map((value) => [value.labels.outcome, value.value]));
  };

  it('delivers an event published on ingest.<organizationId>.<anything> to the webhook, its id the Nats-Msg-Id when the body has none', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    await publish(system.organization.organizationId, { type: 'order.created', data: { order: 1 }, destinations: [destination.id] }, 'msg-order-1');
    await publish(system.organization.organizationId, { id: 'evt_nats_body', type: 'order.created', data: { order: 2 }, destinations: [destination.id] }, 'msg-order-2');
    await receiver.waitFor(2, 15_000);
    expect(receiver.requests.map((request) => [request.headers['webhook-id'], JSON.parse(request.body).data]).sort()).toEqual([
      ['evt_nats_body', { order: 2 }],
      ['msg-order-1', { order: 1 }],
    ]);
    const event = await system.client.get('/v1/events/msg-order-1');
    expect(event.status).toBe(200);
    expect(event.body).toMatchObject({ id: 'msg-order-1', type: 'order.created', data: { order: 1 } });
  });

  it('makes one event of a Nats-Msg-Id published twice, and of an id that comes again in another message', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const before = await outcomes();
    const organizationId = system.organization.organizationId;
    await publish(organizationId, { type: 'dedup.test', data: { copy: 1 }, destinations: [destination.id] }, 'msg-dedup');
    await publish(organizationId, { type: 'dedup.test', data: { copy: 2 }, destinations: [destination.id] }, 'msg-dedup');
    await publish(organizationId, { id: 'evt_dedup', type: 'dedup.test', data: { copy: 1 }, destinations: [destination.id] }, 'msg-dedup-a');
    await publish(organizationId, { id: 'evt_dedup', type: 'dedup.test', data: { copy: 2 }, destinations: [destination.id] }, 'msg-dedup-b');
    await eventually(async () => ((await outcomes()).duplicate === (before.duplicate ?? 0) + 1 ? true : undefined), 15_000, 'the repeated id counted as a duplicate');
    await receiver.waitFor(2, 15_000);
    expect(receiver.eventIds().sort()).toEqual(['evt_dedup', 'msg-dedup']);
    const listed = await system.client.get('/v1/events?type=dedup.test');
    expect(listed.body.data.map((event: Json) => [event.id, event.data.copy]).sort()).toEqual([
      ['evt_dedup', 1],
      ['msg-dedup', 1],
    ]);
  });

  it('terminates and lists at GET /v1/ingest/rejected what can never be ingested: bad JSON, an unknown organization, an invalid event', async () => {
    const organizationId = system.organization.organizationId;
    const bad = await nats.js.publish(subject(organizationId, 'bad'), encode('{"type": "order.created", "data":'));
    const unknown = await nats.js.publish(subject('org_nobody'), encode({ type: 'order.created', data: {} }));
    const hdrs = headers();
    hdrs.set('x-trace', 'trace-1');
    const invalid = await nats.js.publish(subject(organizationId, 'invalid'), encode({ type: 'Not A Type', data: {} }), { headers: hdrs });
    // Terminated messages count as acknowledged: the consumer's floor passes them and nothing is pending.
    await eventually(
      async () => {
        const info = await nats.manager.consumers.info(streamName, CONSUMER);
        return info.ack_floor.stream_seq >= invalid.seq && info.num_ack_pending === 0 && info.num_redelivered === 0 ? true : undefined;
      },
      15_000,
      'the rejected messages settled',
    );

    const all = await system.client.as(operator.adminKey).get('/v1/ingest/rejected');
    expect(all.status).toBe(200);
    const bySeq = new Map<number, Json>(all.body.data.map((row: Json) => [row.streamSequence, row]));
    expect(bySeq.get(bad.seq)).toMatchObject({
      organizationId,
      stream: streamName,
      subject: subject(organizationId, 'bad'),
      reason: expect.stringMatching(/^bad JSON/),
      body: '{"type": "order.created", "data":',
      deliveries: 1,
    });
    expect(bySeq.get(unknown.seq)).toMatchObject({ organizationId: null, subject: subject('org_nobody'), reason: 'unknown organization "org_nobody"' });
    expect(bySeq.get(invalid.seq)).toMatchObject({ organizationId, reason: expect.stringContaining('invalid event: type:'), headers: { 'x-trace': ['trace-1'] } });
    expect(await outcomes()).toMatchObject({ rejected: 3 });

    // An organization's admin sees its own rejected messages only; other roles may not look.
    const own = await system.client.get('/v1/ingest/rejected?limit=1');
    expect(own.body.data).toHaveLength(1);
    expect(own.body.data[0].streamSequence).toBe(invalid.seq);
    const next = await system.client.get(`/v1/ingest/rejected?limit=1&cursor=${own.body.nextCursor}`);
    expect(next.body.data.map((row: Json) => row.streamSequence)).toEqual([bad.seq]);
    expect((await system.client.as(system.organization.viewerKey).get('/v1/ingest/rejected')).status).toBe(403);
    expect((await system.client.get('/v1/ingest/rejected?cursor=nope')).status).toBe(400);
  });

  it('ingests the messages of each ordering key in stream order, so an ordered destination receives them in that order', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { ordering: 'key' });
    const keys = ['doc-a', 'doc-b', 'doc-c'];
    const total = 90;
    await Promise.all(
      Array.from({ length: total }, (_, n) =>
        publish(system.organization.organizationId, { type: 'doc.changed', data: { n }, orderingKey: keys[n % keys.length], destinations: [destination.id] }),
      ),
    );
    await receiver.waitFor(total, 30_000);
    for (const key of keys) {
      const sequence = receiver.requests.map((request) => JSON.parse(request.body).data.n as number).filter((n) => keys[n % keys.length] === key);
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
      expect(sequence).toHaveLength(total / keys.length);
    }
  });
});

describe('NATS ingest while PostgreSQL is down', () => {
  const stream = ingestStream();
  const streamName = stream.env.DISPATCH_NATS_INGEST_STREAM;
  let proxy: TcpProxy;
  beforeAll(async () => {
    proxy = await TcpProxy.start(Number(new URL(POSTGRES_URL).port || 5432));
  });
  // Registered after the proxy's hook, so the system starts behind it.
  const system = useSystem({ env: stream.env, databaseUrl: (url) => proxy.url(url) });
  const nats = useNats(streamName);
  afterAll(async () => {
    proxy.restore();
    await proxy.close();
  });

  it('sends the message back with a delay while the database is unreachable, and ingests it once it is back', async () => {
    await consumerReady(nats.manager, streamName);
    const metrics = system.worker?.get(WorkerMetrics) as WorkerMetrics;
    const retried = async () => (await metrics.ingestMessages.get()).values.find((value) => value.labels.outcome === 'retried')?.value ?? 0;
    proxy.cut();
    try {
      await nats.js.publish(`${stream.prefix}.${system.organization.organizationId}.orders`, encode({ type: 'outage.pg', data: {} }), { msgID: 'msg-outage' });
      await eventually(async () => ((await retried()) >= 2 ? true : undefined), 20_000, 'the message sent back twice');
      const info = await nats.manager.consumers.info(streamName, CONSUMER);
      expect(info.num_ack_pending).toBe(1);
    } finally {
      proxy.restore();
    }
    await eventually(async () => ((await system.client.get('/v1/events/msg-outage')).status === 200 ? true : undefined), 20_000, 'the event ingested');
    await eventually(
      async () => ((await nats.manager.consumers.info(streamName, CONSUMER)).num_ack_pending === 0 ? true : undefined),
      10_000,
      'the message acknowledged',
    );
  }, 60_000);
});

describe('NATS ingest across a worker shutdown (worker as a child process)', () => {
  const stream = ingestStream();
  const streamName = stream.env.DISPATCH_NATS_INGEST_STREAM;
  const system = useSystem({ worker: false });
  const nats = useNats(streamName);
  const workers: AppProcess[] = [];
  let database: Database;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });
  afterAll(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    await database.close();
  });

  function startWorker(): AppProcess {
    const worker = spawnApp('worker', {
      DATABASE_URL: system.config.databaseUrl,
      REDIS_URL,
      DISPATCH_QUEUE_PREFIX: system.config.queuePrefix,
      DISPATCH_METRICS_PORT: '0',
      DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
      DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      ...stream.env,
    });
    workers.push(worker);
    return worker;
  }

  const events = () => database.prisma.event.count({ where: { organizationId: system.organization.organizationId, type: 'flow.test' } });

  it('loses nothing and ingests nothing twice when the worker is stopped (SIGTERM) while messages flow', async () => {
    const first = startWorker();
    await consumerReady(nats.manager, streamName);
    const total = 600;
    // No ids: a message ingested twice would be two events.
    let published = 0;
    const publishing = (async () => {
      for (; published < total; published += 1) {
        await nats.js.publish(`${stream.prefix}.${system.organization.organizationId}.flow`, encode({ type: 'flow.test', data: { n: published } }));
      }
    })();
    await eventually(async () => ((await events()) >= 100 ? true : undefined), 20_000, 'a first hundred events');
    const code = await first.stop('SIGTERM');
    expect({ code, output: code === 0 ? '' : first.output() }).toEqual({ code: 0, output: '' });
    const atStop = await events();
    await publishing;
    expect(atStop).toBeLessThan(total);

    startWorker();
    await waitForCount(events, total, 'events', 40_000);
    const rows = await database.prisma.event.findMany({ where: { organizationId: system.organization.organizationId, type: 'flow.test' }, select: { data: true } });
    const seen = rows.map((row) => (row.data as { n: number }).n).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: total }, (_, n) => n));
    console.log(`SIGTERM with ${atStop} of ${total} messages ingested: all ${total} ingested once after a new worker started`);
  }, 90_000);
});
