import IORedis from 'ioredis';
import { createDatabase, Database, OrganizationRepository } from '@dispatch/db';
import { hashApiKey } from '@dispatch/domain';
import { destinationQueueName } from '@dispatch/queue';
import { createWebhook, Json, Receiver, sendEvent, waitForDelivery } from '@dispatch/testing';
import { errorShape } from './answers';
import { TestSystem, useReceiver, useSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-board-tests-0000';

type BoardAnswer = { status: number; body: Json };
type BoardRequest = { key?: string; body?: unknown; headers?: Record<string, string> };

/** HTTP Basic credentials with the key as password, as a browser signed in to the board sends them. */
const basic = (key: string) => `Basic ${Buffer.from(`operator:${key}`).toString('base64')}`;

/** A request to Bull Board (a path under /queues), signed in with `key` (the operator's unless told). */
async function board(system: TestSystem, method: string, path: string, request: BoardRequest = {}): Promise<BoardAnswer> {
  const response = await fetch(`${system.url}/queues${path}`, {
    method,
    headers: {
      authorization: basic(request.key ?? OPERATOR_KEY),
      ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...request.headers,
    },
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
}

/** The id of the operator's key: the actor of what it does on the board. */
async function operatorKeyId(system: TestSystem): Promise<string> {
  const database = createDatabase(system.config.databaseUrl, { max: 1 });
  try {
    const caller = await new OrganizationRepository(database).findCaller(hashApiKey(OPERATOR_KEY));
    if (!caller) throw new Error('the operator key is not stored');
    return caller.apiKeyId;
  } finally {
    await database.close();
  }
}

/** A dead letter of a new destination of the test organization: its receiver answered 500 and the policy allows one attempt. */
async function deadLetter(system: TestSystem, receiver: Receiver, count = 1): Promise<{ destination: Json; ids: string[] }> {
  receiver.answer(() => ({ status: 500 }));
  // No rate limit: BullMQ's limiter key expires by itself, which the before-and-after look at Redis would see.
  const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 }, rateLimit: null });
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) ids.push((await sendEvent(system.client, { type: 'order.created', data: { i }, destinations: [destination.id] })).deliveries[0].id);
  for (const id of ids) await waitForDelivery(system.client, id, 'failed');
  receiver.reset();
  return { destination, ids };
}

/** Every key of the system's queues with its content, as Redis holds it. */
async function queueKeys(system: TestSystem): Promise<Record<string, unknown>> {
  const redis = new IORedis(system.config.redisUrl);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${system.config.queuePrefix}:{*`, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    const snapshot: Record<string, unknown> = {};
    for (const key of keys.sort()) {
      const type = await redis.type(key);
      if (type === 'hash') snapshot[key] = await redis.hgetall(key);
      else if (type === 'zset') snapshot[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
      else if (type === 'list') snapshot[key] = await redis.lrange(key, 0, -1);
      else if (type === 'set') snapshot[key] = (await redis.smembers(key)).sort();
      else if (type === 'stream') snapshot[key] = await redis.xrange(key, '-', '+');
      else snapshot[key] = [type, await redis.get(key)];
    }
    return snapshot;
  } finally {
    redis.disconnect();
  }
}

/** Every row a board action could change: destinations, events, deliveries, attempts, replays, audit entries. */
async function rows(database: Database): Promise<unknown> {
  const { prisma } = database;
  return {
    destinations: await prisma.destination.findMany({ orderBy: { id: 'asc' } }),
    events: await prisma.event.count(),
    deliveries: await prisma.delivery.findMany({ orderBy: { id: 'asc' } }),
    attempts: await prisma.attempt.count(),
    replays: await prisma.replay.count(),
    audit: await prisma.auditEntry.count(),
  };
}

/** A body each of Bull Board's changing routes takes, so that each would do something if it were let through. */
const BODIES: Record<string, unknown> = {
  add: { name: 'deliver', data: { deliveryId: 'dlv_injected' }, options: {} },
  'update-data': { jobData: { deliveryId: 'dlv_elsewhere' } },
  delay: { runAt: Date.now() + 3_600_000 },
  priority: { priority: 1 },
  concurrency: { concurrency: 1 },
  'rate-limit': { max: 1, duration: 60_000 },
  obliterate: { force: true },
  ':schedulerId': { pattern: '* * * * *' },
};

/** Every route under /queues that is not a read, with its parameters filled in for `queueName` and `jobId`. */
function changingRoutes(system: TestSystem, queueName: string, jobId: string): { method: string; path: string; body: unknown }[] {
  return system.routes
    .filter((route) => route.split(' ')[1].startsWith('/queues/') && !route.startsWith('GET '))
    .map((route) => {
      const [method, pattern] = route.split(' ');
      const path = pattern
        .slice('/queues'.length)
        .replace(':queueName', encodeURIComponent(queueName))
        .replace(':jobId', jobId)
        .replace(':queueStatus', 'failed')
        .replace(':schedulerId', 'no-such-scheduler');
      return { method, path, body: BODIES[pattern.split('/').at(-1) as string] ?? {} };
    });
}

/** Sends each of `routes` to the board: every one is answered 403, and Redis and the database are left as they were. */
async function expectEveryOneRefused(system: TestSystem, database: Database, routes: { method: string; path: string; body: unknown }[]): Promise<void> {
  const redisBefore = await queueKeys(system);
  const rowsBefore = await rows(database);
  for (const route of routes) {
    const answer = await board(system, route.method, route.path, { body: route.body });
    expect([route.method, route.path, answer.status, answer.body]).toEqual([route.method, route.path, 403, errorShape(403, 'Forbidden')]);
  }
  expect(await queueKeys(system)).toEqual(redisBefore);
  expect(await rows(database)).toEqual(rowsBefore);
}

describe('Bull Board, read-only (the default)', () => {
  const system = useSystem({ env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  const receiver = useReceiver();
  let database: Database;

  beforeAll(() => {
    database = createDatabase(system.config.databaseUrl, { max: 1 });
  });
  afterAll(async () => {
    await database.close();
  });

  it('shows an admin of the default organization every destination queue, read-only, without retry buttons', async () => {
    const { destination } = await deadLetter(system, receiver);
    const page = await board(system, 'GET', '');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<html');
    const listing = await board(system, 'GET', '/api/queues');
    expect(listing.status).toBe(200);
    const queue = listing.body.queues.find((listed: Json) => listed.displayName === `${destination.name} (${destination.id})`);
    expect(queue).toMatchObject({ readOnlyMode: true, allowRetries: false, counts: expect.objectContaining({ failed: 1 }) });
    expect(listing.body.queues.every((listed: Json) => listed.readOnlyMode === true && listed.allowRetries === false)).toBe(true);
  });

  it("lists a destination's queue as soon as it is created, under its new name once renamed, and no more once it is deleted", async () => {
    const listed = async () => ((await board(system, 'GET', '/api/queues')).body.queues as Json[]).map((queue) => queue.displayName);
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { name: 'board-listed' });
    expect(await listed()).toContain(`board-listed (${destination.id})`);

    expect((await system.client.request('PATCH', `/v1/destinations/${destination.id}`, { name: 'board-renamed' })).status).toBe(200);
    const renamed = await listed();
    expect(renamed).toContain(`board-renamed (${destination.id})`);
    expect(renamed).not.toContain(`board-listed (${destination.id})`);

    expect((await system.client.request('DELETE', `/v1/destinations/${destination.id}`)).status).toBe(204);
    expect((await listed()).filter((name) => name.endsWith(`(${destination.id})`))).toEqual([]);
    expect(await listed()).toContain('maintenance (reconciler)');
  });

  it('refuses every route that would change a queue or a job (403), and Redis and the database stay as they were', async () => {
    const { destination, ids } = await deadLetter(system, receiver);
    // Without the worker, nothing else changes the queues while the board is asked to.
    await system.stopWorker();
    try {
      const queueName = destinationQueueName(destination.id);
      const routes = changingRoutes(system, queueName, ids[0]);
      // Bull Board's routes that change something, as its UI calls them: each must be among those tried.
      for (const expected of [
        'POST /api/queues/{q}/add',
        'PUT /api/queues/{q}/obliterate',
        'PUT /api/queues/{q}/clean/failed',
        'PUT /api/queues/{q}/pause',
        'PUT /api/queues/{q}/resume',
        'PUT /api/queues/pause',
        'PUT /api/queues/{q}/empty',
        'PUT /api/queues/{q}/promote',
        'PUT /api/queues/{q}/retry/failed',
        'PUT /api/queues/{q}/{job}/retry',
        'PUT /api/queues/{q}/{job}/clean',
        'PUT /api/queues/{q}/{job}/promote',
        'PATCH /api/queues/{q}/{job}/update-data',
      ]) {
        const wanted = expected.replace('{q}', encodeURIComponent(queueName)).replace('{job}', ids[0]);
        expect(routes.map((route) => `${route.method} ${route.path}`)).toContain(wanted);
      }
      await expectEveryOneRefused(system, database, routes);
      expect((await system.client.get(`/v1/deliveries/${ids[0]}`)).body).toMatchObject({ status: 'failed', attemptCount: 1 });
    } finally {
      await system.startWorker();
    }
  });

  it('opens to no one but admins of the default organization: 401 for its other roles and for any other organization', async () => {
    const organizations = new OrganizationRepository(database);
    const operator = await organizations.findCaller(hashApiKey(OPERATOR_KEY));
    if (!operator) throw new Error('the operator key is not stored');
    const viewerKey = 'default-viewer-key-for-board-tests';
    const producerKey = 'default-producer-key-for-board-tests';
    await organizations.addApiKey(operator.organizationId, 'board viewer', 'viewer', viewerKey);
    await organizations.addApiKey(operator.organizationId, 'board producer', 'producer', producerKey);
    const keys = {
      'viewer of the default organization': viewerKey,
      'producer of the default organization': producerKey,
      'admin of another organization': system.organization.adminKey,
      'producer of another organization': system.organization.producerKey,
      'an unknown key': 'no-such-key-for-board-tests-00000',
    };
    for (const [who, key] of Object.entries(keys)) {
      for (const path of ['', '/api/queues']) {
        const answer = await board(system, 'GET', path, { key });
        expect([who, path, answer.status, answer.body]).toEqual([who, path, 401, errorShape(401, 'Unauthorized')]);
      }
      const change = await board(system, 'PUT', '/api/queues/pause', { key });
      expect([who, change.status]).toEqual([who, 401]);
    }
  });
});

describe('Bull Board with DISPATCH_QUEUES_ALLOW_RETRIES=true', () => {
  const system = useSystem({ env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY, DISPATCH_QUEUES_ALLOW_RETRIES: 'true' } });
  const receiver = useReceiver();

  it('shows retry buttons on the destination queues (and none on the maintenance queue)', async () => {
    const { destination } = await deadLetter(system, receiver);
    const { queues } = (await board(system, 'GET', '/api/queues')).body;
    expect(queues.find((queue: Json) => queue.name === destinationQueueName(destination.id))).toMatchObject({ allowRetries: true });
    expect(queues.find((queue: Json) => queue.displayName === 'maintenance (reconciler)')).toMatchObject({ readOnlyMode: true, allowRetries: false });
  });

  it("retries a dead letter as the API does: a manual attempt the receiver gets, the delivery's status in step, audited with the operator's key", async () => {
    const { destination, ids } = await deadLetter(system, receiver);
    const retried = await board(system, 'PUT', `/api/queues/${encodeURIComponent(destinationQueueName(destination.id))}/${ids[0]}/retry`);
    expect(retried.status).toBe(204);
    // Marked for its manual attempt before the board got its answer: no longer a dead letter.
    expect(['pending', 'delivering', 'delivered']).toContain((await system.client.get(`/v1/deliveries/${ids[0]}`)).body.status);
    const delivery = await waitForDelivery(system.client, ids[0], 'delivered');
    expect(delivery.attempts.map((attempt: Json) => [attempt.trigger, attempt.statusCode])).toEqual([
      ['scheduled', 500],
      ['manual', 200],
    ]);
    expect(receiver.requests).toHaveLength(1);
    const audit = (await system.client.get('/v1/audit-log?limit=50')).body.data;
    expect(audit.filter((entry: Json) => entry.target === ids[0])).toEqual([
      { id: expect.any(String), at: expect.any(String), actor: await operatorKeyId(system), action: 'delivery.retry', target: ids[0], details: { via: 'queues' } },
    ]);
  });

  it("retries every dead letter of a queue as a replay of the destination's dead letters, audited with the operator's key", async () => {
    const { destination, ids } = await deadLetter(system, receiver, 2);
    const retried = await board(system, 'PUT', `/api/queues/${encodeURIComponent(destinationQueueName(destination.id))}/retry/failed`);
    expect(retried).toEqual({ status: 200, body: { retried: 2, skipped: 0 } });
    for (const id of ids) {
      const delivery = await waitForDelivery(system.client, id, 'delivered');
      expect(delivery.attempts.map((attempt: Json) => attempt.trigger)).toEqual(['scheduled', 'manual']);
    }
    const audit = (await system.client.get('/v1/audit-log?limit=50')).body.data;
    expect(audit.find((entry: Json) => entry.action === 'deliveries.replay' && entry.details.destinationId === destination.id)).toMatchObject({
      actor: await operatorKeyId(system),
      details: { destinationId: destination.id, statuses: ['failed'], count: 2 },
    });
  });

  it('answers 404 in the API error shape for a job or a queue that is not there, and 400 for retrying completed jobs', async () => {
    const { destination } = await deadLetter(system, receiver);
    const queue = encodeURIComponent(destinationQueueName(destination.id));
    expect(await board(system, 'PUT', `/api/queues/${queue}/dlv_missing/retry`)).toEqual({ status: 404, body: errorShape(404, 'Not Found') });
    expect(await board(system, 'PUT', `/api/queues/${encodeURIComponent('{maintenance}')}/retry/failed`)).toEqual({ status: 404, body: errorShape(404, 'Not Found') });
    expect(await board(system, 'PUT', `/api/queues/${queue}/retry/completed`)).toEqual({ status: 400, body: errorShape(400, 'Bad Request') });
  });

  it('refuses every other change (403), and Redis and the database stay as they were', async () => {
    const { destination, ids } = await deadLetter(system, receiver);
    await system.stopWorker();
    const database = createDatabase(system.config.databaseUrl, { max: 1 });
    try {
      const routes = changingRoutes(system, destinationQueueName(destination.id), ids[0]).filter((route) => !route.path.includes('/retry'));
      expect(routes.length).toBeGreaterThan(10);
      await expectEveryOneRefused(system, database, routes);
    } finally {
      await database.close();
      await system.startWorker();
    }
  });

  it("refuses a retry sent from another site's page (403) and makes no attempt; one from the board's own page goes through", async () => {
    const { destination, ids } = await deadLetter(system, receiver);
    const path = `/api/queues/${encodeURIComponent(destinationQueueName(destination.id))}/${ids[0]}/retry`;
    const host = new URL(system.url).host;
    const foreignPages: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://${host}`, 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of foreignPages) {
      const answer = await board(system, 'PUT', path, { headers });
      expect([headers, answer.status, answer.body]).toEqual([headers, 403, errorShape(403, 'Forbidden')]);
    }
    const crossSitePost = await board(system, 'POST', `/api/queues/${encodeURIComponent(destinationQueueName(destination.id))}/add`, {
      headers: { origin: 'http://evil.example' },
      body: BODIES.add,
    });
    expect(crossSitePost.status).toBe(403);
    expect(crossSitePost.body.message).toContain('http://evil.example');
    // Nor can another organization's admin, from anywhere.
    expect(await board(system, 'PUT', path, { key: system.organization.adminKey })).toEqual({ status: 401, body: errorShape(401, 'Unauthorized') });
    // Nothing was retried: a marker sent afterwards is the only request the receiver gets.
    const marker = await sendEvent(system.client, { type: 'order.created', destinations: [destination.id] });
    await receiver.waitForEvent(marker.id);
    expect(receiver.eventIds()).toEqual([marker.id]);
    expect((await system.client.get(`/v1/deliveries/${ids[0]}`)).body).toMatchObject({ status: 'failed', attemptCount: 1 });

    const sameOrigin = await board(system, 'PUT', path, { headers: { origin: `http://${host}`, 'sec-fetch-site': 'same-origin' } });
    expect(sameOrigin.status).toBe(204);
    await waitForDelivery(system.client, ids[0], 'delivered');
  });
});
