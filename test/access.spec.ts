import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { ApiClient, createTestOrganization, createWebhook, Json, sendEvent, TestOrganization, webhookDestination, webhookSecret } from '@dispatch/testing';
import { errorShape } from './answers';
import { useReceiver, useSystem } from './system';

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * Who may do what, and who may see what (docs/api.md, "Auth and errors"): a key belongs to one
 * organization; `admin` does everything, `producer` sends events and reads its organization's
 * data, `viewer` reads; wrong role: 403; another organization's object: 404; only the SHA-256
 * of a key is stored. No worker runs, so nothing moves unless a request moves it.
 */
describe('access: organizations and roles (api process, no worker)', () => {
  const system = useSystem({ worker: false });
  const receiver = useReceiver();
  let admin: ApiClient;

  /** The organization's objects the tests try to reach: a destination, a paused one, an event, its delivery, a replay. */
  let destination: Json;
  let secret: string;
  let paused: Json;
  let eventId: string;
  let deliveryId: string;
  let replayId: string;

  beforeAll(async () => {
    admin = system.client;
    secret = webhookSecret();
    destination = await createWebhook(admin, `${receiver.url}/hook`, { eventTypes: ['access.*'], config: { url: `${receiver.url}/hook`, secret } });
    paused = await createWebhook(admin, `${receiver.url}/hook`, { eventTypes: ['held.*'] });
    expect((await admin.post(`/v1/destinations/${paused.id}/pause`)).body.paused).toBe(true);
    eventId = `evt_access_${randomBytes(4).toString('hex')}`;
    const accepted = await sendEvent(admin, { id: eventId, type: 'access.checked', data: { n: 1 } });
    expect(accepted.deliveries.map((d: Json) => d.destinationId)).toEqual([destination.id]);
    deliveryId = accepted.deliveries[0].id;
    const replay = await admin.post('/v1/deliveries/retry', { destinationId: destination.id, status: 'pending' });
    expect(replay.status).toBe(202);
    expect(replay.body.count).toBe(1);
    replayId = replay.body.replayId;
  });

  const keyOf = (organization: TestOrganization, role: 'producer' | 'viewer'): string => (role === 'producer' ? organization.producerKey : organization.viewerKey);

  describe("another organization's objects", () => {
    let stranger: ApiClient;

    beforeAll(async () => {
      stranger = admin.as((await createTestOrganization(system.config.databaseUrl)).adminKey);
    });

    it('answer 404 to its admin: event, delivery, retry, cancel, replay; and the objects are unchanged', async () => {
      const before = (await admin.get(`/v1/deliveries/${deliveryId}`)).body;
      // Its own organization reaches every one of them.
      expect((await admin.get(`/v1/events/${eventId}`)).status).toBe(200);
      expect(before).toMatchObject({ id: deliveryId, status: 'pending' });
      expect((await admin.get(`/v1/replays/${replayId}`)).status).toBe(200);

      const answers = {
        event: await stranger.get(`/v1/events/${eventId}`),
        delivery: await stranger.get(`/v1/deliveries/${deliveryId}`),
        retry: await stranger.post(`/v1/deliveries/${deliveryId}/retry`),
        cancel: await stranger.post(`/v1/deliveries/${deliveryId}/cancel`),
        replay: await stranger.get(`/v1/replays/${replayId}`),
      };
      for (const [what, answer] of Object.entries(answers)) {
        expect([what, answer.status, answer.body]).toEqual([what, 404, errorShape(404, 'Not Found')]);
      }
      expect((await admin.get(`/v1/deliveries/${deliveryId}`)).body).toEqual(before);
    });

    it('lists come back empty to its admin, also when filtered by its ids, and bulk actions select none of its deliveries', async () => {
      for (const path of [
        '/v1/events',
        `/v1/events?type=access.checked`,
        '/v1/deliveries',
        `/v1/deliveries?destinationId=${destination.id}`,
        `/v1/deliveries?eventId=${eventId}`,
        '/v1/replays',
        '/v1/destinations',
        '/v1/audit-log',
        '/v1/ingest/rejected',
      ]) {
        const answer = await stranger.get(path);
        expect([path, answer.status, answer.body]).toEqual([path, 200, { data: [], nextCursor: null }]);
      }
      // The same lists are not empty to the organization itself.
      expect((await admin.get(`/v1/deliveries?eventId=${eventId}`)).body.data.map((d: Json) => d.id)).toEqual([deliveryId]);

      const before = (await admin.get(`/v1/deliveries/${deliveryId}`)).body;
      const selection = { destinationId: destination.id, status: 'pending' };
      expect((await stranger.post('/v1/deliveries/retry', { ...selection, dryRun: true })).body).toEqual({ count: 0, bytes: 0, destinations: [] });
      expect((await stranger.post('/v1/deliveries/cancel', { ...selection, dryRun: true })).body).toEqual({ count: 0 });
      expect((await stranger.post('/v1/deliveries/cancel', selection)).body).toEqual({ count: 0 });
      expect((await admin.get(`/v1/deliveries/${deliveryId}`)).body).toEqual(before);
      expect((await admin.post('/v1/deliveries/cancel', { ...selection, dryRun: true })).body).toEqual({ count: 1 });
    });
  });

  describe('roles', () => {
    /** Everything an admin can see of the organization: a forbidden request must leave all of it as it was. */
    async function state(): Promise<Json> {
      const read = async (path: string) => {
        const answer = await admin.get(path);
        expect([path, answer.status]).toEqual([path, 200]);
        return answer.body.data;
      };
      return {
        destinations: await read('/v1/destinations?limit=200'),
        events: await read('/v1/events?limit=200'),
        deliveries: await read('/v1/deliveries?limit=200'),
        replays: await read('/v1/replays'),
        audit: await read('/v1/audit-log?limit=200'),
      };
    }

    /**
     * The destination still signs with its one secret, and nothing was sent to the receiver but
     * the admin's own test webhook, which is the marker: a forbidden `test` would have been
     * answered only after its webhook was.
     */
    async function stillSignsAloneAndSentNothing(): Promise<void> {
      const tested = await admin.post(`/v1/destinations/${destination.id}/test`);
      expect(tested.body).toMatchObject({ ok: true, statusCode: 200 });
      expect(receiver.requests).toHaveLength(1);
      const [request] = receiver.requests;
      expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(new Webhook(secret).verify(request.body, request.headers as Record<string, string>)).toMatchObject({ type: 'dispatch.test' });
    }

    // Every admin-only route of docs/api.md, with a body that would change something.
    const adminOnly: { route: string; method: string; path: () => string; body?: () => unknown }[] = [
      { route: 'POST /v1/destinations', method: 'POST', path: () => '/v1/destinations', body: () => webhookDestination(`${receiver.url}/hook`) },
      {
        route: 'PATCH /v1/destinations/:id',
        method: 'PATCH',
        path: () => `/v1/destinations/${destination.id}`,
        body: () => ({ name: 'taken-over', eventTypes: ['other.*'], config: { url: `${receiver.url}/elsewhere`, secret: webhookSecret() } }),
      },
      { route: 'DELETE /v1/destinations/:id', method: 'DELETE', path: () => `/v1/destinations/${destination.id}` },
      { route: 'POST /v1/destinations/:id/pause', method: 'POST', path: () => `/v1/destinations/${destination.id}/pause`, body: () => ({}) },
      { route: 'POST /v1/destinations/:id/resume', method: 'POST', path: () => `/v1/destinations/${paused.id}/resume`, body: () => ({}) },
      { route: 'POST /v1/destinations/:id/test', method: 'POST', path: () => `/v1/destinations/${destination.id}/test`, body: () => ({}) },
      {
        route: 'POST /v1/destinations/:id/rotate-secret',
        method: 'POST',
        path: () => `/v1/destinations/${destination.id}/rotate-secret`,
        body: () => ({ secret: webhookSecret() }),
      },
      { route: 'POST /v1/deliveries/:id/retry', method: 'POST', path: () => `/v1/deliveries/${deliveryId}/retry`, body: () => ({}) },
      { route: 'POST /v1/deliveries/:id/cancel', method: 'POST', path: () => `/v1/deliveries/${deliveryId}/cancel`, body: () => ({}) },
      { route: 'POST /v1/deliveries/retry', method: 'POST', path: () => '/v1/deliveries/retry', body: () => ({ destinationId: destination.id, status: 'pending' }) },
      { route: 'POST /v1/deliveries/cancel', method: 'POST', path: () => '/v1/deliveries/cancel', body: () => ({ destinationId: destination.id }) },
      { route: 'GET /v1/audit-log', method: 'GET', path: () => '/v1/audit-log' },
      { route: 'GET /v1/ingest/rejected', method: 'GET', path: () => '/v1/ingest/rejected' },
    ];

    describe.each(['producer', 'viewer'] as const)('a %s key', (role) => {
      it.each(adminOnly.map((entry) => [entry.route, entry] as const))('gets 403 from %s, and nothing changes', async (_route, entry) => {
        const before = await state();
        const answer = await admin.as(keyOf(system.organization, role)).request(entry.method, entry.path(), entry.body?.());
        // What changed first (it names the damage if the guard let the request through), then the answer.
        const after = await state();
        expect(after).toEqual(before);
        expect(after.destinations.find((d: Json) => d.id === destination.id)).toMatchObject({ name: destination.name, paused: false, enabled: true });
        expect(after.destinations.find((d: Json) => d.id === paused.id)).toMatchObject({ paused: true });
        expect(after.deliveries.find((d: Json) => d.id === deliveryId)).toMatchObject({ status: 'pending' });
        await stillSignsAloneAndSentNothing();
        expect(answer.status).toBe(403);
        expect(answer.body).toEqual(errorShape(403, 'Forbidden'));
      });
    });

    it.each(['producer', 'viewer'] as const)("a %s key reads its organization's destinations, events, deliveries and replays as an admin sees them", async (role) => {
      const reader = admin.as(keyOf(system.organization, role));
      for (const path of [
        '/v1/destinations?limit=200',
        `/v1/destinations/${destination.id}`,
        '/v1/events?limit=200',
        `/v1/events/${eventId}`,
        '/v1/deliveries?limit=200',
        `/v1/deliveries/${deliveryId}`,
        '/v1/replays',
        `/v1/replays/${replayId}`,
      ]) {
        const [asAdmin, asReader] = [await admin.get(path), await reader.get(path)];
        expect([path, asReader.status]).toEqual([path, 200]);
        expect(asReader.body).toEqual(asAdmin.body);
      }
      expect((await reader.get(`/v1/events/${eventId}`)).body).toMatchObject({ id: eventId, deliveries: [{ id: deliveryId }] });
      expect((await reader.get(`/v1/replays/${replayId}`)).body).toMatchObject({ id: replayId, total: 1 });
    });

    it('a producer key sends events and a viewer key may not', async () => {
      const producer = admin.as(system.organization.producerKey);
      const viewer = admin.as(system.organization.viewerKey);
      const id = `evt_by_producer_${randomBytes(4).toString('hex')}`;
      expect((await producer.post('/v1/events', { id, type: 'produced.by.key', data: {} })).status).toBe(202);
      expect((await admin.get(`/v1/events/${id}`)).body).toMatchObject({ id, type: 'produced.by.key' });
      const refused = await viewer.post('/v1/events', { id: `${id}_viewer`, type: 'produced.by.key', data: {} });
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual(errorShape(403, 'Forbidden'));
      expect((await admin.get(`/v1/events/${id}_viewer`)).status).toBe(404);
    });
  });

  it('stores only the SHA-256 of each key (hex): no column of api_keys, nor any row of any table, holds a key', async () => {
    const other = await createTestOrganization(system.config.databaseUrl);
    const keys = [system.organization, other].flatMap((organization) => [
      { organizationId: organization.organizationId, role: 'admin', key: organization.adminKey },
      { organizationId: organization.organizationId, role: 'producer', key: organization.producerKey },
      { organizationId: organization.organizationId, role: 'viewer', key: organization.viewerKey },
    ]);
    // Every key works, so each is stored in some form.
    for (const { key } of keys) expect((await admin.as(key).get('/v1/destinations')).status).toBe(200);

    const database = new Client({ connectionString: system.config.databaseUrl });
    await database.connect();
    try {
      const { rows, fields } = await database.query('SELECT * FROM api_keys');
      expect(fields.map((field) => field.name)).toContain('hash');
      for (const { organizationId, role, key } of keys) {
        for (const row of rows) {
          for (const field of fields) expect([field.name, String(row[field.name])]).not.toEqual([field.name, expect.stringContaining(key)]);
        }
        const stored = rows.filter((row) => row.hash === sha256Hex(key));
        expect(stored).toHaveLength(1);
        expect(stored[0]).toMatchObject({ organization_id: organizationId, role });
      }

      const { rows: tables } = await database.query<{ name: string }>(
        `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
      );
      expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['api_keys', 'organizations', 'audit_entries']));
      for (const { name } of tables) {
        const { rows: texts } = await database.query<{ text: string }>(`SELECT t::text AS text FROM "${name}" t`);
        for (const { key } of keys) expect([name, texts.filter((row) => row.text.includes(key)).length]).toEqual([name, 0]);
      }
    } finally {
      await database.end();
    }
  });

  it('takes an event id as unique per organization: the same id from two organizations makes two events, each seen only by its own', async () => {
    const id = `evt_shared_${randomBytes(4).toString('hex')}`;
    const other = await createTestOrganization(system.config.databaseUrl);
    const otherAdmin = admin.as(other.adminKey);
    const ours = await createWebhook(admin, `${receiver.url}/hook`, { eventTypes: ['shared.*'] });
    const theirs = await createWebhook(otherAdmin, `${receiver.url}/hook`, { eventTypes: ['shared.*'] });

    const first = await admin.post('/v1/events', { id, type: 'shared.created', data: { from: 'ours' } });
    const second = await otherAdmin.post('/v1/events', { id, type: 'shared.created', data: { from: 'theirs' } });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(first.body.deliveries).toEqual([{ id: expect.any(String), destinationId: ours.id, status: 'pending' }]);
    expect(second.body.deliveries).toEqual([{ id: expect.any(String), destinationId: theirs.id, status: 'pending' }]);
    expect(second.body.deliveries[0].id).not.toBe(first.body.deliveries[0].id);

    expect((await admin.get(`/v1/events/${id}`)).body).toMatchObject({
      id,
      data: { from: 'ours' },
      deliveries: [{ id: first.body.deliveries[0].id, destinationId: ours.id }],
    });
    expect((await otherAdmin.get(`/v1/events/${id}`)).body).toMatchObject({
      id,
      data: { from: 'theirs' },
      deliveries: [{ id: second.body.deliveries[0].id, destinationId: theirs.id }],
    });
    const listed = async (client: ApiClient) => (await client.get('/v1/events?type=shared.created&limit=200')).body.data.filter((event: Json) => event.id === id);
    expect(await listed(admin)).toEqual([expect.objectContaining({ data: { from: 'ours' } })]);
    expect(await listed(otherAdmin)).toEqual([expect.objectContaining({ data: { from: 'theirs' } })]);

    // Within one organization the id stays unique: sent again, it is the same event.
    const again = await otherAdmin.post('/v1/events', { id, type: 'shared.created', data: { from: 'theirs, again' } });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(second.body);
  });
});
