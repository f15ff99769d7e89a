import { createDatabase, Database } from '@dispatch/db';
import { eventually, Json, Receiver, REDIS_URL, webhookDestination } from '@dispatch/testing';
import { AppProcess, spawnApp } from './processes';
import { startSystem, TestSystem } from './system';

const CONCURRENCY = 10;

describe('worker shutdown and crashes (worker as a child process)', () => {
  let system: TestSystem;
  let receiver: Receiver;
  let database: Database;
  const workers: AppProcess[] = [];

  const workerEnv = () => ({
    DATABASE_URL: system.config.databaseUrl,
    REDIS_URL,
    DISPATCH_QUEUE_PREFIX: system.config.queuePrefix,
    DISPATCH_METRICS_PORT: '0',
    DISPATCH_WORKER_CONCURRENCY: String(CONCURRENCY),
    DISPATCH_WORKER_SCAN_MS: '200',
    DISPATCH_LOCK_MS: '2000',
    DISPATCH_RECONCILE_MS: '2000',
  });

  function startWorker(): AppProcess {
    const worker = spawnApp('worker', workerEnv());
    workers.push(worker);
    return worker;
  }

  beforeAll(async () => {
    system = await startSystem({ worker: false });
    receiver = await Receiver.start();
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    receiver.requests.length = 0;
  });

  afterAll(async () => {
    await database.close();
    await receiver.close();
    await system.close();
  });

  async function sendMany(destination: Json, count: number, prefix: string): Promise<void> {
    for (let start = 0; start < count; start += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, count - start) }, (_, offset) =>
          system.client.post('/v1/events', { id: `${prefix}_${start + offset}`, type: 'load.test', data: { n: start + offset }, destinations: [destination.id] }),
        ),
      );
    }
  }

  const delivered = (destinationId: string) => database.prisma.delivery.count({ where: { destinationId, status: 'delivered' } });

  it('drains attempts in flight on SIGTERM, exits, and sends nothing twice', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 800 }));
    const destination = (await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    const worker = startWorker();
    await sendMany(destination, 20, 'evt_term');
    await receiver.waitFor(5, 15_000);

    const exitCode = await worker.stop('SIGTERM');
    expect(exitCode).toBe(0);
    const sentBeforeExit = receiver.requests.length;
    expect(sentBeforeExit).toBeGreaterThanOrEqual(5);
    expect(await delivered(destination.id)).toBe(sentBeforeExit);

    startWorker();
    await eventually(async () => ((await delivered(destination.id)) === 20 ? true : undefined), 30_000);
    const ids = receiver.requests.map((request) => request.headers['webhook-id']);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('delivers everything after kill -9 mid-load; duplicates are at most what was in flight', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 20 }));
    const destination = (await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`))).body;
    const total = 300;
    await sendMany(destination, total, 'evt_kill');
    const first = startWorker();
    await receiver.waitFor(80, 30_000);

    await first.stop('SIGKILL');
    const killedAt = Date.now();
    const receivedAtKill = receiver.requests.length;
    startWorker();
    await eventually(async () => ((await delivered(destination.id)) === total ? true : undefined), 60_000, `${total} deliveries delivered`);
    const recoveryMs = Date.now() - killedAt;

    const ids = receiver.requests.map((request) => request.headers['webhook-id']);
    const unique = new Set(ids).size;
    const duplicates = ids.length - unique;
    console.log(`kill -9 after ${receivedAtKill} of ${total} received: all ${total} delivered ${recoveryMs} ms later; ${duplicates} duplicates (concurrency ${CONCURRENCY})`);
    expect(unique).toBe(total);
    expect(duplicates).toBeLessThanOrEqual(CONCURRENCY);
  });
});
