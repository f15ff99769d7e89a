import type { LookupAddress } from 'node:dns';
import { ConnectionOptions, ErrorCode, Events, MsgHdrs, NatsConnection, NatsError, Status } from 'nats';
import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { EgressGuard, Resolver } from '../egress';
import type { SendRequest } from '../kind';
import { NatsConfig, natsConfigSchema } from './config';
import { NatsSender } from './send';
import { emptyFileStore } from '@dispatch/testing';

/** A status feed a fake connection reports on, as the client's `status()` does. */
function statusFeed() {
  const queued: Status[] = [];
  let wake: () => void = () => undefined;
  return {
    report(status: Status) {
      queued.push(status);
      wake();
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<Status> {
      for (;;) {
        while (queued.length > 0) yield queued.shift()!;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

type FakeConnection = {
  options: ConnectionOptions;
  closed: boolean;
  feed: ReturnType<typeof statusFeed>;
  publish: jest.Mock;
  flush: jest.Mock;
  jsPublish: jest.Mock;
  find: jest.Mock;
};

function setup(timeoutMs = 1_000) {
  const opened: FakeConnection[] = [];
  const mocks = {
    flush: jest.fn(async () => undefined),
    jsPublish: jest.fn(async (_subject: string, _body: string, _options: { msgID: string; headers: MsgHdrs }) => ({ stream: 'EVENTS', seq: 7, duplicate: false })),
    find: jest.fn(async (_subject: string) => 'EVENTS'),
    connect: jest.fn(async (options: ConnectionOptions) => {
      const fake: FakeConnection = { options, closed: false, feed: statusFeed(), publish: jest.fn(), flush: mocks.flush, jsPublish: mocks.jsPublish, find: mocks.find };
      opened.push(fake);
      const connection = {
        info: { version: '2.10.0' },
        status: () => fake.feed,
        isClosed: () => fake.closed,
        close: jest.fn(async () => void (fake.closed = true)),
        publish: fake.publish,
        flush: () => fake.flush(),
        jetstream: () => ({ publish: fake.jsPublish }),
        jetstreamManager: async () => ({ streams: { find: fake.find } }),
      };
      return connection as unknown as NatsConnection;
    }),
    // nats.test resolves to a public address, which the guard allows.
    resolve: jest.fn<void, Parameters<Resolver>>((_host, _options, callback) => callback(null, [{ address: '93.184.216.34', family: 4 } as LookupAddress])),
  };
  const secret = generateSigningSecret();
  const request = (config: Partial<NatsConfig> = {}, destinationId = 'dst_1'): SendRequest<NatsConfig> => ({
    destinationId,
    organizationId: 'org_1',
    config: natsConfigSchema.parse({ url: 'nats://nats.test:4333', subject: 'orgs.{organization}.{event.type}.{data.device_id}', ...config }),
    secrets: [secret],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'reading.taken', data: { device_id: 'd-7', spaced: 'a b', wild: '>' }, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  const sut = new NatsSender({ timeoutMs, replyMaxBytes: 1_024, egress: new EgressGuard([], mocks.resolve), files: emptyFileStore() }, mocks.connect);
  return { sut, mocks, opened, request, secret };
}

const live = () => new AbortController().signal;

/** The headers of a publish as a plain object. */
function headersOf(headers: MsgHdrs): Record<string, string> {
  return Object.fromEntries(headers.keys().map((name) => [name, headers.get(name)]));
}

describe('the nats sender', () => {
  it('publishes the signed webhook JSON to the filled subject, delivered once the flush after it comes back', async () => {
    const { sut, mocks, opened, request, secret } = setup();
    const result = await sut.send(request(), live());
    expect(result).toEqual({ verdict: 'delivered', durationMs: expect.any(Number) });
    const [subject, body, options] = opened[0].publish.mock.calls[0] as [string, string, { headers: MsgHdrs }];
    expect(subject).toBe('orgs.org_1.reading.taken.d-7');
    expect(JSON.parse(body)).toEqual({ id: 'evt_1', type: 'reading.taken', timestamp: '2026-01-02T03:04:05.000Z', data: request().event.data });
    const headers = headersOf(options.headers);
    expect(Object.keys(headers).sort()).toEqual(['webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(mocks.flush).toHaveBeenCalledTimes(1);
    expect(mocks.jsPublish).not.toHaveBeenCalled();
  });

  it('connects to the address the egress guard allows, never reconnecting, with the credentials, and without TLS for nats://', async () => {
    const { sut, mocks, opened, request } = setup();
    await sut.send(request({ username: 'dispatch', password: 'pw' }), live());
    expect(mocks.resolve).toHaveBeenCalledWith('nats.test', expect.anything(), expect.any(Function));
    expect(opened[0].options).toMatchObject({ servers: '93.184.216.34:4333', reconnect: false, resolve: false, user: 'dispatch', pass: 'pw', tls: null });
    await sut.send(request({ url: 'tls://nats.test', token: 't0ken' }, 'dst_2'), live());
    expect(opened[1].options).toMatchObject({ servers: '93.184.216.34:4222', token: 't0ken', tls: { servername: 'nats.test' } });
    expect(opened[1].options).not.toHaveProperty('user');
  });

  it('publishes to JetStream with the delivery id as the message id, delivered on the acknowledgement (a duplicate too)', async () => {
    const { sut, mocks, opened, request, secret } = setup();
    expect(await sut.send(request({ jetstream: true }), live())).toEqual({
      verdict: 'delivered',
      reply: '{"stream":"EVENTS","seq":7,"duplicate":false}',
      durationMs: expect.any(Number),
    });
    const [subject, body, options] = mocks.jsPublish.mock.calls[0];
    expect(subject).toBe('orgs.org_1.reading.taken.d-7');
    expect(options.msgID).toBe('dlv_1');
    expect(new Webhook(secret).verify(body, headersOf(options.headers))).toEqual(JSON.parse(body));
    expect(opened[0].publish).not.toHaveBeenCalled();

    mocks.jsPublish.mockResolvedValueOnce({ stream: 'EVENTS', seq: 7, duplicate: true });
    expect(await sut.send(request({ jetstream: true }), live())).toMatchObject({ verdict: 'delivered', reply: '{"stream":"EVENTS","seq":7,"duplicate":true}' });
  });

  it('fails at once, publishing nothing, when the event cannot fill the subject or fills it with something no subject may hold', async () => {
    const { sut, mocks, request } = setup();
    expect(await sut.send(request({ subject: 'devices.{data.serial}' }), live())).toMatchObject({
      verdict: 'permanent',
      error: "the event's data has no value at {data.serial}",
    });
    expect(await sut.send(request({ subject: 'devices.{data.spaced}' }), live())).toMatchObject({
      verdict: 'permanent',
      error: 'subject "devices.a b" has whitespace or a control character',
    });
    expect(await sut.send(request({ subject: 'devices.{data.wild}' }), live())).toMatchObject({ verdict: 'permanent', error: expect.stringContaining('has a wildcard') });
    expect(mocks.connect).not.toHaveBeenCalled();
  });

  it('fails at once when the server refuses the publish to that subject (a permissions violation it reports apart)', async () => {
    const { sut, mocks, opened, request } = setup();
    await sut.send(request(), live());
    mocks.flush.mockImplementationOnce(async () => {
      opened[0].feed.report({
        type: Events.Error,
        data: ErrorCode.PermissionsViolation,
        permissionContext: { operation: 'publish', subject: 'orgs.org_1.reading.taken.d-7' },
      });
    });
    expect(await sut.send(request(), live())).toMatchObject({
      verdict: 'permanent',
      error: 'not permitted to publish to "orgs.org_1.reading.taken.d-7" (Permissions Violation)',
    });
  });

  it('keeps one connection per destination, opens another after the server closed it, and closes it on release', async () => {
    const { sut, mocks, opened, request } = setup();
    await Promise.all([sut.send(request(), live()), sut.send(request(), live())]);
    await sut.send(request(), live());
    expect(mocks.connect).toHaveBeenCalledTimes(1);
    // A new subject is the same connection.
    await sut.send(request({ subject: 'other.{event.type}' }), live());
    expect(mocks.connect).toHaveBeenCalledTimes(1);

    opened[0].closed = true;
    expect((await sut.send(request(), live())).verdict).toBe('delivered');
    expect(mocks.connect).toHaveBeenCalledTimes(2);

    await sut.release('dst_1');
    expect(opened[1].closed).toBe(true);
  });

  it('retries a publish the connection lost, and drops that connection', async () => {
    const { sut, mocks, opened, request } = setup();
    mocks.jsPublish.mockRejectedValueOnce(NatsError.errorForCode(ErrorCode.ConnectionClosed));
    expect(await sut.send(request({ jetstream: true }), live())).toMatchObject({ verdict: 'transient', error: 'connection error (CONNECTION_CLOSED)' });
    await new Promise(setImmediate);
    expect(opened[0].closed).toBe(true);
    await sut.send(request({ jetstream: true }), live());
    expect(mocks.connect).toHaveBeenCalledTimes(2);
  });

  it('gives up on a flush that does not come back by the deadline, as a retry', async () => {
    const { sut, mocks, opened, request } = setup(50);
    mocks.flush.mockImplementationOnce(() => new Promise(() => undefined));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: 'timeout: The attempt took longer than 50 ms' });
    await new Promise(setImmediate);
    expect(opened[0].closed).toBe(true);
  });

  it('retries, without connecting to it, a host that resolves to an address the guard refuses', async () => {
    const { sut, mocks, request } = setup();
    mocks.resolve.mockImplementationOnce((_host, _options, callback) => callback(null, [{ address: '10.0.0.8', family: 4 }]));
    expect(await sut.send(request(), live())).toMatchObject({
      verdict: 'transient',
      error: expect.stringMatching(/^nats.test resolves to an address that is not allowed/),
    });
    expect(mocks.connect).not.toHaveBeenCalled();
  });

  describe('its test', () => {
    it('connects on a connection of its own, publishes nothing and closes it', async () => {
      const { sut, opened, request } = setup();
      expect(await sut.test(request(), live())).toEqual({ verdict: 'delivered', reply: 'connected to NATS 2.10.0', durationMs: expect.any(Number) });
      await new Promise(setImmediate);
      expect(opened[0].publish).not.toHaveBeenCalled();
      expect(opened[0].closed).toBe(true);
    });

    it('with JetStream and a subject the event does not change, checks that a stream captures it', async () => {
      const { sut, mocks, request } = setup();
      expect(await sut.test(request({ jetstream: true, subject: 'orgs.{organization}.events' }), live())).toMatchObject({
        verdict: 'delivered',
        reply: 'connected to NATS 2.10.0; stream EVENTS captures "orgs.org_1.events"',
      });
      mocks.find.mockRejectedValueOnce(new Error('no stream matches subject'));
      expect(await sut.test(request({ jetstream: true, subject: 'orgs.{organization}.events' }), live())).toMatchObject({
        verdict: 'permanent',
        error: 'no JetStream stream captures subject "orgs.org_1.events" (503 no responders)',
      });
      // A subject filled from the event is not checked: the test event is not one it will publish.
      await sut.test(request({ jetstream: true }), live());
      expect(mocks.find).toHaveBeenCalledTimes(2);
    });
  });
});
