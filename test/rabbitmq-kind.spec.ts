import { randomBytes } from 'node:crypto';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Webhook } from 'standardwebhooks';
import { eventually, Json, sendEvent, TcpProxy, uniqueId, waitForDelivery } from '@dispatch/testing';
import { BROKER } from '../libs/destinations/src/rabbitmq/rabbitmq.contract';
import { useSystem } from './system';

const BROKER_URL = `amqp://${BROKER.username}:${BROKER.password}@${BROKER.host}:${BROKER.port}`;
const FAST_RETRIES = { maxAttempts: 5, schedule: [500], jitter: 0 };

/**
 * The rabbitmq kind against the broker on this machine: exchanges and queues named for this run
 * (deleted after it), the broker reached directly or through a proxy that can cut it off.
 */
describe('rabbitmq destinations', () => {
  // Workers of idle destinations close (and their connections with them) after 1.5 s.
  const system = useSystem({ env: { DISPATCH_WORKER_IDLE_MS: '1500' } });
  const run = `dispatch-test-${randomBytes(4).toString('hex')}`;
  const exchanges: string[] = [];
  let admin: ChannelModel;
  let channel: Channel;
  let proxy: TcpProxy;

  beforeAll(async () => {
    admin = await connect(BROKER_URL);
    channel = await admin.createChannel();
    proxy = await TcpProxy.start(BROKER.port, BROKER.host);
  });

  afterAll(async () => {
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
    await admin.close();
    await proxy.close();
  });

  /** A topic exchange named for this run. */
  async function exchange(name = uniqueId(run)): Promise<string> {
    await channel.assertExchange(name, 'topic', { durable: false });
    exchanges.push(name);
    return name;
  }

  /** The messages a queue bound to `exchangeName` for every routing key receives. */
  async function subscribe(exchangeName: string): Promise<{ messages: ConsumeMessage[]; next: (eventId: string) => Promise<ConsumeMessage> }> {
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, exchangeName, '#');
    const messages: ConsumeMessage[] = [];
    await channel.consume(queue, (message) => message && messages.push(message), { noAck: true });
    const next = (eventId: string) =>
      eventually(async () => messages.find((message) => message.properties.messageId === eventId), 10_000, `a message for ${eventId} on ${exchangeName}`);
    return { messages, next };
  }

  async function destination(config: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Json> {
    const created = await system.client.post('/v1/destinations', { name: uniqueId('rabbitmq'), kind: 'rabbitmq', config, ...overrides });
    expect(created.status).toBe(201);
    return created.body;
  }

  async function deliveryOf(destinationId: string, event: Record<string, unknown> = {}): Promise<string> {
    return (await sendEvent(system.client, { type: 'order.paid', data: {}, ...event, destinations: [destinationId] })).deliveries[0].id;
  }

  it('publishes the signed webhook JSON to the exchange and routing key filled from the event, persistent, and counts it delivered on confirm', async () => {
    const { organizationId } = system.organization;
    const target = await exchange(`${run}.orders.${organizationId}`);
    const subscriber = await subscribe(target);
    const dst = await destination({ url: BROKER_URL, exchange: `${run}.orders.{organization}`, routingKey: '{event.type}.{data.region}' });
    const eventId = uniqueId('evt_rabbit');
    const deliveryId = await deliveryOf(dst.id, { id: eventId, type: 'order.paid', data: { region: 'eu', total: 5 } });

    const message = await subscriber.next(eventId);
    expect(message.fields).toMatchObject({ exchange: target, routingKey: 'order.paid.eu' });
    const body = message.content.toString();
    expect(JSON.parse(body)).toEqual({ id: eventId, type: 'order.paid', timestamp: expect.any(String), data: { region: 'eu', total: 5 } });
    expect(message.properties).toMatchObject({ messageId: eventId, contentType: 'application/json', deliveryMode: 2, type: 'order.paid', timestamp: expect.any(Number) });
    const headers = message.properties.headers as Record<string, unknown>;
    expect(headers).toMatchObject({ 'webhook-id': eventId, 'dispatch-delivery-id': deliveryId, 'dispatch-attempt': 1 });
    const signed = {
      'webhook-id': String(headers['webhook-id']),
      'webhook-timestamp': String(headers['webhook-timestamp']),
      'webhook-signature': String(headers['webhook-signature']),
    };
    expect(new Webhook(dst.secret).verify(body, signed)).toEqual(JSON.parse(body));

    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'delivered', error: null, responseBody: null })]);
  });

  it('publishes non-persistent messages when asked, and records a message no queue takes as delivered but unroutable', async () => {
    const target = await exchange();
    const subscriber = await subscribe(target);
    const dst = await destination({ url: BROKER_URL, exchange: target, routingKey: 'fixed', persistent: false });
    const eventId = uniqueId('evt_transient');
    await waitForDelivery(system.client, await deliveryOf(dst.id, { id: eventId }), 'delivered');
    expect((await subscriber.next(eventId)).properties.deliveryMode).toBe(1);

    const unbound = await exchange();
    const lonely = await destination({ url: BROKER_URL, exchange: unbound, routingKey: 'nobody.listens' });
    const delivered = await waitForDelivery(system.client, await deliveryOf(lonely.id), 'delivered');
    expect(delivered.attempts[0].responseBody).toBe(
      `confirmed, but unroutable: the broker returned it (312 NO_ROUTE): no queue is bound to exchange "${unbound}" for routing key "nobody.listens"`,
    );
  });

  it('retries while the broker is down, recording the error, and delivers once it is back', async () => {
    const target = await exchange();
    const subscriber = await subscribe(target);
    const dst = await destination({ url: proxy.url(BROKER_URL), exchange: target }, { retryPolicy: FAST_RETRIES });
    // A connection is open when the broker goes away.
    await waitForDelivery(system.client, await deliveryOf(dst.id), 'delivered');
    proxy.cut();
    try {
      const eventId = uniqueId('evt_outage');
      const deliveryId = await deliveryOf(dst.id, { id: eventId });
      const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
      expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', error: expect.stringMatching(/^connection error/) });
      expect(retrying.attempts[0].error).not.toContain(BROKER.password);
      proxy.restore();
      const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
      expect(delivered.attempts.at(-1)).toMatchObject({ outcome: 'delivered' });
      expect(delivered.attempts.length).toBeGreaterThan(1);
      await subscriber.next(eventId);
    } finally {
      proxy.restore();
    }
  });

  it('makes a dead letter at once of a missing exchange, refused credentials, a virtual host the user may not open, and a template the event cannot fill', async () => {
    const missing = `${run}-missing`;
    const cases = [
      {
        config: { url: BROKER_URL, exchange: missing },
        error: `NOT_FOUND - no exchange '${missing}' in vhost '/' (the exchange must exist: Dispatch does not declare it)`,
      },
      {
        config: { url: `amqp://${BROKER.username}:wrong-password@${BROKER.host}:${BROKER.port}`, exchange: await exchange() },
        error: 'the broker refused the credentials: ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
      },
      {
        config: { url: `${BROKER_URL}/${run}-no-such-vhost`, exchange: await exchange() },
        error: `the broker refused to open virtual host "${run}-no-such-vhost": it does not exist or this user may not use it`,
      },
      { config: { url: BROKER_URL, exchange: await exchange(), routingKey: '{data.region}' }, error: "the event's data has no value at {data.region}" },
    ];
    for (const { config, error } of cases) {
      const dst = await destination(config, { retryPolicy: FAST_RETRIES });
      const failed = await waitForDelivery(system.client, await deliveryOf(dst.id), 'failed');
      expect(failed.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', error })]);
      expect(failed.attempts[0].error).not.toContain('wrong-password');
    }
  });

  it('keeps one connection per destination across deliveries, also after the broker closed its channel over a missing exchange, and closes it when the queue goes idle', async () => {
    const target = await exchange();
    const subscriber = await subscribe(target);
    const before = proxy.connectionsMade;
    const dst = await destination({ url: proxy.url(BROKER_URL), exchange: '{data.exchange}' }, { retryPolicy: FAST_RETRIES });

    const first = uniqueId('evt_first');
    await waitForDelivery(system.client, await deliveryOf(dst.id, { id: first, data: { exchange: target } }), 'delivered');
    await waitForDelivery(system.client, await deliveryOf(dst.id, { data: { exchange: `${run}-gone` } }), 'failed');
    const last = uniqueId('evt_last');
    await waitForDelivery(system.client, await deliveryOf(dst.id, { id: last, data: { exchange: target } }), 'delivered');
    await subscriber.next(last);
    expect(subscriber.messages.map((message) => message.properties.messageId)).toEqual([first, last]);
    expect(proxy.connectionsMade - before).toBe(1);

    // Idle: the worker lets go of the destination's connection.
    await eventually(async () => (proxy.connectionsOpen === 0 ? true : undefined), 10_000, 'the idle destination closing its connection');
  });

  it('answers POST /v1/destinations/:id/test: ok once connected with the exchange found, a clear error otherwise, publishing nothing', async () => {
    const target = await exchange();
    const subscriber = await subscribe(target);
    const good = await destination({ url: BROKER_URL, exchange: target });
    const tested = await system.client.post(`/v1/destinations/${good.id}/test`);
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: true });

    const missing = await destination({ url: BROKER_URL, exchange: `${run}-not-there` });
    expect((await system.client.post(`/v1/destinations/${missing.id}/test`)).body).toMatchObject({
      ok: false,
      statusCode: 404,
      error: `NOT_FOUND - no exchange '${run}-not-there' in vhost '/' (the exchange must exist: Dispatch does not declare it)`,
    });
    const refused = await destination({ url: `amqp://${BROKER.username}:wrong-password@${BROKER.host}:${BROKER.port}`, exchange: target });
    expect((await system.client.post(`/v1/destinations/${refused.id}/test`)).body).toMatchObject({
      ok: false,
      statusCode: 403,
      error: expect.stringContaining('refused the credentials'),
    });
    expect(subscriber.messages).toEqual([]);
  });

  it('keeps the credentials of the URL out of answers, shown as "********", and keeps them when a PATCH sends "********" back', async () => {
    const target = await exchange();
    const subscriber = await subscribe(target);
    const created = await destination({ url: BROKER_URL, exchange: target });
    const shown = {
      url: `amqp://${BROKER.host}:${BROKER.port}`,
      exchange: target,
      routingKey: '{event.type}',
      persistent: true,
      username: '********',
      password: '********',
    };
    expect(created.config).toEqual(shown);
    expect((await system.client.get(`/v1/destinations/${created.id}`)).body.config).toEqual(shown);

    const patched = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { config: { ...shown, routingKey: 'patched.{event.type}' } });
    expect(patched.status).toBe(200);
    expect(patched.body.config).toEqual({ ...shown, routingKey: 'patched.{event.type}' });
    const eventId = uniqueId('evt_patched');
    await waitForDelivery(system.client, await deliveryOf(created.id, { id: eventId }), 'delivered');
    expect((await subscriber.next(eventId)).fields.routingKey).toBe('patched.order.paid');

    const both = await system.client.post('/v1/destinations', { name: 'both', kind: 'rabbitmq', config: { url: BROKER_URL, exchange: target, password: 'other' } });
    expect(both.status).toBe(400);
    expect(both.body.details).toEqual([{ path: 'config.url', message: 'carries credentials while username or password is given too: give them in one place' }]);
  });
});
