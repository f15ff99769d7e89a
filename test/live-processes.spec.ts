import IORedis from 'ioredis';
import { loadConfig } from '@dispatch/config';
import {
  ApiClient,
  createTestDatabase,
  createTestOrganization,
  deleteQueueKeys,
  eventually,
  Json,
  LiveClient,
  REDIS_URL,
  sendEvent,
  TestOrganization,
  uniqueId,
  waitForDelivery,
} from '@dispatch/testing';
import { StreamTokens } from '../apps/api/src/live/stream-tokens';
import { AppProcess, freePort, spawnApp, waitUntilReady } from './processes';
import { testEnvironment } from './system';

type Api = { name: string; process: AppProcess; url: string; client: ApiClient };

/**
 * Live WebSocket push across real API processes on one PostgreSQL and one Redis (one database, one
 * queue prefix) and a worker: a device gets what is pushed whichever process it is connected to
 * and whichever took the event; presence is the same seen from every process; a process that is
 * stopped (SIGTERM) or killed loses no frame of its devices, which reconnect to another with lastSeq.
 */
describe('live WebSocket push across API processes', () => {
  let database: { url: string; drop: () => Promise<void> };
  let environment: Record<string, string>;
  let organization: TestOrganization;
  let tokens: StreamTokens;
  let redis: IORedis;
  let worker: AppProcess;
  const apis: Api[] = [];
  const open: LiveClient[] = [];
  /** A and B serve the first test; B is stopped (SIGTERM) in the second, C killed in the third. */
  const [a, b, c] = [0, 1, 2].map((index) => () => apis[index]);

  async function startApi(name: string): Promise<Api> {
    const port = await freePort();
    const process = spawnApp('api', { ...environment, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilReady(`${url}/health/ready`, process, 45_000);
    return { name, process, url, client: new ApiClient(url, organization.adminKey) };
  }

  beforeAll(async () => {
    database = await createTestDatabase('live');
    organization = await createTestOrganization(database.url);
    environment = testEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: 'warn', DISPATCH_WORKER_CONCURRENCY: '8' });
    tokens = new StreamTokens(loadConfig(environment).encryption);
    redis = new IORedis(REDIS_URL);
    const workerPort = await freePort();
    worker = spawnApp('worker', { ...environment, DISPATCH_METRICS_PORT: String(workerPort) });
    const [started] = await Promise.all([
      Promise.all(['A', 'B', 'C'].map((name) => startApi(name))),
      waitUntilReady(`http://127.0.0.1:${workerPort}/health/ready`, worker, 45_000),
    ]);
    apis.push(...started);
    const created = await a().client.post('/v1/destinations', { name: 'devices', kind: 'websocket', config: { subject: '{data.user_id}' }, eventTypes: ['live.*'] });
    expect(created.status).toBe(201);
  }, 60_000);

  afterEach(async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    await Promise.all([...apis.map((api) => api.process), worker].map((app) => app?.stop('SIGKILL')));
    redis?.disconnect();
    if (environment) await deleteQueueKeys(environment.DISPATCH_QUEUE_PREFIX).catch(() => undefined);
    await database?.drop();
  }, 30_000);

  async function connect(api: Api, subject: string, lastSeq?: number): Promise<LiveClient> {
    const token = tokens.mint({ organizationId: organization.organizationId, subject, ttlSeconds: 600 }).token;
    const client = await LiveClient.connect(api.url, token, { lastSeq });
    open.push(client);
    return client;
  }

  /** Sends `count` events for `subject` through `api` in one batch; answers their ids. */
  async function push(api: Api, subject: string, count: number): Promise<string[]> {
    const events = Array.from({ length: count }, (_, n) => ({ id: uniqueId('evt_live'), type: 'live.message', data: { user_id: subject, n } }));
    const answer = await api.client.post('/v1/events/batch', { events });
    expect(answer.status).toBe(202);
    return events.map((event) => event.id);
  }

  /** Waits until `subject` was given `seq` (every frame pushed so far is kept, then). */
  async function pushedUpTo(subject: string, seq: number): Promise<void> {
    await eventually(
      async () => ((await a().client.get(`/v1/stream-subjects/${subject}`)).body.latestSeq === seq ? true : undefined),
      15_000,
      `seq ${seq} of ${subject}`,
    );
  }

  async function sessionsOf(api: Api, subject: string): Promise<Json[]> {
    return (await api.client.get(`/v1/stream-sessions?subject=${subject}`)).body.data as Json[];
  }

  async function presenceOf(api: Api, subject: string): Promise<Json> {
    return (await api.client.get(`/v1/presence/${subject}`)).body;
  }

  /** Waits until `api` counts `count` sessions of `subject`. */
  async function presenceIs(api: Api, subject: string, count: number): Promise<void> {
    await eventually(async () => ((await presenceOf(api, subject)).sessions === count ? true : undefined), 10_000, `${count} sessions of ${subject} seen by ${api.name}`);
  }

  const seqsOf = (...clients: LiveClient[]) => clients.flatMap((client) => client.events.map((frame) => frame.seq));
  const idsOf = (...clients: LiveClient[]) => clients.flatMap((client) => client.events.map((frame) => frame.event.id));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

  it('pushes what one API takes to devices on another, every device of a subject in the same order, and shows the sessions of every process', async () => {
    const subject = uniqueId('user');
    const onB = await connect(b(), subject);
    await presenceIs(a(), subject, 1);
    const [heldByB] = await sessionsOf(a(), subject);
    expect(heldByB).toEqual({
      id: expect.stringMatching(/^wss_/),
      subject,
      process: expect.stringContaining(`:${b().process.child.pid}:`),
      connectedAt: expect.any(String),
      remoteAddress: expect.any(String),
    });

    const onA = await connect(a(), subject);
    await presenceIs(a(), subject, 2);
    expect(await presenceOf(b(), subject)).toEqual({ subject, online: true, sessions: 2 });
    const sessions = await sessionsOf(a(), subject);
    expect(sessions.map((session) => session.id)).toEqual([heldByB.id, expect.stringMatching(/^wss_/)]);
    const heldByA = sessions[1];
    expect(heldByA.process).toContain(`:${a().process.child.pid}:`);
    expect(heldByA.process).not.toBe(heldByB.process);
    expect(await sessionsOf(b(), subject)).toEqual(sessions);

    const ids = await push(a(), subject, 60);
    await Promise.all([onB.waitForEvents(60, 20_000), onA.waitForEvents(60, 20_000)]);
    expect(seqsOf(onB)).toEqual(range(1, 60));
    expect(new Set(idsOf(onB))).toEqual(new Set(ids));
    expect(idsOf(onA)).toEqual(idsOf(onB));
    expect(onA.frames).toEqual(onB.frames);

    const one = await sendEvent(a().client, { type: 'live.message', data: { user_id: subject } });
    const delivery = await waitForDelivery(a().client, one.deliveries[0].id, 'delivered');
    expect(delivery.attempts[0].responseBody).toBe(`pushed to the sessions of "${subject}" on 2 API processes (seq 61)`);
    await Promise.all([onB.waitForEvents(61), onA.waitForEvents(61)]);
    expect([onB.events[60].event.id, onA.events[60].event.id]).toEqual([one.id, one.id]);
  }, 30_000);

  it('closes the sessions of a stopped API with 1001; they reconnect to another with lastSeq and miss nothing', async () => {
    const [shared, alone] = [uniqueId('user'), uniqueId('user')];
    const onA = await connect(a(), shared);
    const [sharedOnB, aloneOnB] = [await connect(b(), shared), await connect(b(), alone)];
    await Promise.all([presenceIs(a(), shared, 2), presenceIs(a(), alone, 1)]);
    const before = { shared: await push(a(), shared, 10), alone: await push(a(), alone, 4) };
    await Promise.all([onA.waitForEvents(10), sharedOnB.waitForEvents(10), aloneOnB.waitForEvents(4)]);

    const signalledAt = Date.now();
    const exited = b().process.stop('SIGTERM');
    expect(await sharedOnB.closed).toEqual({ code: 1001, reason: 'going away' });
    expect(await aloneOnB.closed).toEqual({ code: 1001, reason: 'going away' });
    // While B is going and gone, more is pushed (through A).
    const missed = { shared: await push(a(), shared, 7), alone: await push(a(), alone, 3) };
    let timer: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(() => resolve('still running'), 8_000)))]);
    clearTimeout(timer);
    const exitedAfterMs = Date.now() - signalledAt;
    expect({ exitCode, output: exitCode === 0 ? '' : b().process.output() }).toEqual({ exitCode: 0, output: '' });
    console.log(`API B exited 0 ${exitedAfterMs} ms after SIGTERM`);
    expect(exitedAfterMs).toBeLessThan(5_000);
    expect(await presenceOf(a(), alone)).toEqual({ subject: alone, online: false, sessions: 0 });
    expect((await sessionsOf(a(), shared)).map((session) => session.process)).toEqual([expect.stringContaining(`:${a().process.child.pid}:`)]);
    await Promise.all([pushedUpTo(shared, 17), pushedUpTo(alone, 7)]);

    const sharedBack = await connect(a(), shared, sharedOnB.lastSeq);
    const aloneBack = await connect(a(), alone, aloneOnB.lastSeq);
    const live = { shared: await push(a(), shared, 5), alone: await push(a(), alone, 5) };
    await Promise.all([sharedBack.waitForEvents(12), aloneBack.waitForEvents(8), onA.waitForEvents(22)]);

    expect(sharedBack.frames.every((frame) => frame.type === 'event')).toBe(true);
    expect(aloneBack.frames.every((frame) => frame.type === 'event')).toBe(true);
    expect(seqsOf(sharedOnB, sharedBack)).toEqual(range(1, 22));
    expect(seqsOf(aloneOnB, aloneBack)).toEqual(range(1, 12));
    expect(new Set(idsOf(sharedOnB))).toEqual(new Set(before.shared));
    expect(new Set(idsOf(sharedBack).slice(0, 7))).toEqual(new Set(missed.shared));
    expect(new Set(idsOf(sharedBack).slice(7))).toEqual(new Set(live.shared));
    expect(new Set(idsOf(aloneOnB))).toEqual(new Set(before.alone));
    expect(new Set(idsOf(aloneBack).slice(0, 3))).toEqual(new Set(missed.alone));
    expect(new Set(idsOf(aloneBack).slice(3))).toEqual(new Set(live.alone));
    // The device that stayed on A saw the same frames, in the same order, without a break.
    expect(idsOf(onA)).toEqual(idsOf(sharedOnB, sharedBack));
    expect(await presenceOf(a(), shared)).toEqual({ subject: shared, online: true, sessions: 2 });
  }, 30_000);

  it('loses nothing of the devices of a killed API: they reconnect to another with lastSeq; its sessions are cleared once it is gone', async () => {
    const [shared, alone] = [uniqueId('user'), uniqueId('user')];
    const onA = await connect(a(), shared);
    const [sharedOnC, aloneOnC] = [await connect(c(), shared), await connect(c(), alone)];
    await Promise.all([presenceIs(a(), shared, 2), presenceIs(a(), alone, 1)]);
    const [aloneSession] = await sessionsOf(a(), alone);
    const killedProcess = aloneSession.process as string;
    expect(killedProcess).toContain(`:${c().process.child.pid}:`);
    const heldByC = { alone: aloneSession.id as string, shared: (await sessionsOf(a(), shared)).find((session) => session.process === killedProcess)?.id as string };
    expect(heldByC.shared).toMatch(/^wss_/);

    // Killed while the frames of a batch are being pushed.
    const ids = { shared: await push(a(), shared, 40), alone: await push(a(), alone, 40) };
    await sharedOnC.waitForEvents(5, 15_000);
    await c().process.stop('SIGKILL');
    expect((await sharedOnC.closed).code).toBe(1006);
    expect((await aloneOnC.closed).code).toBe(1006);

    const sharedBack = await connect(a(), shared, sharedOnC.lastSeq);
    const aloneBack = await connect(a(), alone, aloneOnC.lastSeq);
    const live = { shared: await push(a(), shared, 5), alone: await push(a(), alone, 5) };
    const shownOnC = { shared: sharedOnC.events.length, alone: aloneOnC.events.length };
    await Promise.all([sharedBack.waitForEvents(45 - shownOnC.shared, 20_000), aloneBack.waitForEvents(45 - shownOnC.alone, 20_000), onA.waitForEvents(45, 20_000)]);
    console.log(`killed an API after its devices read ${shownOnC.shared} and ${shownOnC.alone} of 40 frames; both got the rest from another`);

    for (const [subject, before, after] of [
      ['shared', sharedOnC, sharedBack],
      ['alone', aloneOnC, aloneBack],
    ] as const) {
      expect(after.frames.every((frame) => frame.type === 'event')).toBe(true);
      expect(seqsOf(before, after)).toEqual(range(1, 45));
      expect(new Set(idsOf(before, after).slice(0, 40))).toEqual(new Set(ids[subject]));
      expect(new Set(idsOf(before, after).slice(40))).toEqual(new Set(live[subject]));
    }
    expect(idsOf(onA)).toEqual(idsOf(sharedOnC, sharedBack));

    // A killed process says nothing more: once it has been silent for 30 s (its last heartbeat put
    // back 30 s here, rather than waited for), the others count its sessions no more and clear them.
    const processes = `${environment.DISPATCH_QUEUE_PREFIX}:live:{presence}:processes`;
    expect(await redis.zscore(processes, killedProcess)).not.toBeNull();
    await redis.zadd(processes, Date.now() - 31_000, killedProcess);
    for (const subject of [shared, alone]) {
      const sessions = await sessionsOf(a(), subject);
      expect(sessions.map((session) => session.process)).toEqual(sessions.map(() => expect.stringContaining(`:${a().process.child.pid}:`)));
    }
    expect(await presenceOf(a(), shared)).toEqual({ subject: shared, online: true, sessions: 2 });
    expect(await presenceOf(a(), alone)).toEqual({ subject: alone, online: true, sessions: 1 });
    await eventually(async () => ((await redis.zscore(processes, killedProcess)) === null ? true : undefined), 10_000, 'the killed process to be cleared');
    const sessionsKey = (subject: string) => `${environment.DISPATCH_QUEUE_PREFIX}:live:{${organization.organizationId}:${subject}}:sessions`;
    expect(await redis.hexists(sessionsKey(shared), heldByC.shared)).toBe(0);
    expect(await redis.hexists(sessionsKey(alone), heldByC.alone)).toBe(0);
    expect(await redis.hlen(sessionsKey(alone))).toBe(1);
  }, 40_000);
});
