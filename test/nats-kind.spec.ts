import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, JetStreamManager, MsgHdrs, NatsConnection } from 'nats';
import { Webhook } from 'standardwebhooks';
import { EgressGuard, findKind } from '@dispatch/destinations';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { emptyFileStore, eventually, Json, sendEvent, TcpProxy, uniqueId, waitForDelivery } from '@dispatch/testing';
import { freePort, LOOPBACK_ALLOWED } from './processes';
import { useSystem } from './system';

const SERVER = 'nats://127.0.0.1:4222';
const USERNAME = 'dispatch';
const PASSWORD = 'right-password';

type Received = { subject: string; body: string; headers: Record<string, string> };

function headersOf(headers: MsgHdrs | undefined): Record<string, string> {
  return headers ? Object.fromEntries(headers.keys().map((name) => [name, headers.get(name)])) : {};
}

/**
 * A NATS server of its own on a free loopback port, in a temporary directory: it lets in only
 * `dispatch` with PASSWORD, who may publish under `allowed.` and nowhere else.
 */
async function startPrivateServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const directory = mkdtempSync(path.join(tmpdir(), 'dispatch-nats-'));
  const port = await freePort();
  writeFileSync(
    path.join(directory, 'nats.conf'),
    `listen: 127.0.0.1:${port}\nauthorization { users: [ { user: ${USERNAME}, password: ${PASSWORD}, permissions: { publish: ["allowed.>"], subscribe: ["_INBOX.>"] } } ] }\n`,
  );
  const server: ChildProcess = spawn('nats-server', ['-c', path.join(directory, 'nats.conf')], { stdio: 'ignore' });
  await eventually(
    () =>
      new Promise<true | undefined>((resolve) => {
        const socket = connectTcp(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
        socket.on('error', () => resolve(undefined));
      }),
    10_000,
    'the private NATS server to listen',
  );
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

describe('nats destinations', () => {
  // Queues idle for a second are closed, and their connections released with them.
  const system = useSystem({ env: { DISPATCH_WORKER_IDLE_MS: '1000' } });
  const prefix = `nats_kind_${randomBytes(6).toString('hex')}`;
  const stream = `DISPATCH_TEST_${randomBytes(6).toString('hex').toUpperCase()}`;
  const received: Received[] = [];
  let subscriber: NatsConnection;
  let streams: JetStreamManager;
  let privateServer: { url: string; stop: () => Promise<void> };
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    privateServer = await startPrivateServer();
    subscriber = await connect({ servers: '127.0.0.1:4222', reconnect: false });
    subscriber.subscribe(`${prefix}.>`, {
      callback: (_error, message) => received.push({ subject: message.subject, body: message.string(), headers: headersOf(message.headers) }),
    });
    await subscriber.flush();
    streams = await subscriber.jetstreamManager();
    await streams.streams.add({ name: stream, subjects: [`${prefix}.stored.>`] });
  });

  afterAll(async () => {
    await streams?.streams.delete(stream).catch(() => undefined);
    await subscriber?.close();
    await Promise.all([privateServer?.stop(), ...proxies.map((proxy) => proxy.close())]);
  });

  async function serverProxy(): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(4222);
    proxies.push(proxy);
    return proxy;
  }

  async function createNats(config: Record<string, unknown>, overrides: Record<string, unknown> = {}): Promise<Json> {
    const answer = await system.client.post('/v1/destinations', { name: uniqueId('nats'), kind: 'nats', config, eventTypes: [`${uniqueId('nats')}.*`], ...overrides });
    expect(answer.status).toBe(201);
    return answer.body;
  }

  async function deliver(destinationId: string, event: Record<string, unknown> = {}): Promise<{ eventId: string; deliveryId: string }> {
    const eventId = uniqueId('evt_nats');
    const accepted = await sendEvent(system.client, { id: eventId, type: 'reading.taken', destinations: [destinationId], ...event });
    return { eventId, deliveryId: accepted.deliveries[0].id };
  }

  const message = (eventId: string) => eventually(async () => received.find((one) => one.headers['webhook-id'] === eventId), 10_000, `a message for ${eventId}`);

  it('publishes the webhook JSON to the filled subject, signed in NATS headers that verify with the secret', async () => {
    const destination = await createNats({ url: SERVER, subject: `${prefix}.{organization}.{event.type}.{data.device.id}` });
    expect(destination.secret).toMatch(/^whsec_/);
    const { eventId, deliveryId } = await deliver(destination.id, { data: { device: { id: 'd-7' }, celsius: 21.5 } });
    const got = await message(eventId);
    expect(got.subject).toBe(`${prefix}.${system.organization.organizationId}.reading.taken.d-7`);
    const body = JSON.parse(got.body);
    expect(body).toEqual({ id: eventId, type: 'reading.taken', timestamp: expect.any(String), data: { device: { id: 'd-7' }, celsius: 21.5 } });
    expect(new Webhook(destination.secret).verify(got.body, got.headers)).toEqual(body);
    expect(() => new Webhook(destination.secret).verify(got.body.replace('21.5', '99'), got.headers)).toThrow();
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'delivered', error: null })]);
  });

  it('publishes to JetStream, delivered on the stream acknowledgement, with the delivery id as Nats-Msg-Id', async () => {
    const destination = await createNats({ url: SERVER, subject: `${prefix}.stored.{event.id}`, jetstream: true });
    const { eventId, deliveryId } = await deliver(destination.id);
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([
      expect.objectContaining({ outcome: 'delivered', responseBody: expect.stringMatching(new RegExp(`^\\{"stream":"${stream}","seq":\\d+,"duplicate":false\\}$`)) }),
    ]);
    const stored = await streams.streams.getMessage(stream, { last_by_subj: `${prefix}.stored.${eventId}` });
    expect(stored.header.get('Nats-Msg-Id')).toBe(deliveryId);
    const headers = Object.fromEntries(['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((name) => [name, stored.header.get(name)]));
    expect(new Webhook(destination.secret).verify(stored.string(), headers)).toMatchObject({ id: eventId });
  });

  it('keeps one copy of a JetStream delivery sent again (a retry of the same delivery falls in the duplicate window)', async () => {
    const kind = findKind('nats')!;
    const sender = kind.createSender({ timeoutMs: 5_000, replyMaxBytes: 4_096, egress: new EgressGuard(LOOPBACK_ALLOWED.split(',')), files: emptyFileStore() });
    const eventId = uniqueId('evt_twice');
    const request = {
      destinationId: uniqueId('dst_twice'),
      organizationId: system.organization.organizationId,
      config: kind.configSchema.parse({ url: SERVER, subject: `${prefix}.stored.{event.id}`, jetstream: true }),
      secrets: [generateSigningSecret()],
      retryPolicy: retryPolicySchema.parse({}),
      deliveryId: uniqueId('dlv_twice'),
      attemptNumber: 1,
      event: { id: eventId, type: 'reading.taken', data: {}, receivedAt: new Date() },
    };
    try {
      const first = await sender.send(request, AbortSignal.timeout(5_000));
      const again = await sender.send({ ...request, attemptNumber: 2 }, AbortSignal.timeout(5_000));
      expect(first).toMatchObject({ verdict: 'delivered', reply: expect.stringContaining('"duplicate":false') });
      expect(again).toMatchObject({ verdict: 'delivered', reply: expect.stringContaining('"duplicate":true') });
      const info = await streams.streams.info(stream, { subjects_filter: `${prefix}.stored.${eventId}` });
      expect(info.state.subjects).toEqual({ [`${prefix}.stored.${eventId}`]: 1 });
    } finally {
      await sender.close();
    }
  });

  it('records a retry while the server is down and delivers on a later attempt once it is back', async () => {
    const proxy = await serverProxy();
    const destination = await createNats(
      { url: `nats://127.0.0.1:${proxy.port}`, subject: `${prefix}.outage.{event.id}` },
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
    await message(eventId);
  });

  it('dead-letters at once, with a clear error, on refused credentials or subject, no stream for the subject, or a subject the event cannot fill', async () => {
    const policy = { retryPolicy: { maxAttempts: 5, schedule: [500], jitter: 0 } };
    const cases: [Record<string, unknown>, Record<string, unknown>, RegExp][] = [
      [{ url: privateServer.url, subject: 'allowed.{event.type}', username: USERNAME, password: 'wrong-password' }, {}, /^not authorized \(AUTHORIZATION_VIOLATION\)/],
      [
        { url: privateServer.url, subject: 'elsewhere.{event.type}', username: USERNAME, password: PASSWORD },
        {},
        /^not permitted to publish to "elsewhere\.reading\.taken" \(Permissions Violation\)$/,
      ],
      // Outside the subscriber's subjects: a JetStream publish a subscriber takes waits for an answer until it times out.
      [
        { url: SERVER, subject: `${prefix}_nostream.{event.type}`, jetstream: true },
        {},
        /^no JetStream stream captures subject ".*_nostream\.reading\.taken" \(503 no responders\)$/,
      ],
      [{ url: SERVER, subject: `${prefix}.{data.room}` }, { room: 'kitchen.>' }, /^subject ".*\.kitchen\.>" has a wildcard/],
      [{ url: SERVER, subject: `${prefix}.{data.room}` }, {}, /^the event's data has no value at \{data\.room\}$/],
    ];
    for (const [config, data, error] of cases) {
      const destination = await createNats(config, policy);
      const { deliveryId } = await deliver(destination.id, { data });
      const failed = await waitForDelivery(system.client, deliveryId, 'failed');
      expect(failed.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', error: expect.stringMatching(error) })]);
      expect(JSON.stringify(failed)).not.toContain('wrong-password');
    }
    // The same credentials and an allowed subject are delivered: the server refused only what it said.
    const allowed = await createNats({ url: privateServer.url, subject: 'allowed.{event.type}', username: USERNAME, password: PASSWORD });
    await waitForDelivery(system.client, (await deliver(allowed.id)).deliveryId, 'delivered');
  });

  it('keeps one connection per destination across deliveries, and lets it go when the queue goes idle', async () => {
    const proxy = await serverProxy();
    const destination = await createNats({ url: `nats://127.0.0.1:${proxy.port}`, subject: `${prefix}.reuse.{event.id}` });
    const sent = await Promise.all(Array.from({ length: 10 }, () => deliver(destination.id)));
    for (const { deliveryId } of sent) await waitForDelivery(system.client, deliveryId, 'delivered');
    await waitForDelivery(system.client, (await deliver(destination.id)).deliveryId, 'delivered');
    expect(proxy.connectionsMade).toBe(1);
    expect(proxy.connectionsOpen).toBe(1);
    await eventually(async () => (proxy.connectionsOpen === 0 ? true : undefined), 10_000, 'the idle destination to release its connection');
    const { eventId, deliveryId } = await deliver(destination.id);
    await waitForDelivery(system.client, deliveryId, 'delivered');
    await message(eventId);
    expect(proxy.connectionsMade).toBe(2);
  });

  it('tests a destination by connecting and authenticating, publishing nothing, and says why when it cannot', async () => {
    const test = async (config: Record<string, unknown>) => (await system.client.post(`/v1/destinations/${(await createNats(config)).id}/test`)).body;
    const before = received.length;
    expect(await test({ url: SERVER, subject: `${prefix}.{event.type}` })).toMatchObject({ ok: true });
    expect(await test({ url: privateServer.url, subject: 'allowed.{data.x}', username: USERNAME, password: PASSWORD })).toMatchObject({ ok: true });
    expect(await test({ url: SERVER, subject: `${prefix}.stored.{organization}`, jetstream: true })).toMatchObject({ ok: true });
    expect(await test({ url: SERVER, subject: `${prefix}_nostream.{organization}`, jetstream: true })).toEqual({
      ok: false,
      durationMs: expect.any(Number),
      error: `no JetStream stream captures subject "${prefix}_nostream.${system.organization.organizationId}" (503 no responders)`,
    });
    expect(await test({ url: privateServer.url, subject: 'allowed.x', username: USERNAME, password: 'wrong-password' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^not authorized \(AUTHORIZATION_VIOLATION\)/),
    });
    expect(await test({ url: `nats://127.0.0.1:${await freePort()}`, subject: 'x' })).toMatchObject({ ok: false, error: expect.stringContaining('ECONNREFUSED') });
    expect(received.length).toBe(before);
  });

  it('shows the password and the token as "********" after creation, and keeps them when a change sends that back', async () => {
    const created = await createNats({ url: privateServer.url, subject: 'allowed.{event.type}', username: USERNAME, password: PASSWORD });
    expect(created.config).toMatchObject({ username: USERNAME, password: '********' });
    const shown = await system.client.get(`/v1/destinations/${created.id}`);
    expect(shown.body.config).toEqual({ url: privateServer.url, subject: 'allowed.{event.type}', jetstream: false, username: USERNAME, password: '********' });
    const patched = await system.client.request('PATCH', `/v1/destinations/${created.id}`, { config: { ...shown.body.config, subject: 'allowed.renamed.{event.type}' } });
    expect(patched.status).toBe(200);
    expect(JSON.stringify([created, shown.body, patched.body])).not.toContain(PASSWORD);
    await waitForDelivery(system.client, (await deliver(created.id)).deliveryId, 'delivered');

    const token = randomBytes(16).toString('hex');
    const withToken = await createNats({ url: SERVER, subject: `${prefix}.{event.type}`, token });
    expect(withToken.config).toMatchObject({ token: '********' });
    expect(JSON.stringify((await system.client.get(`/v1/destinations/${withToken.id}`)).body)).not.toContain(token);
  });
});
