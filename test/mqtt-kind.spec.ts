import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectAsync } from 'mqtt';
import { Webhook } from 'standardwebhooks';
import { eventually, Json, sendEvent, TcpProxy, uniqueId, waitForDelivery } from '@dispatch/testing';
import { MqttPeer, startSubscriber } from '../libs/destinations/src/mqtt/mqtt.contract';
import { freePort } from './processes';
import { useSystem } from './system';

const BROKER = 'mqtt://127.0.0.1:1883';
const USERNAME = 'dispatch';
const PASSWORD = 'right-password';

/**
 * A Mosquitto of its own on free loopback ports, in a temporary directory: it lets in only
 * `dispatch` with PASSWORD, who may publish under `allowed/` and nowhere else; `tlsUrl` is a
 * TLS listener with a self-signed certificate.
 */
async function startPrivateBroker(): Promise<{ url: string; tlsUrl: string; stop: () => Promise<void> }> {
  const directory = mkdtempSync(path.join(tmpdir(), 'dispatch-mqtt-'));
  // Mosquitto started as root reads its files as the mosquitto user.
  chmodSync(directory, 0o755);
  const [port, tlsPort] = [await freePort(), await freePort()];
  const file = (name: string) => path.join(directory, name);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('key.pem'),
      '-out',
      file('cert.pem'),
    ],
    {
      stdio: 'ignore',
    },
  );
  chmodSync(file('key.pem'), 0o644);
  execFileSync('mosquitto_passwd', ['-b', '-c', path.join(directory, 'passwords'), USERNAME, PASSWORD]);
  chmodSync(path.join(directory, 'passwords'), 0o644);
  writeFileSync(path.join(directory, 'acl'), `user ${USERNAME}\ntopic readwrite allowed/#\n`);
  writeFileSync(
    path.join(directory, 'mosquitto.conf'),
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${path.join(directory, 'passwords')}`,
      `acl_file ${path.join(directory, 'acl')}`,
      'persistence false',
      'log_dest stderr',
      `listener ${tlsPort} 127.0.0.1`,
      `certfile ${file('cert.pem')}`,
      `keyfile ${file('key.pem')}`,
    ].join('\n'),
  );
  const broker: ChildProcess = spawn('mosquitto', ['-c', path.join(directory, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  broker.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(
    () =>
      new Promise<true | undefined>((resolve, reject) => {
        if (broker.exitCode !== null) return reject(new Error(`mosquitto exited: ${output}`));
        const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
        socket.on('error', () => resolve(undefined));
      }),
    10_000,
    'the private broker to listen',
  ).catch((error: Error) => {
    broker.kill('SIGTERM');
    rmSync(directory, { recursive: true, force: true });
    throw error;
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    stop: async () => {
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGTERM');
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

describe('mqtt destinations', () => {
  // Queues idle for a second are closed, and their connections released with them; an attempt lasts a second at most.
  const system = useSystem({ env: { DISPATCH_WORKER_IDLE_MS: '1000', DISPATCH_WEBHOOK_TIMEOUT_MS: '1000' } });
  let peer: MqttPeer;
  let privateBroker: { url: string; tlsUrl: string; stop: () => Promise<void> };
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    [peer, privateBroker] = await Promise.all([startSubscriber(), startPrivateBroker()]);
  });

  afterAll(async () => {
    await Promise.all([peer?.close(), privateBroker?.stop(), ...proxies.map((proxy) => proxy.close())]);
  });

  async function brokerProxy(): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(1883);
    proxies.push(proxy);
    return proxy;
  }

  async function createMqtt(config: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Json> {
    const answer = await system.client.post('/v1/destinations', { name: uniqueId('mqtt'), kind: 'mqtt', config, eventTypes: [`${uniqueId('mqtt')}.*`], ...overrides });
    expect(answer.status).toBe(201);
    return answer.body;
  }

  async function deliver(destinationId: string, event: Record<string, unknown> = {}): Promise<{ eventId: string; deliveryId: string }> {
    const eventId = uniqueId('evt_mqtt');
    const accepted = await sendEvent(system.client, { id: eventId, type: 'reading.taken', destinations: [destinationId], ...event });
    return { eventId, deliveryId: accepted.deliveries[0].id };
  }

  it('publishes the webhook JSON to the filled topic with QoS 2, signed in MQTT 5 user properties that verify with the secret', async () => {
    const destination = await createMqtt({ url: BROKER, topic: `${peer.prefix}/{organization}/{event.type}/{data.device.id}`, qos: 2 });
    expect(destination.secret).toMatch(/^whsec_/);
    const { eventId, deliveryId } = await deliver(destination.id, { data: { device: { id: 'd-7' }, celsius: 21.5 } });
    const message = await peer.waitForMessage(eventId, 10_000);
    expect(message.topic).toBe(`${peer.prefix}/${system.organization.organizationId}/reading.taken/d-7`);
    expect(message.packet).toMatchObject({ qos: 2, retain: false, properties: expect.objectContaining({ contentType: 'application/json' }) });
    const body = JSON.parse(message.body);
    expect(body).toEqual({ id: eventId, type: 'reading.taken', timestamp: expect.any(String), data: { device: { id: 'd-7' }, celsius: 21.5 } });
    expect(new Webhook(destination.secret).verify(message.body, message.headers)).toEqual(body);
    expect(() => new Webhook(destination.secret).verify(message.body.replace('21.5', '99'), message.headers)).toThrow();
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'delivered', error: null })]);
  });

  it('keeps a retained message on the broker for subscribers that come later', async () => {
    const destination = await createMqtt({ url: BROKER, topic: `${peer.prefix}/retained/{event.id}`, qos: 0, retain: true });
    const { eventId, deliveryId } = await deliver(destination.id);
    await waitForDelivery(system.client, deliveryId, 'delivered');
    const later = await connectAsync(BROKER, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const retained = new Promise<{ topic: string; retain: boolean }>((resolve) =>
        later.once('message', (topic, _payload, packet) => resolve({ topic, retain: packet.retain })),
      );
      await later.subscribeAsync(`${peer.prefix}/retained/${eventId}`, { qos: 1 });
      expect(await retained).toEqual({ topic: `${peer.prefix}/retained/${eventId}`, retain: true });
      // An empty retained message clears it from the shared broker.
      await later.publishAsync(`${peer.prefix}/retained/${eventId}`, '', { qos: 1, retain: true });
    } finally {
      await later.endAsync(true);
    }
  });

  it('records a retry while the broker is down and delivers on a later attempt once it is back', async () => {
    const proxy = await brokerProxy();
    const destination = await createMqtt(
      { url: `mqtt://127.0.0.1:${proxy.port}`, topic: `${peer.prefix}/outage/{event.id}` },
      { retryPolicy: { maxAttempts: 5, schedule: [500], jitter: 0 } },
    );
    // A first delivery leaves the destination holding a connection, which the outage breaks.
    await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
    proxy.cut();
    const { eventId, deliveryId } = await deliver(destination.id);
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', statusCode: null, error: expect.stringMatching(/^connection error/) });
    proxy.restore();
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts.at(-1)).toMatchObject({ outcome: 'delivered', error: null });
    await peer.waitForEvent(eventId, 5_000);
  });

  it('records a timeout while the broker takes connections but answers nothing, and delivers once it answers again', async () => {
    const proxy = await brokerProxy();
    const destination = await createMqtt(
      { url: `mqtt://127.0.0.1:${proxy.port}`, topic: `${peer.prefix}/stalled/{event.id}` },
      { retryPolicy: { maxAttempts: 5, schedule: [500], jitter: 0 } },
    );
    proxy.stall();
    const { eventId, deliveryId } = await deliver(destination.id);
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts[0]).toMatchObject({ number: 1, outcome: 'retry', error: expect.stringMatching(/^timeout: /) });
    proxy.restore();
    await waitForDelivery(system.client, deliveryId, 'delivered');
    await peer.waitForEvent(eventId, 5_000);
  });

  it('dead-letters at once, with a clear error, when the broker refuses the credentials or the topic, or the topic cannot be filled', async () => {
    const policy = { retryPolicy: { maxAttempts: 5, schedule: [500], jitter: 0 } };
    const cases: [Record<string, unknown>, Record<string, unknown>, RegExp, number | null][] = [
      [
        { url: privateBroker.url, topic: 'allowed/{event.type}', username: USERNAME, password: 'wrong-password' },
        {},
        /^the broker refused the connection: Not authorized \(0x87\)|Bad User Name or Password \(0x86\)/,
        null,
      ],
      [
        { url: privateBroker.url, topic: 'elsewhere/{event.type}', username: USERNAME, password: PASSWORD },
        {},
        /^the broker refused the message: Not authorized \(0x87\)$/,
        0x87,
      ],
      [{ url: BROKER, topic: `${peer.prefix}/{data.room}` }, { room: 'kitchen/#' }, /^topic ".*\/kitchen\/#" has a wildcard/, null],
      [{ url: BROKER, topic: `${peer.prefix}/{data.room}` }, {}, /^topic: the event's data has no value at \{data\.room\}$/, null],
    ];
    for (const [config, data, error, statusCode] of cases) {
      const destination = await createMqtt(config, policy);
      const { deliveryId } = await deliver(destination.id, { data });
      const failed = await waitForDelivery(system.client, deliveryId, 'failed');
      expect(failed.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', error: expect.stringMatching(error) })]);
      if (statusCode !== null) expect(failed.attempts[0].statusCode).toBe(statusCode);
      expect(JSON.stringify(failed)).not.toContain('wrong-password');
    }
    // The same credentials and an allowed topic are delivered: the broker refused only what it said.
    const allowed = await createMqtt({ url: privateBroker.url, topic: 'allowed/{event.type}', username: USERNAME, password: PASSWORD });
    await waitForDelivery(system.client, (await deliver(allowed.id)).deliveryId, 'delivered');
  });

  it('keeps one connection per destination across deliveries, and lets it go when the queue goes idle', async () => {
    const proxy = await brokerProxy();
    const destination = await createMqtt({ url: `mqtt://127.0.0.1:${proxy.port}`, topic: `${peer.prefix}/reuse/{event.id}` });
    const sent = await Promise.all(Array.from({ length: 10 }, () => deliver(destination.id)));
    for (const { deliveryId } of sent) await waitForDelivery(system.client, deliveryId, 'delivered');
    await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
    expect(proxy.connectionsMade).toBe(1);
    expect(proxy.connectionsOpen).toBe(1);
    await eventually(async () => (proxy.connectionsOpen === 0 ? true : undefined), 10_000, 'the idle destination to release its connection');
    const { eventId, deliveryId } = await deliver(destination.id);
    await waitForDelivery(system.client, deliveryId, 'delivered');
    await peer.waitForEvent(eventId, 5_000);
    expect(proxy.connectionsMade).toBe(2);
  });

  it('tests a destination by connecting and authenticating, publishing nothing, and says why when it cannot', async () => {
    const test = async (config: Record<string, unknown>) => (await system.client.post(`/v1/destinations/${(await createMqtt(config)).id}/test`)).body;
    const before = peer.messages.length;
    expect(await test({ url: BROKER, topic: `${peer.prefix}/{event.type}` })).toMatchObject({ ok: true });
    expect(await test({ url: privateBroker.url, topic: 'allowed/{data.x}', username: USERNAME, password: PASSWORD })).toMatchObject({ ok: true });
    expect(await test({ url: privateBroker.url, topic: 'allowed/x', username: USERNAME, password: 'wrong-password' })).toEqual({
      ok: false,
      durationMs: expect.any(Number),
      statusCode: expect.any(Number), // the CONNACK reason code
      error: expect.stringMatching(/^the broker refused the connection: (Not authorized \(0x87\)|Bad User Name or Password \(0x86\))$/),
    });
    expect(await test({ url: `mqtt://127.0.0.1:${await freePort()}`, topic: 'x' })).toMatchObject({ ok: false, error: expect.stringContaining('ECONNREFUSED') });
    // mqtts:// speaks TLS and checks the broker's certificate: a self-signed one is refused.
    expect(await test({ url: privateBroker.tlsUrl, topic: 'allowed/x', username: USERNAME, password: PASSWORD })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^tls error \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/),
    });
    expect(peer.messages.length).toBe(before);
  });

  it('shows the password as "********" after creation, and keeps it when a change sends that back', async () => {
    const created = await createMqtt({ url: privateBroker.url, topic: 'allowed/{event.type}', username: USERNAME, password: PASSWORD });
    expect(created.config).toMatchObject({ username: USERNAME, password: '********' });
    const shown = await system.client.get(`/v1/destinations/${created.id}`);
    expect(shown.body.config).toEqual({ url: privateBroker.url, topic: 'allowed/{event.type}', qos: 1, retain: false, username: USERNAME, password: '********' });
    const patched = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { config: { ...shown.body.config, topic: 'allowed/renamed/{event.type}' } });
    expect(patched.status).toBe(200);
    expect(JSON.stringify([created, shown.body, patched.body])).not.toContain(PASSWORD);
    await waitForDelivery(system.client, (await deliver(created.id)).deliveryId, 'delivered');
  });
});
