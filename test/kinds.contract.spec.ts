import { existsSync } from 'node:fs';
import path from 'node:path';
import IORedis from 'ioredis';
import { destinationKinds, EgressGuard, findKind } from '@dispatch/destinations';
import { generateSigningSecret, retryPolicySchema } from '@dispatch/domain';
import { emptyFileStore, Json, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import type { ContractPeer, KindContract } from '../libs/destinations/src/kind.contract';
import { freePort as closedPort, LOOPBACK_ALLOWED } from './processes';
import { useSystem } from './system';

/** The contract of `kind`, from `<kind>/<kind>.contract.ts` in its folder. */
function contractOf(kind: string): KindContract {
  const file = path.join(__dirname, '..', 'libs', 'destinations', 'src', kind, `${kind}.contract.ts`);
  if (!existsSync(file)) throw new Error(`kind "${kind}" has no contract fixture at ${file}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(file) as { contract: KindContract }).contract;
}

/** Everything a process writes to its stdout and stderr while it is on. */
function captureOutput(): { text: () => string; stop: () => void } {
  const chunks: string[] = [];
  const spies = [process.stdout, process.stderr].map((stream) =>
    jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }),
  );
  return { text: () => chunks.join(''), stop: () => spies.forEach((spy) => spy.mockRestore()) };
}

describe('GET /v1/destination-kinds', () => {
  const system = useSystem({ worker: false });

  it('lists every registered kind with the JSON Schema of its config and its secret fields', async () => {
    const answer = await system.client.as(system.organization.viewerKey).get('/v1/destination-kinds');
    expect(answer.status).toBe(200);
    expect(answer.body.data.map((kind: Json) => kind.kind)).toEqual(destinationKinds.map((kind) => kind.kind));
    for (const kind of answer.body.data) {
      expect(kind).toEqual({ kind: expect.any(String), configSchema: expect.any(Object), secretFields: expect.any(Array) });
      // One object, or several told apart by one property (a form each in the admin app).
      const forms: Json[] = kind.configSchema.oneOf ?? kind.configSchema.anyOf ?? [kind.configSchema];
      for (const form of forms) expect(form).toEqual(expect.objectContaining({ type: 'object', properties: expect.any(Object) }));
    }
    // The OpenAPI document describes a destination's config by each kind's schema.
    const docs = (await system.client.get('/docs-json')).body;
    const body = docs.paths['/v1/destinations'].post.requestBody.content['application/json'].schema;
    expect(body.properties.config.oneOf.map((config: Json) => config.title)).toEqual(destinationKinds.map((kind) => `${kind.kind} config`));
    expect(body.properties.kind.enum).toEqual(destinationKinds.map((kind) => kind.kind));

    const created = await system.client.post('/v1/destinations', { name: 'nope', kind: 'carrier-pigeon', config: {} });
    expect(created.status).toBe(400);
    expect(created.body.details).toEqual([{ path: 'kind', message: expect.stringContaining('not available') }]);
  });
});

describe.each(destinationKinds.map((kind) => [kind.kind]))('the %s kind keeps the kind contract', (kind) => {
  // Logs at every level, so the check that no credential is logged sees everything.
  const system = useSystem({ env: { LOG_LEVEL: 'verbose', DISPATCH_RECONCILE_MS: '10000' } });
  const contract = contractOf(kind);
  let peer: ContractPeer;
  let redis: IORedis;

  beforeAll(async () => {
    peer = await contract.startPeer({ url: system.url, client: system.client });
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(async () => {
    redis.disconnect();
    await peer.close();
  });

  const create = (config: Record<string, unknown>, overrides: Record<string, unknown> = {}) =>
    system.client.post('/v1/destinations', { name: uniqueId(kind), kind, config, eventTypes: [`${uniqueId('contract')}.*`], ...overrides });

  it('accepts a valid config and refuses an invalid one with a 400 naming each field, writing nothing', async () => {
    const before = (await system.client.get('/v1/destinations?limit=200')).body.data.length;
    expect((await create(contract.validConfig(peer))).status).toBe(201);
    const refused = await create(contract.invalidConfig.config);
    expect(refused.status).toBe(400);
    expect(refused.body.details.map((detail: Json) => detail.path).sort()).toEqual(contract.invalidConfig.paths.map((field) => `config.${field}`).sort());
    expect((await system.client.get('/v1/destinations?limit=200')).body.data.length).toBe(before + 1);
  });

  // A kind that opens no connection (a download link) has no host to refuse and no peer to miss.
  const blocked = contract.blockedConfig;
  const unreachableConfig = contract.unreachableConfig;

  if (blocked !== null)
    it('refuses a config whose host is a literal address the egress guard refuses, on create and update: a 400 naming each field and how to allow it, writing nothing', async () => {
      const paths = blocked.paths.map((field) => `config.${field}`).sort();
      const before = (await system.client.get('/v1/destinations?limit=200')).body.data.length;
      const refused = await create(blocked.config);
      expect(refused.status).toBe(400);
      expect(refused.body.details.map((detail: Json) => detail.path).sort()).toEqual(paths);
      for (const detail of refused.body.details) expect(detail.message).toMatch(/not an allowed address.*DISPATCH_EGRESS_ALLOW/);
      expect((await system.client.get('/v1/destinations?limit=200')).body.data.length).toBe(before);

      const existing = (await create(contract.validConfig(peer))).body;
      const patched = await system.client.request('PATCH', `/v1/destinations/${existing.id}`, { config: blocked.config });
      expect(patched.status).toBe(400);
      expect(patched.body.details.map((detail: Json) => detail.path).sort()).toEqual(paths);
      expect((await system.client.get(`/v1/destinations/${existing.id}`)).body.config).toEqual(existing.config);
    });

  if (unreachableConfig !== null)
    it('connects only through the egress guard: its sender refuses a peer on loopback when loopback is not allowed, and reaches it when it is', async () => {
      const kindOf = findKind(kind)!;
      const attempt = (egress: EgressGuard) => {
        const sender = kindOf.createSender({ timeoutMs: 5_000, replyMaxBytes: 4_096, egress, files: emptyFileStore() });
        const eventId = uniqueId('evt_guarded');
        const request = {
          destinationId: uniqueId('dst_guarded'),
          organizationId: uniqueId('org_guarded'),
          config: kindOf.configSchema.parse(contract.validConfig(peer)),
          secrets: kindOf.signsWithSecret ? [generateSigningSecret()] : [],
          retryPolicy: retryPolicySchema.parse({}),
          deliveryId: uniqueId('dlv_guarded'),
          attemptNumber: 1,
          event: { id: eventId, type: 'contract.guarded', data: {}, receivedAt: new Date() },
        };
        return sender
          .send(request, AbortSignal.timeout(5_000))
          .then((result) => ({ eventId, result }))
          .finally(() => sender.close());
      };
      const refused = await attempt(new EgressGuard([]));
      expect(refused.result).toMatchObject({ verdict: 'transient', error: expect.stringMatching(/not an allowed address.*DISPATCH_EGRESS_ALLOW/) });
      const allowed = await attempt(new EgressGuard(LOOPBACK_ALLOWED.split(',')));
      expect(allowed.result.verdict).toBe('delivered');
      // The allowed attempt is a barrier: the refused one reached the peer before it or not at all.
      await peer.waitForEvent(allowed.eventId, 10_000);
      await expect(peer.waitForEvent(refused.eventId, 0)).rejects.toThrow();
    });

  it('delivers to a live peer', async () => {
    const destination = (await create(contract.validConfig(peer))).body;
    const eventId = uniqueId('evt_contract');
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'contract.delivered', destinations: [destination.id] })).deliveries[0].id;
    await peer.waitForEvent(eventId, 10_000);
    const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
    expect(delivered.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'delivered', error: null })]);
  });

  if (unreachableConfig !== null)
    it('fails transiently against an unreachable peer: the attempt records the error, and the delivery waits to retry', async () => {
      const destination = (await create(unreachableConfig(await closedPort()), { retryPolicy: { maxAttempts: 3, schedule: [60_000], jitter: 0 } })).body;
      const deliveryId = (await sendEvent(system.client, { type: 'contract.unreachable', destinations: [destination.id] })).deliveries[0].id;
      const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
      expect(retrying.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'retry', statusCode: null, error: expect.any(String) })]);
      expect(retrying.lastError).toBe(retrying.attempts[0].error);
    });

  it('never shows its credentials after creation: not in answers, logs or job data', async () => {
    const output = captureOutput();
    try {
      const { config, secrets } = contract.credentials(peer);
      const created = await create(config);
      expect(created.status).toBe(201);
      const eventId = uniqueId('evt_secret');
      const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'contract.secret', destinations: [created.body.id] })).deliveries[0].id;
      await waitForDelivery(system.client, deliveryId, 'delivered');
      await system.client.post(`/v1/destinations/${created.body.id}/test`);

      const answers = [
        await system.client.get(`/v1/destinations/${created.body.id}`),
        await system.client.get('/v1/destinations?limit=200'),
        await system.client.get(`/v1/deliveries/${deliveryId}`),
        await system.client.get('/v1/audit-log?limit=200'),
        await system.client.request('PATCH', `/v1/destinations/${created.body.id}`, { name: 'renamed' }),
      ].map((answer) => JSON.stringify(answer.body));
      const jobs: string[] = [];
      for (const key of await redis.keys(`${system.config.queuePrefix}:{${created.body.id}}:*`)) {
        if ((await redis.type(key)) === 'hash') jobs.push(JSON.stringify(await redis.hgetall(key)));
      }
      const logs = output.text();
      expect(logs).toContain(created.body.id); // the capture sees the logs that name the destination
      for (const secret of secrets) {
        for (const answer of answers) expect(answer).not.toContain(secret);
        for (const job of jobs) expect(job).not.toContain(secret);
        expect(logs).not.toContain(secret);
      }
    } finally {
      output.stop();
    }
  });
});
