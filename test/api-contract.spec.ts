import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { createDatabase, OrganizationRepository } from '@dispatch/db';
import { generateApiKey, hashApiKey } from '@dispatch/domain';
import { ApiClient, createTestOrganization, createWebhook, Json, ReceivedRequest, sendEvent, TestOrganization, uniqueId, webhookSecret } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

const BOOTSTRAP_KEY = `bootstrap-${randomBytes(12).toString('hex')}`;

/** Verifies a received webhook with a secret; throws when no signature in it was made with that secret. */
const verify = (secret: string, request: ReceivedRequest): unknown => new Webhook(secret).verify(request.body, request.headers as Record<string, string>);

const signatures = (request: ReceivedRequest): string[] => String(request.headers['webhook-signature']).split(' ');

/** What docs/api.md promises about routes, lists and defaults, checked through the API and a receiver. */
describe('API contract (api and worker)', () => {
  const system = useSystem({ env: { DISPATCH_BOOTSTRAP_KEY: BOOTSTRAP_KEY } });
  const receiver = useReceiver();
  let client: ApiClient;

  beforeAll(() => {
    client = system.client;
  });

  /** A new organization and a client with its admin key. */
  async function organization(): Promise<{ org: TestOrganization; admin: ApiClient }> {
    const org = await createTestOrganization(system.config.databaseUrl);
    return { org, admin: client.as(org.adminKey) };
  }

  describe('signing secrets', () => {
    it('rotate-secret with a given secret answers it, and until previousValidUntil each webhook carries a signature with each secret', async () => {
      const destination = await createWebhook(client, `${receiver.url}/hook`);
      const given = webhookSecret();
      const asked = Date.now();
      const rotated = await client.post(`/v1/destinations/${destination.id}/rotate-secret`, { secret: given });
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({ secret: given, previousValidUntil: expect.any(String) });
      // previousValidForSeconds defaults to 86400.
      const until = new Date(rotated.body.previousValidUntil).getTime();
      expect(until).toBeGreaterThanOrEqual(asked + 86_400_000 - 1000);
      expect(until).toBeLessThanOrEqual(Date.now() + 86_400_000 + 1000);
      expect(JSON.stringify((await client.get(`/v1/destinations/${destination.id}`)).body)).not.toContain(given);

      const during = await receiver.waitForEvent((await sendEvent(client, { type: 'rotate.during', destinations: [destination.id] })).id);
      expect(signatures(during)).toHaveLength(2);
      expect(verify(given, during)).toMatchObject({ type: 'rotate.during' });
      expect(verify(destination.secret, during)).toMatchObject({ type: 'rotate.during' });
      expect(() => verify(webhookSecret(), during)).toThrow();

      // A second given secret with no overlap: only it signs from now on.
      const next = webhookSecret();
      const retired = await client.post(`/v1/destinations/${destination.id}/rotate-secret`, { secret: next, previousValidForSeconds: 0 });
      expect(retired.body).toEqual({ secret: next, previousValidUntil: null });
      const after = await receiver.waitForEvent((await sendEvent(client, { type: 'rotate.after', destinations: [destination.id] })).id);
      expect(signatures(after)).toHaveLength(1);
      expect(verify(next, after)).toMatchObject({ type: 'rotate.after' });
      expect(() => verify(given, after)).toThrow();
    });

    it('PATCH replaces config whole; a config.secret in it replaces the secret, and a config without one keeps it', async () => {
      const destination = await createWebhook(client, `${receiver.url}/hook`, { config: { url: `${receiver.url}/hook`, method: 'PUT', headers: { 'x-team': 'a' } } });
      const first = await receiver.waitForEvent((await sendEvent(client, { type: 'config.first', destinations: [destination.id] })).id);
      expect([first.method, first.path, first.headers['x-team']]).toEqual(['PUT', '/hook', 'a']);
      expect(verify(destination.secret, first)).toMatchObject({ type: 'config.first' });

      const secret = webhookSecret();
      const patched = await client.request('PATCH', `/v1/destinations/${destination.id}`, { config: { url: `${receiver.url}/moved`, secret } });
      expect(patched.status).toBe(200);
      // Whole: the method and headers given at creation are gone, back to their defaults.
      expect(patched.body.config).toEqual({ url: `${receiver.url}/moved`, method: 'POST', headers: {} });
      expect(JSON.stringify(patched.body)).not.toContain(secret);
      const second = await receiver.waitForEvent((await sendEvent(client, { type: 'config.second', destinations: [destination.id] })).id);
      expect([second.method, second.path, second.headers['x-team']]).toEqual(['POST', '/moved', undefined]);
      expect(signatures(second)).toHaveLength(1);
      expect(verify(secret, second)).toMatchObject({ type: 'config.second' });
      expect(() => verify(destination.secret, second)).toThrow();

      const kept = await client.request('PATCH', `/v1/destinations/${destination.id}`, { config: { url: `${receiver.url}/third` } });
      expect(kept.body.config).toEqual({ url: `${receiver.url}/third`, method: 'POST', headers: {} });
      const third = await receiver.waitForEvent((await sendEvent(client, { type: 'config.third', destinations: [destination.id] })).id);
      expect(third.path).toBe('/third');
      expect(verify(secret, third)).toMatchObject({ type: 'config.third' });
    });
  });

  describe('Bull Board', () => {
    it('opens /queues to Authorization: Bearer <an admin key of the default organization>, and to no other key of it', async () => {
      const database = createDatabase(system.config.databaseUrl, { max: 1 });
      const keys = { admin: generateApiKey(), producer: generateApiKey(), viewer: generateApiKey() };
      try {
        const organizations = new OrganizationRepository(database);
        // The API made organization `default` with the bootstrap key at start-up; this finds it.
        const { organizationId } = await organizations.ensureBootstrap(BOOTSTRAP_KEY);
        for (const role of ['admin', 'producer', 'viewer'] as const) await organizations.addApiKey(organizationId, `board-${role}`, role, keys[role]);
      } finally {
        await database.close();
      }
      const board = (path: string, key: string) => fetch(`${system.url}${path}`, { headers: { authorization: `Bearer ${key}` } });

      for (const key of [BOOTSTRAP_KEY, keys.admin]) {
        const page = await board('/queues', key);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('<html');
        const listing = await board('/queues/api/queues', key);
        expect(listing.status).toBe(200);
        const names = ((await listing.json()) as { queues: { name: string; displayName?: string }[] }).queues.map((queue) => queue.displayName ?? queue.name);
        expect(names).toContain('maintenance (reconciler)');
      }
      for (const key of [keys.producer, keys.viewer, system.organization.adminKey]) {
        expect((await board('/queues/api/queues', key)).status).toBe(401);
      }
    });
  });

  describe('lists', () => {
    it('deliveries and events come newest first, page by page', async () => {
      const { admin } = await organization();
      const destination = await createWebhook(admin, `${receiver.url}/hook`);
      // Paused, so the deliveries stay as they were made.
      expect((await admin.post(`/v1/destinations/${destination.id}/pause`)).body.paused).toBe(true);
      const sent: { eventId: string; deliveryId: string }[] = [];
      for (let n = 0; n < 12; n += 1) {
        const accepted = await sendEvent(admin, { type: 'list.order', data: { n } });
        sent.push({ eventId: accepted.id, deliveryId: accepted.deliveries[0].id });
      }
      const newestFirst = [...sent].reverse();

      const all = await admin.get('/v1/deliveries?limit=200');
      expect(all.body.data.map((delivery: Json) => delivery.id)).toEqual(newestFirst.map((one) => one.deliveryId));
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Json = (await admin.get(`/v1/deliveries?limit=5${cursor ? `&cursor=${cursor}` : ''}`)).body;
        paged.push(...page.data.map((delivery: Json) => delivery.id));
        cursor = page.nextCursor;
      } while (cursor && paged.length < 100);
      expect(paged).toEqual(newestFirst.map((one) => one.deliveryId));
      expect((await admin.get('/v1/events?limit=200')).body.data.map((event: Json) => event.id)).toEqual(newestFirst.map((one) => one.eventId));
    });

    it('takes limit from 1 to 200, 50 by default; 0 and 201 are a 400 naming limit', async () => {
      const { admin } = await organization();
      const destination = await createWebhook(admin, `${receiver.url}/hook`);
      expect((await admin.post(`/v1/destinations/${destination.id}/pause`)).body.paused).toBe(true);
      for (let n = 0; n < 51; n += 1) await sendEvent(admin, { type: 'list.limit', data: { n } });

      for (const list of ['/v1/events', '/v1/deliveries']) {
        const byDefault = await admin.get(list);
        expect([list, byDefault.status, byDefault.body.data.length, typeof byDefault.body.nextCursor]).toEqual([list, 200, 50, 'string']);
        const rest = await admin.get(`${list}?cursor=${byDefault.body.nextCursor}`);
        expect([list, rest.body.data.length, rest.body.nextCursor]).toEqual([list, 1, null]);
        expect([list, (await admin.get(`${list}?limit=200`)).body.data.length]).toEqual([list, 51]);
        expect([list, (await admin.get(`${list}?limit=1`)).body.data.length]).toEqual([list, 1]);
      }
      for (const list of ['/v1/events', '/v1/deliveries', '/v1/destinations', '/v1/audit-log']) {
        for (const limit of ['0', '201']) {
          const answer = await admin.get(`${list}?limit=${limit}`);
          expect([list, limit, answer.status, answer.body]).toEqual([
            list,
            limit,
            400,
            { ...errorShape(400, 'Bad Request'), message: expect.stringContaining('limit'), details: [{ path: 'query.limit', message: expect.any(String) }] },
          ]);
        }
        expect([list, (await admin.get(`${list}?limit=200`)).status]).toEqual([list, 200]);
      }
    });

    describe('time and type filters', () => {
      let admin: ApiClient;
      /** Three events, accepted one after the other: a1 (filter.a), b (filter.b), a2 (filter.a), each with one delivery. */
      const events: Record<'a1' | 'b' | 'a2', { id: string; receivedAt: string; deliveryId: string; deliveryCreatedAt: string }> = {} as never;

      beforeAll(async () => {
        ({ admin } = await organization());
        const destination = await createWebhook(admin, `${receiver.url}/hook`);
        expect((await admin.post(`/v1/destinations/${destination.id}/pause`)).body.paused).toBe(true);
        for (const [name, type] of [
          ['a1', 'filter.a'],
          ['b', 'filter.b'],
          ['a2', 'filter.a'],
        ] as const) {
          const accepted = await sendEvent(admin, { id: uniqueId(name), type });
          const event = (await admin.get(`/v1/events/${accepted.id}`)).body;
          const delivery = (await admin.get(`/v1/deliveries/${accepted.deliveries[0].id}`)).body;
          events[name] = { id: event.id, receivedAt: event.receivedAt, deliveryId: delivery.id, deliveryCreatedAt: delivery.createdAt };
          // Times are shown to the millisecond: the next event is accepted in a later one.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        expect(new Set(Object.values(events).map((event) => event.receivedAt)).size).toBe(3);
      });

      const eventIds = async (query: string): Promise<string[]> => {
        const answer = await admin.get(`/v1/events?${query}`);
        expect([query, answer.status]).toEqual([query, 200]);
        return answer.body.data.map((event: Json) => event.id);
      };

      const deliveryIds = async (query: string): Promise<string[]> => {
        const answer = await admin.get(`/v1/deliveries?${query}`);
        expect([query, answer.status]).toEqual([query, 200]);
        return answer.body.data.map((delivery: Json) => delivery.id);
      };

      it('GET /v1/events filters by type, since (from, included) and until (before, excluded)', async () => {
        const { a1, b, a2 } = events;
        const at = (time: string) => encodeURIComponent(time);
        expect(await eventIds('')).toEqual([a2.id, b.id, a1.id]);
        expect(await eventIds('type=filter.a')).toEqual([a2.id, a1.id]);
        expect(await eventIds('type=filter.b')).toEqual([b.id]);
        expect(await eventIds(`since=${at(b.receivedAt)}`)).toEqual([a2.id, b.id]);
        expect(await eventIds(`until=${at(b.receivedAt)}`)).toEqual([a1.id]);
        expect(await eventIds(`since=${at(a1.receivedAt)}&until=${at(a2.receivedAt)}`)).toEqual([b.id, a1.id]);
        expect(await eventIds(`type=filter.a&since=${at(b.receivedAt)}`)).toEqual([a2.id]);
        // The same instant with another offset.
        const shifted = new Date(new Date(b.receivedAt).getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00');
        expect(await eventIds(`since=${at(shifted)}`)).toEqual([a2.id, b.id]);
      });

      it('GET /v1/deliveries filters by since (from, included) and until (before, excluded)', async () => {
        const { a1, b, a2 } = events;
        const at = (time: string) => encodeURIComponent(time);
        expect(await deliveryIds('')).toEqual([a2.deliveryId, b.deliveryId, a1.deliveryId]);
        expect(await deliveryIds(`since=${at(b.deliveryCreatedAt)}`)).toEqual([a2.deliveryId, b.deliveryId]);
        expect(await deliveryIds(`until=${at(b.deliveryCreatedAt)}`)).toEqual([a1.deliveryId]);
        expect(await deliveryIds(`since=${at(a1.deliveryCreatedAt)}&until=${at(a2.deliveryCreatedAt)}`)).toEqual([b.deliveryId, a1.deliveryId]);
      });
    });

    it('the audit log is admin-only, and lists operator actions newest first, each with id and at', async () => {
      const { org, admin } = await organization();
      const destination = await createWebhook(admin, `${receiver.url}/hook`);
      await admin.post(`/v1/destinations/${destination.id}/pause`);
      await admin.post(`/v1/destinations/${destination.id}/resume`);
      await admin.request('PATCH', `/v1/destinations/${destination.id}`, { name: 'renamed' });
      await admin.post(`/v1/destinations/${destination.id}/rotate-secret`, {});

      const database = createDatabase(system.config.databaseUrl, { max: 1 });
      const actor = await new OrganizationRepository(database).findCaller(hashApiKey(org.adminKey)).finally(() => database.close());
      const log = await admin.get('/v1/audit-log');
      expect(log.status).toBe(200);
      const entries: Json[] = log.body.data;
      expect(entries.map((entry) => entry.action)).toEqual([
        'destination.rotate-secret',
        'destination.update',
        'destination.resume',
        'destination.pause',
        'destination.create',
      ]);
      for (const entry of entries) {
        expect(entry).toEqual({
          id: expect.any(String),
          at: expect.any(String),
          actor: actor?.apiKeyId,
          action: expect.any(String),
          target: destination.id,
          details: expect.any(Object),
        });
        expect(new Date(entry.at).toISOString()).toBe(entry.at);
      }
      expect(new Set(entries.map((entry) => entry.id)).size).toBe(entries.length);
      const times = entries.map((entry) => new Date(entry.at).getTime());
      expect(times).toEqual([...times].sort((x, y) => y - x));

      const first = await admin.get('/v1/audit-log?limit=2');
      const second = await admin.get(`/v1/audit-log?limit=2&cursor=${first.body.nextCursor}`);
      expect([...first.body.data, ...second.body.data].map((entry: Json) => entry.id)).toEqual(entries.slice(0, 4).map((entry) => entry.id));

      for (const key of [org.producerKey, org.viewerKey]) {
        const refused = await admin.as(key).get('/v1/audit-log');
        expect([refused.status, refused.body]).toEqual([403, errorShape(403, 'Forbidden')]);
      }
    });
  });

  describe('destination defaults', () => {
    it('eventTypes defaults to ["*"]: a destination created without it gets events of every type', async () => {
      const { admin } = await organization();
      const created = await admin.post('/v1/destinations', { name: 'everything', kind: 'webhook', config: { url: `${receiver.url}/hook` } });
      expect(created.status).toBe(201);
      expect(created.body.eventTypes).toEqual(['*']);
      for (const type of ['order.created', 'invoice.line.added', 'ping']) {
        const accepted = await sendEvent(admin, { type });
        expect([type, accepted.deliveries]).toEqual([type, [{ id: expect.any(String), destinationId: created.body.id, status: 'pending' }]]);
        const request = await receiver.waitForEvent(accepted.id);
        expect(verify(created.body.secret, request)).toMatchObject({ type });
      }
    });

    it("sends with the destination's method: PUT is what the receiver sees", async () => {
      const destination = await createWebhook(client, `${receiver.url}/put`, { config: { url: `${receiver.url}/put`, method: 'PUT' } });
      expect(destination.config).toEqual({ url: `${receiver.url}/put`, method: 'PUT', headers: {} });
      const accepted = await sendEvent(client, { type: 'method.put', data: { n: 1 }, destinations: [destination.id] });
      const request = await receiver.waitForEvent(accepted.id);
      expect([request.method, request.path]).toEqual(['PUT', '/put']);
      expect(verify(destination.secret, request)).toEqual({ id: accepted.id, type: 'method.put', timestamp: expect.any(String), data: { n: 1 } });
    });

    it('accepts rateLimit: null (none), on create and to clear a limit', async () => {
      const created = await client.post('/v1/destinations', { name: 'unlimited', kind: 'webhook', config: { url: `${receiver.url}/hook` }, rateLimit: null });
      expect(created.status).toBe(201);
      expect(created.body.rateLimit).toBeNull();
      const limited = await client.request('PATCH', `/v1/destinations/${created.body.id}`, { rateLimit: { max: 5, durationMs: 1000 } });
      expect(limited.body.rateLimit).toEqual({ max: 5, durationMs: 1000, adaptive: false });
      const cleared = await client.request('PATCH', `/v1/destinations/${created.body.id}`, { rateLimit: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body.rateLimit).toBeNull();
      expect((await client.get(`/v1/destinations/${created.body.id}`)).body.rateLimit).toBeNull();
    });
  });
});
