import { randomBytes } from 'node:crypto';
import {
  ApiClient,
  createTestDatabase,
  createTestOrganization,
  deleteQueueKeys,
  eventually,
  Json,
  Receiver,
  sendEvent,
  TestOrganization,
  uniqueId,
  waitForDelivery,
} from '@dispatch/testing';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment } from './system';

type Line = Record<string, unknown>;

/** Every line a process wrote, each parsed as JSON (a line that is not JSON fails the test). */
function lines(app: AppProcess): Line[] {
  return app
    .output()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as Line;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
}

/**
 * The real API and worker, as production runs them (DISPATCH_LOG_FORMAT=json, the API at the
 * default LOG_LEVEL, the worker at debug so that more of its lines are checked): what their logs
 * say about a delivery, what they never say, and what start-up prints.
 */
describe('logs of the API and the worker', () => {
  let database: { url: string; drop: () => Promise<void> };
  let environment: Record<string, string>;
  let organization: TestOrganization;
  let api: AppProcess;
  let worker: AppProcess;
  let client: ApiClient;
  let receiver: Receiver;
  let url: string;
  let metricsPort: number;
  /** Credentials given to destinations: no line may show one. */
  const secrets = {
    authorization: `Bearer tok_${randomBytes(16).toString('hex')}`,
    customHeader: `hdr_${randomBytes(16).toString('hex')}`,
    password: `pw_${randomBytes(16).toString('hex')}`,
  };

  beforeAll(async () => {
    database = await createTestDatabase('logs');
    organization = await createTestOrganization(database.url);
    receiver = await Receiver.start();
    environment = testEnvironment({ DATABASE_URL: database.url, DISPATCH_LOG_FORMAT: 'json', LOG_LEVEL: 'log' });
    const port = await freePort();
    metricsPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    api = spawnApp('api', { ...environment, PORT: String(port) });
    worker = spawnApp('worker', { ...environment, DISPATCH_METRICS_PORT: String(metricsPort), LOG_LEVEL: 'debug' });
    await Promise.all([waitUntilReady(`${url}/health/ready`, api, 45_000), waitUntilReady(`http://127.0.0.1:${metricsPort}/health/ready`, worker, 45_000)]);
    client = new ApiClient(url, organization.adminKey);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([api, worker].map((app) => app?.stop()));
    await receiver?.close();
    if (environment) await deleteQueueKeys(environment.DISPATCH_QUEUE_PREFIX).catch(() => undefined);
    await database?.drop();
  }, 30_000);

  it('starts with a short summary and no route table', async () => {
    const logged = (app: AppProcess, start: string) => async () => (lines(app).some((line) => String(line.msg).startsWith(start)) ? true : undefined);
    await eventually(logged(api, 'Dispatch API on'), 5_000, 'the API summary');
    await eventually(logged(worker, 'Dispatch worker:'), 5_000, 'the worker summary');
    const apiLines = lines(api);
    expect(apiLines.find((line) => String(line.msg).startsWith('Dispatch API on'))).toMatchObject({
      level: 'info',
      app: 'api',
      msg: `Dispatch API on ${url}`,
      docs: `${url}/docs`,
      queues: `${url}/queues`,
      metrics: `${url}/metrics`,
      kinds: expect.arrayContaining(['webhook', 'mqtt', 'email']),
    });
    expect(apiLines.filter((line) => ['RoutesResolver', 'RouterExplorer', 'InstanceLoader'].includes(String(line.context)))).toEqual([]);
    expect(api.output()).not.toMatch(/Mapped \{/);
    expect(lines(worker).find((line) => String(line.msg).startsWith('Dispatch worker:'))).toMatchObject({
      level: 'info',
      app: 'worker',
      metrics: `http://127.0.0.1:${metricsPort}/metrics`,
      natsIngest: null,
      msg: expect.stringContaining('NATS ingest off'),
    });
    // The API's start-up is its summary; nothing else at info or above on a healthy start.
    expect(apiLines.filter((line) => line.level !== 'debug').map((line) => String(line.msg).split('\n')[0])).toEqual([`Dispatch API on ${url}`]);
  });

  it('puts the ids of a delivery that fails and is retried, and its correlationId, on its lines', async () => {
    const destination = await client.post('/v1/destinations', {
      name: uniqueId('logged'),
      kind: 'webhook',
      config: { url: receiver.url, headers: { authorization: secrets.authorization, 'x-relay-token': secrets.customHeader }, secretHeaders: ['x-relay-token'] },
      eventTypes: ['order.*'],
      retryPolicy: { maxAttempts: 3, schedule: [200], jitter: 0 },
    });
    expect(destination.status).toBe(201);
    receiver.answer((_request, index) => (index === 0 ? { status: 503, body: 'busy' } : { status: 200 }));
    const correlationId = uniqueId('order-flow');
    const event = await sendEvent(client, { id: uniqueId('evt'), type: 'order.created', correlationId, data: { total: 42 } });
    const deliveryId = event.deliveries[0].id;
    await waitForDelivery(client, deliveryId, 'delivered', 15_000);

    const ids = { organizationId: organization.organizationId, eventId: event.id, deliveryId, destinationId: destination.body.id, correlationId };
    const about = await eventually(
      async () => {
        const found = lines(worker).filter((line) => line.deliveryId === deliveryId);
        return found.some((line) => line.outcome === 'delivered') ? found : undefined;
      },
      5_000,
      'the delivered attempt logged',
    );
    expect(about).toEqual([
      expect.objectContaining({
        ...ids,
        level: 'info',
        app: 'worker',
        context: 'Attempt',
        outcome: 'retry',
        attemptNumber: 1,
        attemptId: expect.stringMatching(/^att_/),
        statusCode: 503,
        retryInMs: 200,
      }),
      expect.objectContaining({ ...ids, level: 'debug', outcome: 'delivered', attemptNumber: 2, attemptId: expect.stringMatching(/^att_/), statusCode: 200 }),
    ]);
    expect(about[0].attemptId).not.toBe(about[1].attemptId);
    expect(about[0].msg).toMatch(/^Attempt 1 failed, retried in 200 ms: /);
  }, 30_000);

  it("never shows a destination's secret header or password in any line", async () => {
    const closedPort = await freePort();
    const mqtt = await client.post('/v1/destinations', {
      name: uniqueId('broker'),
      kind: 'mqtt',
      config: { url: `mqtt://127.0.0.1:${closedPort}`, topic: 'orders/{event.type}', username: 'dispatch', password: secrets.password },
      eventTypes: ['alarm.*'],
      retryPolicy: { maxAttempts: 2, schedule: [200], jitter: 0 },
    });
    expect(mqtt.status).toBe(201);
    const event = await sendEvent(client, { id: uniqueId('evt'), type: 'alarm.raised', data: {} });
    await waitForDelivery(client, event.deliveries[0].id, 'failed', 15_000);
    // Its dead letter is logged (so the capture holds its lines) …
    await eventually(
      async () => (lines(worker).some((line) => line.deliveryId === event.deliveries[0].id && line.outcome === 'failed') ? true : undefined),
      5_000,
      'the dead letter logged',
    );
    // … and a destination test, which reads the stored credentials in the API.
    const webhook = (await client.get('/v1/destinations?limit=50')).body.data.find((one: Json) => one.kind === 'webhook');
    await client.post(`/v1/destinations/${webhook.id}/test`);

    const output = api.output() + worker.output();
    expect(output).toContain(mqtt.body.id);
    for (const secret of Object.values(secrets)) expect(output).not.toContain(secret);
    expect(output).not.toContain(secrets.authorization.slice('Bearer '.length));
  }, 30_000);
});
