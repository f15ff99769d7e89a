import { Logger } from '@nestjs/common';
import type { DispatchConfig } from '@dispatch/config';
import type { IngestRejectionRepository, IngestResult, NewIngestRejection, OrganizationRepository } from '@dispatch/db';
import { InvalidEvent, type IngestEvent, type IngestRequest } from '@dispatch/ingest';
import type { WorkerMetrics } from '../operations/worker-metrics';
import { IngestMessages, REJECTED_BODY_MAX_BYTES, retryDelayMs, StreamMessage } from './ingest-messages';

// Neither Prisma, BullMQ nor prom-client is needed: the collaborators are fakes.
jest.mock('@dispatch/db', () => ({}));
jest.mock('@dispatch/queue', () => ({}));
jest.mock('../operations/worker-metrics', () => ({}));

const ORG = 'org_a';
const STREAM = 'DISPATCH_INGEST';
const PUBLISHED_AT = Date.parse('2026-03-01T12:00:00.000Z');

/** A message of the stream as the consumer hands it over, recording how it was answered. */
function message(seq: number, body: string | Buffer, options: { subject?: string; msgId?: string; deliveryCount?: number; headers?: Record<string, string> } = {}) {
  const headers = new Map<string, string[]>(Object.entries({ ...options.headers, ...(options.msgId ? { 'Nats-Msg-Id': options.msgId } : {}) }).map(([k, v]) => [k, [v]]));
  const answers: string[] = [];
  const sent: StreamMessage & { answers: string[] } = {
    subject: options.subject ?? `ingest.${ORG}.orders`,
    data: typeof body === 'string' ? Buffer.from(body) : body,
    headers:
      headers.size > 0
        ? ({ get: (name: string) => headers.get(name)?.[0] ?? '', [Symbol.iterator]: () => headers.entries() } as unknown as StreamMessage['headers'])
        : undefined,
    info: { stream: STREAM, streamSequence: seq, deliveryCount: options.deliveryCount ?? 1, timestampNanos: PUBLISHED_AT * 1e6 },
    ack: () => answers.push('ack'),
    nak: (millis?: number) => answers.push(`nak ${millis}`),
    term: () => answers.push('term'),
    answers,
  };
  return sent;
}

const event = (fields: Record<string, unknown> = {}) => JSON.stringify({ type: 'order.created', data: { n: 1 }, ...fields });

function accepted(id: string, created = true): IngestResult {
  return { created, event: { id, type: 'order.created', priority: 0 }, deliveries: [] };
}

/**
 * IngestMessages with fakes: organizations `org_a` and `org_b` exist, the write accepts every
 * event (an id seen before answers created: false), rejections and metric counts are recorded.
 */
function setup(options: { maxDeliver?: number } = {}) {
  const seen = new Set<string>();
  const mocks = {
    ingest: {
      executeEach: jest.fn(async (requests: readonly IngestRequest[]): Promise<(IngestResult | Error)[]> =>
        requests.map(({ organizationId, id }) => {
          const key = `${organizationId}/${id}`;
          const created = !seen.has(key);
          seen.add(key);
          return accepted(id, created);
        }),
      ),
    },
    organizations: { existing: jest.fn(async (ids: readonly string[]) => new Set(ids.filter((id) => id === 'org_a' || id === 'org_b'))) },
    rejections: { record: jest.fn(async (_rejections: readonly NewIngestRejection[]): Promise<void> => undefined) },
    metrics: { ingestMessages: { inc: jest.fn() } },
    config: {
      natsIngest: { url: 'nats://127.0.0.1:4222', stream: STREAM, subjects: 'ingest.>', maxDeliver: 5, ackWaitMs: 30_000, ...options },
    } as unknown as DispatchConfig,
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
    error: jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined),
  };
  const sut = new IngestMessages(
    mocks.ingest as unknown as IngestEvent,
    mocks.organizations as unknown as OrganizationRepository,
    mocks.rejections as unknown as IngestRejectionRepository,
    mocks.metrics as unknown as WorkerMetrics,
    mocks.config,
  );
  return { sut, mocks };
}

/** The outcomes counted, in order. */
const counted = (mocks: ReturnType<typeof setup>['mocks']) => mocks.metrics.ingestMessages.inc.mock.calls.map(([labels]) => labels.outcome);
/** Every rejection recorded, over all calls. */
const recorded = (mocks: ReturnType<typeof setup>['mocks']) => mocks.rejections.record.mock.calls.flatMap(([rejections]) => [...rejections]);

afterEach(() => jest.restoreAllMocks());

describe('IngestMessages', () => {
  it('ingests a group in stream order in one write, as its subject’s organization, and acknowledges each after it', async () => {
    const { sut, mocks } = setup();
    const messages = [
      message(1, event({ id: 'evt_body' }), { msgId: 'msg-1' }),
      message(2, event({ orderingKey: 'k' }), { msgId: 'msg-2', subject: 'ingest.org_b.any.thing' }),
      message(3, event()),
    ];
    mocks.ingest.executeEach.mockImplementationOnce(async (requests) => {
      expect(messages.every((sent) => sent.answers.length === 0)).toBe(true); // nothing acknowledged before the write
      return requests.map(({ id }) => accepted(id));
    });
    expect(await sut.handle(messages)).toBe(0);
    const [[requests]] = mocks.ingest.executeEach.mock.calls;
    expect(requests.map(({ organizationId, id }) => [organizationId, id])).toEqual([
      [ORG, 'evt_body'],
      ['org_b', 'msg-2'],
      [ORG, expect.stringMatching(/^evt_/)],
    ]);
    expect(requests[1].input).toMatchObject({ type: 'order.created', orderingKey: 'k', priority: 0, tags: [] });
    expect(messages.map((sent) => sent.answers)).toEqual([['ack'], ['ack'], ['ack']]);
    expect(counted(mocks)).toEqual(['ingested', 'ingested', 'ingested']);
    expect(mocks.rejections.record).not.toHaveBeenCalled();
  });

  it('acknowledges a message whose id was accepted before (a redelivery) and counts it as a duplicate', async () => {
    const { sut, mocks } = setup();
    await sut.handle([message(1, event(), { msgId: 'msg-1' })]);
    const again = message(1, event(), { msgId: 'msg-1', deliveryCount: 2 });
    await sut.handle([again]);
    expect(again.answers).toEqual(['ack']);
    expect(counted(mocks)).toEqual(['ingested', 'duplicate']);
  });

  it.each([
    ['bad JSON', '{"type":', /^bad JSON: /],
    ['a body that is not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), /^bad JSON: the body is not UTF-8 text$/],
    ['JSON nested too deeply', `{"type":"a.b","data":${'['.repeat(70)}${']'.repeat(70)}}`, /^bad JSON: the body nests arrays and objects deeper than 64 levels$/],
    ['a body that is no object', '[1]', /^invalid event: the body must be a JSON object$/],
    ['an invalid type', event({ type: 'Not A Type' }), /^invalid event: type: /],
    ['a missing data', JSON.stringify({ type: 'order.created' }), /^invalid event: data: /],
    ['an unknown field', event({ extra: 1 }), /^invalid event: .*extra/],
    ['NUL in a field', event({ source: 'a\u0000b' }), /^invalid event: source: must not contain the NUL character/],
  ])('records %s as rejected with the reason, terminates it, and writes nothing', async (_what, body, reason) => {
    const { sut, mocks } = setup();
    const sent = message(7, body, { headers: { 'x-trace': 't-1' } });
    expect(await sut.handle([sent])).toBe(0);
    expect(sent.answers).toEqual(['term']);
    expect(recorded(mocks)).toEqual([
      expect.objectContaining({
        organizationId: ORG,
        stream: STREAM,
        subject: `ingest.${ORG}.orders`,
        streamSeq: 7,
        reason: expect.stringMatching(reason),
        deliveries: 1,
      }),
    ]);
    expect(recorded(mocks)[0]).toMatchObject({ headers: { 'x-trace': ['t-1'] }, receivedAt: new Date(PUBLISHED_AT) });
    expect(mocks.ingest.executeEach).not.toHaveBeenCalled();
    expect(counted(mocks)).toEqual(['rejected']);
  });

  it('rejects the event of an organization that does not exist, keeping no organization, and ingests the rest of the group', async () => {
    const { sut, mocks } = setup();
    const unknown = message(1, event(), { subject: 'ingest.org_nobody.orders' });
    const known = message(2, event(), { msgId: 'msg-2' });
    await sut.handle([unknown, known]);
    expect(mocks.organizations.existing).toHaveBeenCalledWith(['org_nobody', ORG]);
    expect(recorded(mocks)).toEqual([expect.objectContaining({ organizationId: null, reason: 'unknown organization "org_nobody"' })]);
    expect([unknown.answers, known.answers]).toEqual([['term'], ['ack']]);
    expect(mocks.ingest.executeEach.mock.calls[0][0].map((request) => request.id)).toEqual(['msg-2']);
  });

  it('rejects an event the write finds invalid (an unknown destination), naming the field', async () => {
    const { sut, mocks } = setup();
    mocks.ingest.executeEach.mockResolvedValueOnce([new InvalidEvent([{ path: 'destinations.0', message: 'unknown destination "dst_x"' }])]);
    const sent = message(1, event({ destinations: ['dst_x'] }));
    await sut.handle([sent]);
    expect(sent.answers).toEqual(['term']);
    expect(recorded(mocks)).toEqual([expect.objectContaining({ reason: 'invalid event: destinations.0: unknown destination "dst_x"' })]);
  });

  it('keeps the first 64 KiB of a rejected body as text, and its whole size', async () => {
    const { sut, mocks } = setup();
    const body = `{"type":"${'x'.repeat(100 * 1024)}`;
    await sut.handle([message(1, body)]);
    const [rejection] = recorded(mocks);
    expect(rejection.body).toBe(body.slice(0, REJECTED_BODY_MAX_BYTES));
    expect(rejection.bodyBytes).toBe(body.length);
  });

  it('sends every message of the group back with a delay growing with its deliveries when the database is unreachable, and acknowledges none', async () => {
    const { sut, mocks } = setup();
    mocks.ingest.executeEach.mockRejectedValueOnce(Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' }));
    mocks.rejections.record.mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    const first = message(1, event(), { deliveryCount: 1 });
    const third = message(2, event(), { deliveryCount: 3 });
    const bad = message(3, '{');
    expect(await sut.handle([first, third, bad])).toBe(4_000);
    expect([first.answers, third.answers, bad.answers]).toEqual([['nak 1000'], ['nak 4000'], ['nak 1000']]);
    expect(counted(mocks)).toEqual(['retried', 'retried', 'retried']);
    expect(mocks.warn).toHaveBeenCalledWith(`Messages of ${STREAM} will be delivered again in up to 4000 ms: Connection terminated unexpectedly`);
  });

  it('records a message still failing at its last delivery as rejected with the error, and terminates it', async () => {
    const { sut, mocks } = setup({ maxDeliver: 3 });
    mocks.ingest.executeEach.mockRejectedValueOnce(new Error('deadlock detected'));
    const last = message(1, event(), { deliveryCount: 3 });
    expect(await sut.handle([last])).toBe(0);
    expect(last.answers).toEqual(['term']);
    expect(recorded(mocks)).toEqual([expect.objectContaining({ reason: 'still failing at delivery 3 (the last): deadlock detected', deliveries: 3 })]);
  });

  it('leaves a message at its last delivery unanswered, and says so, when even its rejection cannot be recorded', async () => {
    const { sut, mocks } = setup({ maxDeliver: 3 });
    mocks.ingest.executeEach.mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    mocks.rejections.record.mockRejectedValueOnce(new Error('Connection terminated unexpectedly'));
    const last = message(9, event(), { deliveryCount: 3 });
    await sut.handle([last]);
    expect(last.answers).toEqual([]);
    expect(mocks.error).toHaveBeenCalledWith(expect.stringContaining(`Message 9 of ${STREAM} could not be recorded as rejected at its last delivery`));
  });
});

describe('retryDelayMs', () => {
  it('waits 1 s after the first delivery, doubling with each one, never more than a minute', () => {
    expect([1, 2, 3, 4, 6, 7, 8, 50].map(retryDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 32_000, 60_000, 60_000, 60_000]);
  });
});
