import { Webhook } from 'standardwebhooks';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { EgressGuard } from '../egress';
import type { SendRequest } from '../kind';
import { RabbitmqConfig, rabbitmqConfigSchema } from './config';
import { BrokerLink, Publication, PublishOutcome } from './link';
import { RabbitmqSender } from './send';
import { emptyFileStore } from '@dispatch/testing';

type FakeLink = { closed: boolean; blocked: string | null; writable: jest.Mock; publish: jest.Mock; checkExchange: jest.Mock; close: jest.Mock };

function setup(timeoutMs = 1_000) {
  const opened: FakeLink[] = [];
  const mocks = {
    publish: jest.fn(async (_publication: Publication): Promise<PublishOutcome> => ({ kind: 'confirmed', returned: null })),
    writable: jest.fn(async (_signal: AbortSignal) => undefined),
    checkExchange: jest.fn(async (_exchange: string) => undefined),
    open: jest.spyOn(BrokerLink, 'open').mockImplementation(async () => {
      const link: FakeLink = {
        closed: false,
        blocked: null,
        writable: mocks.writable,
        publish: mocks.publish,
        checkExchange: mocks.checkExchange,
        close: jest.fn(async () => undefined),
      };
      opened.push(link);
      return link as unknown as BrokerLink;
    }),
  };
  const secret = generateSigningSecret();
  const request = (config: Record<string, unknown> = {}, destinationId = 'dst_1'): SendRequest<RabbitmqConfig> => ({
    destinationId,
    organizationId: 'org_1',
    config: rabbitmqConfigSchema.parse({ url: 'amqp://app:pw@broker.test/orders', exchange: 'org.{organization}', routingKey: '{event.type}.{data.region}', ...config }),
    secrets: [secret],
    retryPolicy: retryPolicySchema.parse({}),
    deliveryId: 'dlv_1',
    attemptNumber: 2,
    event: { id: 'evt_1', type: 'order.paid', data: { region: 'eu', nested: { a: 1 } }, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  });
  const sut = new RabbitmqSender({ timeoutMs, replyMaxBytes: 1_024, egress: new EgressGuard([]), files: emptyFileStore() });
  return { sut, mocks, opened, request, secret };
}

const live = () => new AbortController().signal;

afterEach(() => jest.restoreAllMocks());

describe('the rabbitmq sender', () => {
  it('publishes the signed webhook JSON to the filled exchange and routing key: persistent, mandatory, with message id, type, timestamp and headers', async () => {
    const { sut, mocks, request, secret } = setup();
    const now = new Date();
    const timestamp = Math.floor(now.getTime() / 1000);
    expect(await sut.send(request(), live(), now)).toEqual({ verdict: 'delivered', durationMs: expect.any(Number) });
    const publication = mocks.publish.mock.calls[0][0];
    expect(publication).toMatchObject({ exchange: 'org.org_1', routingKey: 'order.paid.eu', returnKey: 'dlv_1' });
    const body = publication.content.toString();
    expect(JSON.parse(body)).toEqual({ id: 'evt_1', type: 'order.paid', timestamp: '2026-01-02T03:04:05.000Z', data: { region: 'eu', nested: { a: 1 } } });
    expect(publication.options).toEqual({
      mandatory: true,
      persistent: true,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      messageId: 'evt_1',
      type: 'order.paid',
      timestamp,
      headers: {
        'webhook-id': 'evt_1',
        'webhook-timestamp': String(timestamp),
        'webhook-signature': expect.stringMatching(/^v1,/),
        'dispatch-delivery-id': 'dlv_1',
        'dispatch-attempt': 2,
        'dispatch-event-type': 'order.paid',
      },
    });
    expect(new Webhook(secret).verify(body, publication.options.headers)).toEqual(JSON.parse(body));
  });

  it('publishes transient messages when the config says persistent: false', async () => {
    const { sut, mocks, request } = setup();
    await sut.send(request({ persistent: false }), live());
    expect(mocks.publish.mock.calls[0][0].options.persistent).toBe(false);
  });

  it('fails for good, without connecting, when a template cannot be filled from the event', async () => {
    const { sut, mocks, request } = setup();
    expect(await sut.send(request({ routingKey: '{data.nested}' }), live())).toEqual({
      verdict: 'permanent',
      error: "{data.nested} is not a string, number or boolean in the event's data",
      durationMs: expect.any(Number),
    });
    expect(await sut.send(request({ routingKey: '{data.region}'.repeat(1) + 'x'.repeat(300) }), live())).toMatchObject({
      verdict: 'permanent',
      error: 'the routing key filled from the event is longer than 255 bytes',
    });
    expect(mocks.open).not.toHaveBeenCalled();
  });

  it('counts a confirmed message the broker returned as unroutable as delivered, and says so in the reply', async () => {
    const { sut, mocks, request } = setup();
    mocks.publish.mockResolvedValueOnce({ kind: 'confirmed', returned: { replyCode: 312, replyText: 'NO_ROUTE' } });
    expect(await sut.send(request(), live())).toEqual({
      verdict: 'delivered',
      reply: 'confirmed, but unroutable: the broker returned it (312 NO_ROUTE): no queue is bound to exchange "org.org_1" for routing key "order.paid.eu"',
      durationMs: expect.any(Number),
    });
  });

  it('retries a nack and a channel closed without a reason; fails for good on a channel the broker closed with 404', async () => {
    const { sut, mocks, request } = setup();
    mocks.publish.mockResolvedValueOnce({ kind: 'nacked' });
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: 'the broker did not take the message (basic.nack)' });
    mocks.publish.mockResolvedValueOnce({ kind: 'closed', closedBy: null });
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: 'the connection to the broker closed before it confirmed the message' });
    const notFound = Object.assign(new Error("Channel closed by server: 404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'org.org_1' in vhost 'orders'\""), {
      code: 404,
    });
    mocks.publish.mockResolvedValueOnce({ kind: 'closed', closedBy: notFound });
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'permanent', statusCode: 404 });
  });

  it('retries a message dropped with a channel the broker closed over another one (a missing exchange, a message too large)', async () => {
    const { sut, mocks, request } = setup();
    const otherExchange = Object.assign(new Error("Channel closed by server: 404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'org.org_2' in vhost 'orders'\""), {
      code: 404,
    });
    mocks.publish.mockResolvedValueOnce({ kind: 'closed', closedBy: otherExchange });
    expect(await sut.send(request(), live())).toMatchObject({
      verdict: 'transient',
      error:
        "the broker closed the channel over another message published with it: NOT_FOUND - no exchange 'org.org_2' in vhost 'orders' (the exchange must exist: Dispatch does not declare it)",
    });
    const tooLarge = (size: number) =>
      Object.assign(
        new Error(`Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - message size ${size} is larger than configured max size 100"`),
        {
          code: 406,
        },
      );
    mocks.publish.mockResolvedValueOnce({ kind: 'closed', closedBy: tooLarge(999_999) });
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient' });
    mocks.publish.mockImplementationOnce(async (publication) => ({ kind: 'closed', closedBy: tooLarge(publication.content.length) }));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'permanent', statusCode: 406 });
  });

  it('keeps one connection per destination across attempts, opens another when it closed, and closes it when the queue goes idle', async () => {
    const { sut, mocks, opened, request } = setup();
    await sut.send(request(), live());
    await sut.send(request(), live());
    await sut.send(request({}, 'dst_2'), live());
    expect(mocks.open).toHaveBeenCalledTimes(2);
    opened[0].closed = true;
    await sut.send(request(), live());
    expect(mocks.open).toHaveBeenCalledTimes(3);
    await sut.release('dst_1');
    expect(opened[2].close).toHaveBeenCalled();
    await sut.close();
    expect(opened[1].close).toHaveBeenCalled();
  });

  it('retries when the broker blocks publishing past the deadline, naming flow control, and keeps the connection', async () => {
    const { sut, mocks, opened, request } = setup(50);
    mocks.writable.mockImplementationOnce((signal: AbortSignal) => {
      opened[0].blocked = 'low on memory';
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
    expect(await sut.send(request(), live())).toMatchObject({
      verdict: 'transient',
      error: 'flow control: the broker blocked publishing (low on memory) for longer than 50 ms',
    });
    expect(mocks.publish).not.toHaveBeenCalled();
    expect(opened[0].close).not.toHaveBeenCalled();
  });

  it('retries when no confirm comes in time, and drops the connection, which is in doubt', async () => {
    const { sut, mocks, opened, request } = setup(50);
    mocks.publish.mockImplementationOnce(() => new Promise(() => undefined));
    expect(await sut.send(request(), live())).toMatchObject({ verdict: 'transient', error: 'timeout: the broker did not confirm the message within 50 ms' });
    expect(opened[0].close).toHaveBeenCalled();
  });

  it('tests a config by connecting and checking the exchange when its name does not depend on the event, publishing nothing', async () => {
    const { sut, mocks, opened, request } = setup();
    expect(await sut.test(request(), live())).toEqual({ verdict: 'delivered', reply: 'connected; exchange "org.org_1" exists', durationMs: expect.any(Number) });
    expect(mocks.checkExchange).toHaveBeenCalledWith('org.org_1');
    expect(await sut.test(request({ exchange: 'by-type.{event.type}' }), live())).toMatchObject({
      verdict: 'delivered',
      reply: 'connected; the exchange depends on the event, so it was not checked',
    });
    expect(mocks.checkExchange).toHaveBeenCalledTimes(1);
    expect(mocks.publish).not.toHaveBeenCalled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(opened.map((link) => link.close.mock.calls.length)).toEqual([1, 1]);
  });
});
