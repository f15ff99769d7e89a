import { createDatabase, Database } from '@dispatch/db';
import {
  ApiClient,
  createTestDatabase,
  createTestOrganization,
  createWebhook,
  deleteQueueKeys,
  eventually,
  Json,
  Receiver,
  TestOrganization,
  waitForCount,
} from '@dispatch/testing';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment } from './system';

const CONCURRENCY = 5;
const DESTINATIONS = 6;

/**
 * Two API processes and two worker processes on one PostgreSQL and one Redis (one database,
 * one queue prefix), as `docs/scale-out.md` describes: whichever API accepts an event, one of
 * the workers delivers it once, and both workers take a share.
 */
describe('two APIs and two workers on one PostgreSQL and one Redis', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let environment: Record<string, string>;
  let organization: TestOrganization;
  let receiver: Receiver;
  const apis: { process: AppProcess; client: ApiClient }[] = [];
  const workers: { process: AppProcess; metricsUrl: string }[] = [];
  let destinations: Json[] = [];

  async function startApi(): Promise<void> {
    const port = await freePort();
    const api = spawnApp('api', { ...environment, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    apis.push({ process: api, client: new ApiClient(url, organization.adminKey) });
    await waitUntilReady(`${url}/health/ready`, api, 45_000);
  }

  async function startWorker(): Promise<void> {
    const port = await freePort();
    const worker = spawnApp('worker', { ...environment, DISPATCH_METRICS_PORT: String(port) });
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;
    workers.push({ process: worker, metricsUrl });
    await waitUntilReady(`http://127.0.0.1:${port}/health/ready`, worker, 45_000);
  }

  /** The attempts one worker process made, from its `dispatch_attempts_total` (every kind and outcome). */
  async function attemptsOf(worker: { metricsUrl: string }): Promise<number> {
    const text = await (await fetch(worker.metricsUrl)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('dispatch_attempts_total{') || line.startsWith('dispatch_attempts_total '))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  /** Sends `count` events, one destination after another, through each API in turn. */
  async function sendThroughBoth(prefix: string, count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, (_, n) => `${prefix}_${n}`);
    for (let start = 0; start < count; start += 20) {
      const answers = await Promise.all(
        ids.slice(start, start + 20).map((id, offset) => {
          const n = start + offset;
          return apis[n % apis.length].client.post('/v1/events', { id, type: 'load.test', data: { n }, destinations: [destinations[n % destinations.length].id] });
        }),
      );
      expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202));
    }
    return ids;
  }

  const delivered = (prefix: string) => db.prisma.delivery.count({ where: { status: 'delivered', eventId: { startsWith: `${prefix}_` } } });

  /** Event ids the receiver got more than once. */
  function repeated(prefix: string): string[] {
    const seen = new Set<string>();
    return receiver.eventIds().filter((id) => id.startsWith(`${prefix}_`) && (seen.has(id) || (seen.add(id), false)));
  }

  beforeAll(async () => {
    database = await createTestDatabase('scale');
    db = createDatabase(database.url, { max: 2 });
    organization = await createTestOrganization(database.url);
    receiver = await Receiver.start();
    environment = testEnvironment({
      DATABASE_URL: database.url,
      LOG_LEVEL: 'warn',
      DISPATCH_WORKER_CONCURRENCY: String(CONCURRENCY),
      DISPATCH_LOCK_MS: '2000',
      DISPATCH_RECONCILE_MS: '2000',
    });
    await Promise.all([startApi(), startApi(), startWorker(), startWorker()]);
    destinations = [];
    for (let i = 0; i < DESTINATIONS; i += 1) destinations.push(await createWebhook(apis[i % 2].client, `${receiver.url}/hook/${i}`));
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...apis, ...workers].map((app) => app.process.stop('SIGKILL')));
    await receiver?.close();
    await db?.close();
    await deleteQueueKeys(environment.DISPATCH_QUEUE_PREFIX).catch(() => undefined);
    await database?.drop();
  }, 60_000);

  it('delivers every event sent through either API exactly once, and both workers take a share', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 10 }));
    const total = 240;
    const ids = await sendThroughBoth('evt_share', total);
    await waitForCount(() => delivered('evt_share'), total, 'delivered deliveries', 40_000);

    expect([...new Set(receiver.eventIds())].sort()).toEqual([...ids].sort());
    expect(repeated('evt_share')).toEqual([]);
    expect(await db.prisma.attempt.count({ where: { delivery: { eventId: { startsWith: 'evt_share_' } } } })).toBe(total);
    const shares = await Promise.all(workers.map((worker) => attemptsOf(worker)));
    console.log(`two workers made ${shares.join(' and ')} of ${total} attempts`);
    expect(shares[0] + shares[1]).toBe(total);
    for (const share of shares) expect(share).toBeGreaterThanOrEqual(total * 0.2);
  }, 60_000);

  it('delivers everything when one worker is killed mid-load; only attempts in flight at the kill are repeated', async () => {
    receiver.reset();
    receiver.answer(() => ({ status: 200, delayMs: 20 }));
    const total = 240;
    await sendThroughBoth('evt_kill', total);
    await eventually(async () => (receiver.eventIds().filter((id) => id.startsWith('evt_kill_')).length >= 60 ? true : undefined), 30_000, 'a quarter delivered');

    const killedShare = await attemptsOf(workers[0]);
    await workers[0].process.stop('SIGKILL');
    // The deliveries claimed and not yet recorded when the worker died (the survivor's too): the
    // only ones that may reach the receiver twice. The killed worker had at most CONCURRENCY in
    // flight per destination.
    const inFlight = await db.prisma.delivery.findMany({ where: { status: 'delivering', eventId: { startsWith: 'evt_kill_' } }, select: { eventId: true } });
    const mayRepeat = new Set(inFlight.map((delivery) => delivery.eventId));

    await waitForCount(() => delivered('evt_kill'), total, 'delivered deliveries', 60_000);
    const twice = repeated('evt_kill');
    console.log(`killed a worker after it made ${killedShare} attempts: ${total} delivered, ${twice.length} received twice, ${mayRepeat.size} in flight at the kill`);
    expect(new Set(receiver.eventIds().filter((id) => id.startsWith('evt_kill_'))).size).toBe(total);
    expect(twice.filter((id) => !mayRepeat.has(id))).toEqual([]);
    expect(twice.length).toBeLessThanOrEqual(CONCURRENCY * DESTINATIONS);
  }, 90_000);
});
