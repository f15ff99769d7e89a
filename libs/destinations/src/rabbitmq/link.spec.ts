import { EventEmitter } from 'node:events';
import { connect } from 'amqplib';
import { EgressGuard } from '../egress';
import { rabbitmqConfigSchema } from './config';
import { BrokerLink, Publication } from './link';

jest.mock('amqplib', () => ({ connect: jest.fn() }));

/** A confirm channel as amqplib makes one: publish takes a confirm callback and answers whether its buffer has room. */
class FakeChannel extends EventEmitter {
  readonly confirms: ((error: Error | null) => void)[] = [];
  room = true;
  publish = jest.fn((_exchange: string, _routingKey: string, _content: Buffer, _options: unknown, confirm: (error: Error | null) => void) => {
    this.confirms.push(confirm);
    return this.room;
  });
}

class FakeModel extends EventEmitter {
  readonly channels: FakeChannel[] = [];
  createConfirmChannel = jest.fn(async () => {
    const channel = new FakeChannel();
    this.channels.push(channel);
    return channel;
  });
  close = jest.fn(async () => undefined);
}

const publication: Publication = { exchange: 'events', routingKey: 'order.paid', content: Buffer.from('{}'), options: {}, returnKey: 'dlv_1' };

async function setup() {
  const model = new FakeModel();
  const mocks = { connect: jest.mocked(connect).mockResolvedValue(model as never), model, egress: new EgressGuard(['127.0.0.0/8']) };
  const config = rabbitmqConfigSchema.parse({ url: 'amqp://app:pw@127.0.0.1:5673/orders', exchange: 'events' });
  const sut = await BrokerLink.open(config, { egress: mocks.egress, connectTimeoutMs: 1_000, destinationId: 'dst_1' });
  return { sut, mocks };
}

/** Lets the link's awaits run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => jest.clearAllMocks());

describe("a rabbitmq destination's link", () => {
  it("connects as the config's user to its virtual host, resolving names with the egress guard's lookup", async () => {
    const { mocks } = await setup();
    expect(mocks.connect).toHaveBeenCalledWith(
      { protocol: 'amqp', hostname: '127.0.0.1', port: 5673, vhost: 'orders', username: 'app', password: 'pw', heartbeat: 30 },
      expect.objectContaining({ lookup: mocks.egress.lookup, timeout: 1_000, clientProperties: { connection_name: 'dispatch dst_1' } }),
    );
  });

  it('refuses a literal host the egress guard refuses, without connecting', async () => {
    const config = rabbitmqConfigSchema.parse({ url: 'amqp://10.1.2.3', exchange: 'events' });
    await expect(BrokerLink.open(config, { egress: new EgressGuard([]), connectTimeoutMs: 1_000, destinationId: 'dst_1' })).rejects.toThrow(
      '10.1.2.3 is not an allowed address',
    );
    expect(connect).not.toHaveBeenCalled();
  });

  it('answers confirmed on an ack, with the return the broker sent for it first; nacked on a nack', async () => {
    const { sut, mocks } = await setup();
    const first = sut.publish(publication);
    await settle();
    const channel = mocks.model.channels[0];
    channel.emit('return', { fields: { replyCode: 312, replyText: 'NO_ROUTE' }, properties: { headers: { 'dispatch-delivery-id': 'dlv_1' } } });
    channel.confirms[0](null);
    expect(await first).toEqual({ kind: 'confirmed', returned: { replyCode: 312, replyText: 'NO_ROUTE' } });
    const second = sut.publish(publication);
    await settle();
    channel.confirms[1](new Error('message nacked'));
    expect(await second).toEqual({ kind: 'nacked' });
  });

  it('answers closed with the broker error when it closes the channel, and publishes the next message on a new channel over the same connection', async () => {
    const { sut, mocks } = await setup();
    const failing = sut.publish(publication);
    await settle();
    const closedBy = Object.assign(new Error('Channel closed by server: 404 (NOT-FOUND)'), { code: 404 });
    const channel = mocks.model.channels[0];
    channel.emit('error', closedBy);
    channel.confirms[0](new Error('channel closed'));
    channel.emit('close');
    expect(await failing).toEqual({ kind: 'closed', closedBy });
    const next = sut.publish(publication);
    await settle();
    expect(mocks.model.channels).toHaveLength(2);
    mocks.model.channels[1].confirms[0](null);
    expect(await next).toEqual({ kind: 'confirmed', returned: null });
    expect(mocks.connect).toHaveBeenCalledTimes(1);
  });

  it('waits while the broker blocks the connection (flow control) until it unblocks, or until the deadline', async () => {
    const { sut, mocks } = await setup();
    mocks.model.emit('blocked', 'low on memory');
    expect(sut.blocked).toBe('low on memory');
    let writable = false;
    const waiting = sut.writable(new AbortController().signal).then(() => (writable = true));
    await settle();
    expect(writable).toBe(false);
    mocks.model.emit('unblocked');
    await waiting;
    expect(sut.blocked).toBeNull();

    mocks.model.emit('blocked', 'low on disk');
    const deadline = new AbortController();
    const overdue = sut.writable(deadline.signal);
    deadline.abort(new DOMException('too long', 'TimeoutError'));
    await expect(overdue).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it("waits for the channel's drain once a publish found its write buffer full", async () => {
    const { sut, mocks } = await setup();
    void sut.publish(publication);
    await settle();
    const channel = mocks.model.channels[0];
    expect(channel.publish).toHaveBeenCalledTimes(1);
    channel.room = false;
    void sut.publish(publication);
    await settle();
    let writable = false;
    const waiting = sut.writable(new AbortController().signal).then(() => (writable = true));
    await settle();
    expect(writable).toBe(false);
    channel.emit('drain');
    await waiting;
  });

  it('counts as closed once the connection closes, and answers closed for what it had not confirmed', async () => {
    const { sut, mocks } = await setup();
    const pending = sut.publish(publication);
    await settle();
    const lost = new Error('Unexpected close');
    mocks.model.emit('error', lost);
    mocks.model.channels[0].confirms[0](new Error('channel closed'));
    mocks.model.emit('close', lost);
    expect(await pending).toEqual({ kind: 'closed', closedBy: lost });
    expect(sut.closed).toBe(true);
    await sut.close();
    expect(mocks.model.close).not.toHaveBeenCalled();
  });
});
