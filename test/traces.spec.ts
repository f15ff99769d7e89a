import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, createTestDatabase, deleteQueueKeys, eventually, Receiver, REDIS_URL, TEST_ENCRYPTION_KEY, uniqueQueuePrefix } from '@dispatch/testing';
import { AppProcess, freePort, LOOPBACK_ALLOWED, spawnApp, waitUntilReady } from './processes';

/** OTLP's span kinds as they come in its JSON. */
const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
/** OTLP's status code of a failed span. */
const STATUS_ERROR = 2;

type OtlpValue = { stringValue?: string; intValue?: number | string; boolValue?: boolean; doubleValue?: number };
type OtlpAttribute = { key: string; value: OtlpValue };

/** A span as the OTLP receiver got it, its attributes as a plain object. */
type CollectedSpan = {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
  links: { traceId: string; spanId: string }[];
  status: { code?: number; message?: string };
};

function attributeValue(value: OtlpValue): string | number | boolean | undefined {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.boolValue ?? value.doubleValue;
}

function attributes(list: OtlpAttribute[] | undefined): CollectedSpan['attributes'] {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, attributeValue(value)]));
}

/**
 * An OTLP/HTTP receiver on loopback, as a collector (Jaeger, Tempo, the OpenTelemetry
 * Collector) listens: it takes `POST /v1/traces` in OTLP JSON and keeps every span.
 */
class OtlpReceiver {
  readonly spans: CollectedSpan[] = [];
  /** Requests received, whatever their path. */
  requests = 0;

  private readonly server: Server;
  url = '';

  private constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        this.requests += 1;
        if (request.method === 'POST' && request.url === '/v1/traces') this.take(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
      });
    });
  }

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver();
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}`;
    return receiver;
  }

  private take(body: {
    resourceSpans?: {
      resource?: { attributes?: OtlpAttribute[] };
      scopeSpans?: {
        spans?: {
          traceId: string;
          spanId: string;
          parentSpanId?: string;
          name: string;
          kind: number;
          attributes?: OtlpAttribute[];
          links?: { traceId: string; spanId: string }[];
          status?: { code?: number; message?: string };
        }[];
      }[];
    }[];
  }): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributes(resourceSpans.resource?.attributes)['service.name']);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            attributes: attributes(span.attributes),
            links: (span.links ?? []).map(({ traceId, spanId }) => ({ traceId, spanId })),
            status: span.status ?? {},
          });
        }
      }
    }
  }

  /** The spans with every attribute of `match`. */
  find(match: Record<string, string | number>, name?: string | RegExp): CollectedSpan[] {
    return this.spans.filter(
      (span) =>
        Object.entries(match).every(([key, value]) => span.attributes[key] === value) &&
        (name === undefined || (typeof name === 'string' ? span.name === name : name.test(span.name))),
    );
  }

  byId(spanId: string | undefined): CollectedSpan | undefined {
    return this.spans.find((span) => span.spanId === spanId);
  }

  childrenOf(span: CollectedSpan): CollectedSpan[] {
    return this.spans.filter((other) => other.parentSpanId === span.spanId && other.traceId === span.traceId);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

type Dispatch = { api: AppProcess; worker: AppProcess; client: ApiClient; stop: () => Promise<void> };

/** The built API and worker on a database and queue prefix of their own, with `env` on top of the usual settings. */
async function startDispatch(name: string, key: string, env: Record<string, string>): Promise<Dispatch> {
  const database = await createTestDatabase(name);
  const prefix = uniqueQueuePrefix();
  const port = await freePort();
  const settings = {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: database.url,
    REDIS_URL,
    DISPATCH_BOOTSTRAP_KEY: key,
    DISPATCH_QUEUE_PREFIX: prefix,
    DISPATCH_METRICS_PORT: '0',
    DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
    DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ...env,
  };
  const api = spawnApp('api', settings);
  const worker = spawnApp('worker', settings);
  const stop = async () => {
    await Promise.all([api.stop(), worker.stop()]);
    await deleteQueueKeys(prefix);
    await database.drop();
  };
  try {
    await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, api);
  } catch (error) {
    await stop();
    throw error;
  }
  return { api, worker, client: new ApiClient(`http://127.0.0.1:${port}`, key), stop };
}

/** A webhook destination for `type.*` retrying a failed attempt after 200 ms. */
async function webhookFor(client: ApiClient, receiver: Receiver, type: string): Promise<string> {
  const created = await client.post('/v1/destinations', {
    name: `traces ${type}`,
    kind: 'webhook',
    config: { url: `${receiver.url}/hook` },
    eventTypes: [`${type}.*`],
    retryPolicy: { maxAttempts: 3, schedule: [200], jitter: 0 },
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

async function delivered(client: ApiClient, deliveryId: string) {
  return eventually(
    async () => {
      const answer = await client.get(`/v1/deliveries/${deliveryId}`);
      return answer.body.status === 'delivered' ? answer.body : undefined;
    },
    15_000,
    `delivery ${deliveryId} delivered`,
  );
}

/** The JSON lines a process wrote. */
function logLines(app: AppProcess): Record<string, unknown>[] {
  return app
    .output()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** `traceparent` (W3C trace context): version, trace id, parent span id, flags. */
function traceparent(header: string | string[] | undefined): { traceId: string; spanId: string } | undefined {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(String(header));
  return match ? { traceId: match[1], spanId: match[2] } : undefined;
}

describe('traces: the API and worker processes send OpenTelemetry spans to an OTLP/HTTP receiver on loopback', () => {
  const key = `dsp_traces_${randomBytes(12).toString('hex')}`;
  let collector: OtlpReceiver;
  let receiver: Receiver;
  let dispatch: Dispatch;
  let client: ApiClient;

  beforeAll(async () => {
    collector = await OtlpReceiver.start();
    receiver = await Receiver.start();
    dispatch = await startDispatch('traces', key, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      LOG_LEVEL: 'log',
      DISPATCH_LOG_FORMAT: 'json',
    });
    client = dispatch.client;
  }, 60_000);

  afterAll(async () => {
    await dispatch?.stop();
    await receiver?.close();
    await collector?.close();
  });

  it('follows an event in one trace: POST, the write, the enqueue, each attempt and the call that reached the receiver, which got traceparent', async () => {
    const type = `trace${randomBytes(3).toString('hex')}`;
    const destinationId = await webhookFor(client, receiver, type);
    const eventId = `evt_${type}`;
    receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500, body: 'try later' } : { status: 200 }));

    const accepted = await client.post('/v1/events', { id: eventId, type: `${type}.created`, data: { n: 1 } });
    expect(accepted.status).toBe(202);
    const deliveryId: string = accepted.body.deliveries[0].id;
    const delivery = await delivered(client, deliveryId);
    expect(delivery.attempts.map((attempt: { statusCode: number }) => attempt.statusCode)).toEqual([500, 200]);

    // Both attempts' spans, and the receiver calls within them, have come in.
    const attempts = await eventually(
      async () => {
        const found = collector.find({ 'dispatch.delivery_id': deliveryId }, /^process /);
        const calls = found.flatMap((attempt) =>
          collector.childrenOf(attempt).filter((span) => span.kind === KIND.client && span.attributes['http.response.status_code'] !== undefined),
        );
        return found.length === 2 && calls.length === 2 ? found : undefined;
      },
      10_000,
      'both attempts and their receiver calls',
    );

    // The HTTP server span of POST /v1/events starts the trace.
    const [ingest] = collector.find({ 'dispatch.event_id': eventId }, 'ingest event');
    expect(ingest).toBeDefined();
    const server = collector.byId(ingest.parentSpanId) as CollectedSpan;
    expect(server).toMatchObject({ service: 'dispatch-api', kind: KIND.server, name: 'POST /v1/events', traceId: ingest.traceId, parentSpanId: undefined });
    expect(server.attributes).toMatchObject({ 'http.route': '/v1/events', 'http.response.status_code': 202 });
    expect(server.attributes['http.request.method'] ?? server.attributes['http.method']).toBe('POST');
    const traceId = ingest.traceId;
    expect(ingest.attributes).toMatchObject({ 'dispatch.organization_id': expect.any(String), 'dispatch.event_type': `${type}.created` });

    // The statement writing the event and its delivery, alone: the event's child, with db attributes and pg's own span inside.
    const [write] = collector.childrenOf(ingest).filter((span) => span.name === 'INSERT events');
    expect(write).toMatchObject({ kind: KIND.client, traceId, links: [] });
    expect(write.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.operation.name': 'INSERT', 'db.collection.name': 'events', 'dispatch.event_count': 1 });
    const statements = collector.childrenOf(write).map((span) => String(span.attributes['db.query.text'] ?? span.attributes['db.statement']));
    expect(statements.some((text) => text.includes('INSERT INTO events'))).toBe(true);

    // The enqueue: a producer span, the event's child, for the delivery's job.
    const [send] = collector.childrenOf(ingest).filter((span) => span.kind === KIND.producer);
    expect(send).toMatchObject({ name: `send {${destinationId}}`, traceId });
    expect(send.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'send',
      'messaging.destination.name': `{${destinationId}}`,
      'messaging.message.id': deliveryId,
      'dispatch.delivery_id': deliveryId,
    });

    // Each attempt: the worker's consumer span, child of the enqueue (the retry too), with the Dispatch ids.
    attempts.sort((a, b) => Number(a.attributes['dispatch.attempt']) - Number(b.attributes['dispatch.attempt']));
    for (const [index, attempt] of attempts.entries()) {
      expect(attempt).toMatchObject({ service: 'dispatch-worker', kind: KIND.consumer, traceId, parentSpanId: send.spanId });
      expect(attempt.attributes).toMatchObject({
        'dispatch.organization_id': ingest.attributes['dispatch.organization_id'],
        'dispatch.event_id': eventId,
        'dispatch.delivery_id': deliveryId,
        'dispatch.destination_id': destinationId,
        'dispatch.attempt': index + 1,
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': `{${destinationId}}`,
        'messaging.message.id': deliveryId,
      });
    }
    expect(attempts[0].attributes['dispatch.outcome']).toBe('retry');
    expect(attempts[0].status.code).toBe(STATUS_ERROR);
    expect(attempts[1].attributes['dispatch.outcome']).toBe('delivered');
    expect(attempts[1].status.code).not.toBe(STATUS_ERROR);

    // The call that reached the receiver: undici's client span inside each attempt, whose id the receiver got in traceparent.
    const calls = attempts.map(
      (attempt) => collector.childrenOf(attempt).find((span) => span.kind === KIND.client && span.attributes['http.response.status_code'] !== undefined) as CollectedSpan,
    );
    expect(calls.map((call) => call.attributes['http.response.status_code'])).toEqual([500, 200]);
    expect(calls.map((call) => call.attributes['http.request.method'])).toEqual(['POST', 'POST']);
    const seen = receiver.requestsOf(eventId).map((request) => traceparent(request.headers.traceparent));
    expect(seen).toEqual(calls.map((call) => ({ traceId, spanId: call.spanId })));

    // The event keeps its trace id.
    const event = await client.get(`/v1/events/${eventId}`);
    expect(event.body.traceId).toBe(traceId);

    // The worker's line about the failed attempt names its trace and span.
    const retryLine = await eventually(
      async () => logLines(dispatch.worker).find((line) => line.deliveryId === deliveryId && line.outcome === 'retry'),
      5_000,
      'the retry line',
    );
    expect(retryLine).toMatchObject({ traceId, spanId: attempts[0].spanId });
  }, 60_000);

  it('gives each event of a batch a trace of its own, and the one statement writing them links to each', async () => {
    const type = `batch${randomBytes(3).toString('hex')}`;
    await webhookFor(client, receiver, type);
    const ids = [0, 1, 2].map((n) => `evt_${type}_${n}`);
    const accepted = await client.post('/v1/events/batch', { events: ids.map((id) => ({ id, type: `${type}.created`, data: {} })) });
    expect(accepted.status).toBe(202);
    const deliveryIds: string[] = accepted.body.events.map((event: { deliveries: { id: string }[] }) => event.deliveries[0].id);
    for (const deliveryId of deliveryIds) await delivered(client, deliveryId);

    const found = await eventually(
      async () => {
        const events = ids.map((id) => collector.find({ 'dispatch.event_id': id }, 'ingest event')[0]);
        const attempts = deliveryIds.map((id) => collector.find({ 'dispatch.delivery_id': id }, /^process /)[0]);
        const write = collector.spans.find(
          (span) => span.name === 'INSERT events' && events.every((event) => event && span.links.some((link) => link.spanId === event.spanId)),
        );
        return write && attempts.every(Boolean) ? { events, attempts, write } : undefined;
      },
      10_000,
      'the batch write, its events and their attempts',
    );
    const { events, attempts, write } = found;
    const server = collector.byId(write.parentSpanId) as CollectedSpan;
    // The statement is the child of the batch's request, not of any of its events.
    expect(server).toMatchObject({ kind: KIND.server, name: 'POST /v1/events/batch', traceId: write.traceId });
    expect(write.attributes).toMatchObject({ 'db.operation.batch.size': 3, 'dispatch.event_count': 3 });
    expect(write.links).toHaveLength(3);

    const traceIds = events.map((event) => event.traceId);
    expect(new Set([...traceIds, server.traceId]).size).toBe(4);
    for (const [index, event] of events.entries()) {
      // A trace of its own, linked to the request that brought it.
      expect(event.parentSpanId).toBeUndefined();
      expect(event.links).toEqual([{ traceId: server.traceId, spanId: server.spanId }]);
      expect(write.links).toContainEqual({ traceId: event.traceId, spanId: event.spanId });
      // Its attempt is in its trace, under its enqueue.
      const send = collector.byId(attempts[index].parentSpanId) as CollectedSpan;
      expect(send).toMatchObject({ kind: KIND.producer, traceId: event.traceId, parentSpanId: event.spanId });
      expect(attempts[index]).toMatchObject({ traceId: event.traceId, attributes: expect.objectContaining({ 'dispatch.event_id': ids[index] }) });
      expect(traceparent(receiver.requestsOf(ids[index])[0].headers.traceparent)?.traceId).toBe(event.traceId);
      expect((await client.get(`/v1/events/${ids[index]}`)).body.traceId).toBe(event.traceId);
    }
  }, 60_000);

  it('writes events of concurrent requests in one statement that is the child of none of them, linked to each', async () => {
    const type = `group${randomBytes(3).toString('hex')}`;
    await webhookFor(client, receiver, type);
    const ids = Array.from({ length: 30 }, (_, n) => `evt_${type}_${n}`);
    const answers = await Promise.all(ids.map((id) => client.post('/v1/events', { id, type: `${type}.created`, data: {} })));
    expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 202));

    const { events, shared } = await eventually(
      async () => {
        const events = ids.map((id) => collector.find({ 'dispatch.event_id': id }, 'ingest event')[0]);
        if (!events.every(Boolean)) return undefined;
        const spanIds = new Set(events.map((event) => event.spanId));
        const writes = collector.spans.filter(
          (span) => span.name === 'INSERT events' && (spanIds.has(span.parentSpanId ?? '') || span.links.some((link) => spanIds.has(link.spanId))),
        );
        const covered = new Set(writes.flatMap((write) => (write.links.length > 0 ? write.links.map((link) => link.spanId) : [write.parentSpanId])));
        return covered.size === ids.length ? { events, shared: writes.filter((write) => write.links.length > 0) } : undefined;
      },
      10_000,
      'the writes of every event',
    );
    // Under load the requests share statements (at least one write served several of them).
    expect(shared.length).toBeGreaterThan(0);
    for (const write of shared) {
      expect(write.parentSpanId).toBeUndefined();
      expect(write.links.length).toBeGreaterThan(1);
      expect(write.attributes['dispatch.event_count']).toBe(write.links.length);
      for (const link of write.links) {
        const event = events.find((one) => one.spanId === link.spanId) as CollectedSpan;
        expect(event.traceId).toBe(link.traceId);
        expect(event.traceId).not.toBe(write.traceId);
      }
    }
    // Each request's trace is its own, whichever statement wrote its event.
    expect(new Set(events.map((event) => event.traceId)).size).toBe(ids.length);
  }, 60_000);
});

describe('traces: a process that stops sends the spans it holds', () => {
  it('sends them on SIGTERM rather than at the next export, minutes later', async () => {
    const collector = await OtlpReceiver.start();
    const receiver = await Receiver.start();
    const key = `dsp_flush_${randomBytes(12).toString('hex')}`;
    const dispatch = await startDispatch('traces_flush', key, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    try {
      const type = `flush${randomBytes(3).toString('hex')}`;
      await webhookFor(dispatch.client, receiver, type);
      const accepted = await dispatch.client.post('/v1/events', { id: `evt_${type}`, type: `${type}.created`, data: {} });
      await delivered(dispatch.client, accepted.body.deliveries[0].id);
      expect(collector.spans).toEqual([]);
      expect(await Promise.all([dispatch.api.stop(), dispatch.worker.stop()])).toEqual([0, 0]);
      expect(collector.find({ 'dispatch.event_id': `evt_${type}` }, 'ingest event')).toHaveLength(1);
      expect(collector.find({ 'dispatch.event_id': `evt_${type}` }, /^process /)).toHaveLength(1);
    } finally {
      await dispatch.stop();
      await receiver.close();
      await collector.close();
    }
  }, 60_000);
});

describe('traces: off without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  const key = `dsp_untraced_${randomBytes(12).toString('hex')}`;
  let collector: OtlpReceiver;
  let receiver: Receiver;
  let dispatch: Dispatch;

  beforeAll(async () => {
    collector = await OtlpReceiver.start();
    receiver = await Receiver.start();
    // Every other setting would send spans to this collector, were tracing on.
    dispatch = await startDispatch('untraced', key, {
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/v1/traces`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      LOG_LEVEL: 'log',
      DISPATCH_LOG_FORMAT: 'json',
    });
  }, 60_000);

  afterAll(async () => {
    await dispatch?.stop();
    await receiver?.close();
    await collector?.close();
  });

  it('sends nothing, keeps no trace id and adds no traceparent', async () => {
    const type = `off${randomBytes(3).toString('hex')}`;
    await webhookFor(dispatch.client, receiver, type);
    const eventId = `evt_${type}`;
    receiver.answerEvent(eventId, (earlier) => (earlier === 0 ? { status: 500 } : { status: 200 }));
    const accepted = await dispatch.client.post('/v1/events', { id: eventId, type: `${type}.created`, data: {} });
    expect(accepted.status).toBe(202);
    await delivered(dispatch.client, accepted.body.deliveries[0].id);

    expect(receiver.requestsOf(eventId)).toHaveLength(2);
    expect(receiver.requestsOf(eventId).map((request) => request.headers.traceparent)).toEqual([undefined, undefined]);
    expect((await dispatch.client.get(`/v1/events/${eventId}`)).body.traceId).toBeNull();
    const retryLine = await eventually(
      async () => logLines(dispatch.worker).find((line) => line.eventId === eventId && line.outcome === 'retry'),
      5_000,
      'the retry line',
    );
    expect(retryLine).not.toHaveProperty('traceId');
    expect(retryLine).not.toHaveProperty('spanId');
    // Ten times the export delay tracing would have: still nothing came.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(collector.requests).toBe(0);
  }, 60_000);
});
