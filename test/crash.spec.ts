import { createDatabase, Database } from '@dispatch/db';
import { createWebhook, eventually, Json, REDIS_URL, TEST_ENCRYPTION_KEY, waitForCount } from '@dispatch/testing';
import { AppProcess, LOOPBACK_ALLOWED, spawnApp } from './processes';
import { useReceiver, useSystem } from './system';

const CONCURRENCY = 10;

describe('worker shutdown and crashes (worker as a child process)', () => {
  const system = useSystem({ worker: false });
  const receiver = useReceiver();
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
    DISPATCH_EGRESS_ALLOW: LOOPBACK_ALLOWED,
    DISPATCH_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
  });

  function startWorker(): AppProcess {
    const worker = spawnApp('worker', workerEnv());
    workers.push(worker);
    return worker;
  }

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 2 });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
  });

  afterAll(async () => {
    await database.close();
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

  const countWith = (destinationId: string, status: 'delivered' | 'delivering') => database.prisma.delivery.count({ where: { destinationId, status } });

  it('drains attempts in flight on SIGTERM, takes no new jobs, exits 0, and sends nothing twice', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 800 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const worker = startWorker();
    await sendMany(destination, 20, 'evt_term');
    // Stop while the first attempts are in flight: received, not answered yet.
    await eventually(async () => (receiver.requests.length > 0 ? true : undefined), 15_000, 'a first attempt in flight');

    const exitCode = await worker.stop('SIGTERM');
    expect(exitCode).toBe(0);
    const sentBeforeExit = receiver.requests.length;
    // No new jobs after SIGTERM: only what was in flight then went out, and every one of those was answered and recorded.
    expect(sentBeforeExit).toBeLessThanOrEqual(CONCURRENCY);
    expect(await countWith(destination.id, 'delivered')).toBe(sentBeforeExit);
    expect(await countWith(destination.id, 'delivering')).toBe(0);

    startWorker();
    await waitForCount(() => countWith(destination.id, 'delivered'), 20, 'delivered deliveries', 30_000);
    // 20 delivered and 20 webhooks received: none was sent twice.
    expect(receiver.requests).toHaveLength(20);
  }, 60_000);

  it('delivers everything after kill -9 mid-load; only deliveries in flight at the kill reach the receiver twice', async () => {
    receiver.answer(() => ({ status: 200, delayMs: 20 }));
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const total = 300;
    await sendMany(destination, total, 'evt_kill');
    const first = startWorker();
    await receiver.waitFor(80, 30_000);

    await first.stop('SIGKILL');
    const killedAt = Date.now();
    const receivedAtKill = receiver.requests.length;
    // The documented bound: attempts in flight plus delivered attempts not yet recorded. Both are
    // exactly the deliveries still `delivering` (claimed, outcome not written) once the worker is dead.
    const inFlight = await database.prisma.delivery.findMany({ where: { destinationId: destination.id, status: 'delivering' }, select: { eventId: true } });
    const mayRepeat = new Set(inFlight.map((delivery) => delivery.eventId));
    startWorker();
    await waitForCount(() => countWith(destination.id, 'delivered'), total, 'delivered deliveries', 60_000);
    const recoveryMs = Date.now() - killedAt;

    const ids = receiver.eventIds();
    const seen = new Set<string>();
    const repeated = ids.filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    console.log(
      `kill -9 after ${receivedAtKill} of ${total} received: all ${total} delivered ${recoveryMs} ms later; ` +
        `${repeated.length} duplicates, ${mayRepeat.size} deliveries in flight or unrecorded at the kill (concurrency ${CONCURRENCY})`,
    );
    expect(repeated.filter((id) => !mayRepeat.has(id))).toEqual([]);
    expect(repeated.length).toBeLessThanOrEqual(mayRepeat.size);
  }, 120_000);
});
