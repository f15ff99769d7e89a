import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DispatchConfig, loadConfig } from '@dispatch/config';
import { generateApiKey, hashApiKey } from '@dispatch/domain';
import { ApiClient, createTestDatabase, createTestOrganization, deleteQueueKeys, Json, uniqueId, uniqueQueuePrefix } from '@dispatch/testing';
import { createApi } from '../apps/api/src/app';
import { errorShape } from './answers';
import { testEnvironment, useSystem } from './system';

/** One more API process of a system: the same database and Redis prefix, its own port and caches. */
async function startApi(config: DispatchConfig): Promise<{ api: NestFastifyApplication; url: string }> {
  const api = await createApi(config);
  await api.listen(0, '127.0.0.1');
  return { api, url: (await api.getUrl()).replace('[::1]', '127.0.0.1') };
}

const OPERATOR_KEY = generateApiKey();

/** The fields of an API key in GET /v1/api-keys, and nothing more. */
const LISTED_FIELDS = ['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role'];

describe('API keys and organizations (api processes, no worker)', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  let admin: ApiClient;
  let operator: ApiClient;

  beforeAll(() => {
    admin = system.client;
    operator = admin.as(OPERATOR_KEY);
  });

  const listed = async (client: ApiClient = admin): Promise<Json[]> => {
    const answer = await client.get('/v1/api-keys');
    expect(answer.status).toBe(200);
    return answer.body.data;
  };

  const auditEntries = async (client: ApiClient = admin): Promise<Json[]> => (await client.get('/v1/audit-log?limit=200')).body.data;

  describe('keys', () => {
    it('creates a key of a role, shown once; lists it with its fields only, never the key or its hash; the key works with its role', async () => {
      const created = await admin.post('/v1/api-keys', { name: 'ci', role: 'producer' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^key_/),
        name: 'ci',
        role: 'producer',
        key: expect.stringMatching(/^dsp_[A-Za-z0-9_-]{32}$/),
        createdAt: expect.any(String),
      });
      const { id, key } = created.body;
      expect(Math.abs(Date.parse(created.body.createdAt) - Date.now())).toBeLessThan(60_000);

      const keys = await listed();
      const entry = keys.find((one) => one.id === id);
      expect(entry).toEqual({ id, name: 'ci', role: 'producer', createdAt: created.body.createdAt, lastUsedAt: null, revokedAt: null });
      for (const one of keys) expect(Object.keys(one).sort()).toEqual(LISTED_FIELDS);
      const text = JSON.stringify(keys);
      expect(text).not.toContain(key);
      expect(text).not.toContain(hashApiKey(key));
      // The test organization's own keys are listed too, and no other organization's.
      expect(keys.map((one) => one.role).sort()).toEqual(['admin', 'producer', 'producer', 'viewer']);
      expect((await listed(operator)).map((one) => one.id)).not.toContain(id);

      const producer = admin.as(key);
      expect((await producer.post('/v1/events', { type: 'made.by.new.key', data: {} })).status).toBe(202);
      const refused = await producer.get('/v1/api-keys');
      expect([refused.status, refused.body]).toEqual([403, errorShape(403, 'Forbidden')]);

      const audit = await auditEntries();
      expect(audit.find((one) => one.target === id)).toMatchObject({ action: 'api-key.create', details: { name: 'ci', role: 'producer' } });
      expect(JSON.stringify(audit)).not.toContain(key);
    });

    it('refuses a bad key with a 400 naming the field, and creates nothing', async () => {
      const before = await listed();
      for (const [body, path] of [
        [{ name: 'x', role: 'owner' }, 'role'],
        [{ name: '', role: 'viewer' }, 'name'],
        [{ name: '   ', role: 'viewer' }, 'name'],
        [{ name: 'a\nb', role: 'viewer' }, 'name'],
        [{ name: 'x'.repeat(101), role: 'viewer' }, 'name'],
        [{ role: 'viewer' }, 'name'],
        [{ name: 'x', role: 'viewer', key: 'dsp_chosen-by-the-caller-000000000' }, ''],
      ] as const) {
        const answer = await admin.post('/v1/api-keys', body);
        expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
        expect(answer.body.details.map((detail: Json) => detail.path)).toEqual([path]);
      }
      expect(await listed()).toEqual(before);
    });

    it('records when a key was last used, to the minute: set at its first use, not rewritten by the next ones within the minute', async () => {
      const { id, key } = (await admin.post('/v1/api-keys', { name: uniqueId('used'), role: 'viewer' })).body;
      expect((await listed()).find((one) => one.id === id).lastUsedAt).toBeNull();
      const before = Date.now();
      expect((await admin.as(key).get('/v1/destinations')).status).toBe(200);
      const { lastUsedAt } = (await listed()).find((one) => one.id === id);
      expect(Date.parse(lastUsedAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(lastUsedAt)).toBeLessThanOrEqual(Date.now());

      // Used again within the minute, on this API process and on another one: not written again
      // (a few milliseconds later, so that a rewrite would show).
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await admin.as(key).get('/v1/events')).status).toBe(200);
      const other = await startApi(system.config);
      try {
        expect((await new ApiClient(other.url, key).get('/v1/events')).status).toBe(200);
      } finally {
        await other.api.close();
      }
      expect((await listed()).find((one) => one.id === id).lastUsedAt).toBe(lastUsedAt);
    });

    it('revokes a key: 204, then 401 at once in this API process and in another one that had it cached, and it is listed as revoked', async () => {
      const other = await startApi(system.config);
      try {
        const { id, key } = (await admin.post('/v1/api-keys', { name: uniqueId('leaked'), role: 'admin' })).body;
        const here = admin.as(key);
        const there = new ApiClient(other.url, key);
        // Both processes have looked the key up (and remember it for a few seconds).
        expect((await here.get('/v1/organization')).status).toBe(200);
        expect((await there.get('/v1/organization')).status).toBe(200);

        const revoked = await admin.request('DELETE', `/v1/api-keys/${id}`);
        expect([revoked.status, revoked.body]).toEqual([204, null]);
        for (const client of [here, there]) {
          const answer = await client.get('/v1/organization');
          expect([answer.status, answer.body]).toEqual([401, { statusCode: 401, error: 'Unauthorized', message: expect.stringContaining('revoked') }]);
        }
        const entry = (await listed()).find((one) => one.id === id);
        expect(Date.parse(entry.revokedAt)).toBeGreaterThan(Date.now() - 60_000);

        // Revoking it again changes nothing, and is not audited twice.
        expect((await admin.request('DELETE', `/v1/api-keys/${id}`)).status).toBe(204);
        expect((await listed()).find((one) => one.id === id)).toEqual(entry);
        expect((await auditEntries()).filter((one) => one.target === id).map((one) => one.action)).toEqual(['api-key.revoke', 'api-key.create']);
        expect((await there.get('/v1/organization')).status).toBe(401);
      } finally {
        await other.api.close();
      }
    });

    it("answers 404 for another organization's key, and the key keeps working", async () => {
      const stranger = await createTestOrganization(system.config.databaseUrl);
      const strangerAdmin = admin.as(stranger.adminKey);
      const theirs = await listed(strangerAdmin);
      for (const key of theirs) {
        const answer = await admin.request('DELETE', `/v1/api-keys/${key.id}`);
        expect([answer.status, answer.body]).toEqual([404, errorShape(404, 'Not Found')]);
      }
      expect((await admin.request('DELETE', '/v1/api-keys/key_does_not_exist')).status).toBe(404);
      const unchanged = (keys: Json[]) => keys.map((key) => ({ id: key.id, revokedAt: key.revokedAt }));
      expect(unchanged(await listed(strangerAdmin))).toEqual(unchanged(theirs));
      expect((await admin.as(stranger.viewerKey).get('/v1/destinations')).status).toBe(200);
    });

    it('refuses to revoke the last admin key of an organization (409), also when two revocations race', async () => {
      const { adminKey } = (await operator.post('/v1/organizations', { name: uniqueId('solo') })).body;
      const solo = admin.as(adminKey);
      const [only] = await listed(solo);
      const refused = await solo.request('DELETE', `/v1/api-keys/${only.id}`);
      expect([refused.status, refused.body]).toEqual([409, { statusCode: 409, error: 'Conflict', message: expect.stringContaining('last admin key') }]);
      expect((await solo.get('/v1/organization')).status).toBe(200);

      // A producer or viewer key is not an admin key: it does not keep the organization's last admin key revocable.
      await solo.post('/v1/api-keys', { name: 'producer', role: 'producer' });
      expect((await solo.request('DELETE', `/v1/api-keys/${only.id}`)).status).toBe(409);

      // With two admin keys revoked at the same moment, one revocation wins and one answers 409.
      for (let round = 0; round < 5; round += 1) {
        const second = (await solo.post('/v1/api-keys', { name: `second-${round}`, role: 'admin' })).body;
        const active = (await listed(solo)).filter((key) => key.role === 'admin' && key.revokedAt === null);
        expect(active).toHaveLength(2);
        const answers = await Promise.all(active.map((key) => admin.as(second.key).request('DELETE', `/v1/api-keys/${key.id}`)));
        expect(answers.map((answer) => answer.status).sort()).toEqual([204, 409]);
        const survivor = active[answers.findIndex((answer) => answer.status === 409)];
        const survivorKey = survivor.id === only.id ? adminKey : second.key;
        const left = (await listed(admin.as(survivorKey))).filter((key) => key.role === 'admin' && key.revokedAt === null);
        expect(left.map((key) => key.id)).toEqual([survivor.id]);
        if (survivor.id === only.id) continue;
        // The first key went: the second is now the organization's only admin key.
        expect((await solo.get('/v1/organization')).status).toBe(401);
        return;
      }
    });
  });

  describe('organizations', () => {
    it('lets an admin of "default" create an organization with an admin key that works, shown once', async () => {
      const name = uniqueId('acme');
      const created = await operator.post('/v1/organizations', { name });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.stringMatching(/^org_/), name, adminKey: expect.stringMatching(/^dsp_/) });
      const acme = admin.as(created.body.adminKey);
      expect((await acme.get('/v1/organization')).body).toEqual({ id: created.body.id, name, role: 'admin' });
      const keys = await listed(acme);
      expect(keys).toEqual([expect.objectContaining({ name: 'admin', role: 'admin', revokedAt: null })]);
      expect((await acme.get('/v1/destinations')).body.data).toEqual([]);

      const audit = await auditEntries(operator);
      expect(audit.find((one) => one.target === created.body.id)).toMatchObject({ action: 'organization.create', details: { name } });
      expect(JSON.stringify(audit)).not.toContain(created.body.adminKey);
    });

    it('answers 409 to a name that exists, and 400 to a bad one; nothing is created', async () => {
      const name = uniqueId('twice');
      expect((await operator.post('/v1/organizations', { name })).status).toBe(201);
      const again = await operator.post('/v1/organizations', { name });
      expect([again.status, again.body]).toEqual([409, errorShape(409, 'Conflict')]);
      for (const body of [{ name: '' }, { name: 'Acme' }, { name: 'a b' }, { name: '-acme' }, { name: 'a'.repeat(64) }, {}, { name: 'ok', plan: 'gold' }]) {
        const answer = await operator.post('/v1/organizations', body);
        expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
        expect(answer.body.details.length).toBeGreaterThan(0);
      }
      expect((await operator.post('/v1/organizations', { name: 'a'.repeat(63) })).status).toBe(201);
      const created = (await auditEntries(operator)).filter((one) => one.action === 'organization.create').map((one) => one.details.name);
      expect(created.filter((one: string) => one === name)).toHaveLength(1);
    });

    it('refuses (403) any other caller: an admin of another organization, a producer or viewer of "default"; nothing is created', async () => {
      const name = uniqueId('refused');
      const operatorOrganization = (await operator.get('/v1/organization')).body;
      expect(operatorOrganization.name).toBe('default');
      const producer = (await operator.post('/v1/api-keys', { name: 'default-producer', role: 'producer' })).body.key;
      const viewer = (await operator.post('/v1/api-keys', { name: 'default-viewer', role: 'viewer' })).body.key;
      for (const key of [system.organization.adminKey, producer, viewer]) {
        const answer = await admin.as(key).post('/v1/organizations', { name });
        expect(answer.status).toBe(403);
        expect(answer.body).toEqual(errorShape(403, 'Forbidden'));
      }
      // A bad body from a caller that may not create organizations is a 403 too.
      expect((await admin.post('/v1/organizations', { name: '' })).status).toBe(403);
      // The name is still free.
      expect((await operator.post('/v1/organizations', { name })).status).toBe(201);
    });

    it("tells any role its own organization's id and name, and the role of the key that asked", async () => {
      const expected = { id: system.organization.organizationId, name: expect.stringMatching(/^org-/) };
      const keys = { admin: system.organization.adminKey, producer: system.organization.producerKey, viewer: system.organization.viewerKey };
      for (const [role, key] of Object.entries(keys)) {
        const answer = await admin.as(key).get('/v1/organization');
        expect([answer.status, answer.body]).toEqual([200, { ...expected, role }]);
      }
      expect((await operator.get('/v1/organization')).body).toEqual({ id: expect.stringMatching(/^org_/), name: 'default', role: 'admin' });
      expect((await admin.as(undefined).get('/v1/organization')).status).toBe(401);
    });
  });

  describe('authentication', () => {
    const basic = (key: string) => `Basic ${Buffer.from(`operator:${key}`).toString('base64')}`;

    it('refuses HTTP Basic auth on /v1 (401, saying so), while Bull Board under /queues still takes it', async () => {
      for (const path of ['/v1/organization', '/v1/destinations', '/v1/api-keys']) {
        const answer = await admin.as(undefined).request('GET', path, undefined, { authorization: basic(OPERATOR_KEY) });
        expect([path, answer.status]).toEqual([path, 401]);
        expect(answer.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: expect.stringContaining('Basic auth is accepted only under /queues') });
      }
      const posted = await admin.as(undefined).request('POST', '/v1/api-keys', { name: 'csrf', role: 'admin' }, { authorization: basic(OPERATOR_KEY) });
      expect(posted.status).toBe(401);
      expect((await listed(operator)).map((key) => key.name)).not.toContain('csrf');

      const board = await fetch(`${system.url}/queues`, { headers: { authorization: basic(OPERATOR_KEY) } });
      expect(board.status).toBe(200);
      expect((await operator.get('/v1/organization')).status).toBe(200);
    });

    it('answers 401 before reading the body: a large malformed body without a valid key is refused as unauthenticated, not parsed', async () => {
      const malformed = `{"type": "a.b", "data": "${'x'.repeat(900 * 1024)}`;
      for (const key of [undefined, generateApiKey()]) {
        const answer = await admin.as(key).request('POST', '/v1/events', malformed, { 'content-type': 'application/json' });
        expect([key ? 'unknown key' : 'no key', answer.status, answer.body]).toEqual([key ? 'unknown key' : 'no key', 401, errorShape(401, 'Unauthorized')]);
      }
      // With a valid key the same body is read, and refused as malformed.
      const parsed = await admin.request('POST', '/v1/events', malformed, { 'content-type': 'application/json' });
      expect([parsed.status, parsed.body.message]).toEqual([400, expect.stringContaining('not valid JSON')]);
      // A route that does not exist under /v1 is no way around it.
      expect((await admin.as(undefined).request('POST', '/v1/nothing-here', malformed, { 'content-type': 'application/json' })).status).toBe(401);
    });
  });
});

describe('the bootstrap key (DISPATCH_BOOTSTRAP_KEY)', () => {
  let database: { url: string; drop: () => Promise<void> };
  const prefix = uniqueQueuePrefix();
  const configWith = (key: string) => loadConfig(testEnvironment({ DATABASE_URL: database.url, DISPATCH_QUEUE_PREFIX: prefix, DISPATCH_BOOTSTRAP_KEY: key }));

  beforeAll(async () => {
    database = await createTestDatabase('bootstrap');
  });

  afterAll(async () => {
    await deleteQueueKeys(prefix);
    await database.drop();
  });

  /** Starts the API with `key` as DISPATCH_BOOTSTRAP_KEY, runs `check` against it, closes it. */
  async function withApi(key: string, check: (client: (key: string) => ApiClient) => Promise<void>): Promise<void> {
    const { api, url } = await startApi(configWith(key));
    try {
      await check((callerKey) => new ApiClient(url, callerKey));
    } finally {
      await api.close();
    }
  }

  it('revokes the key an earlier value made when the value changes; a revoked value stays revoked; several APIs may start at once', async () => {
    const [a, b, c] = [1, 2, 3].map(() => `bootstrap-${randomBytes(12).toString('hex')}`);
    let keyA = '';
    await withApi(a, async (client) => {
      expect((await client(a).get('/v1/organization')).body).toMatchObject({ name: 'default' });
      keyA = (await client(a).get('/v1/api-keys')).body.data[0].id;
    });

    await withApi(b, async (client) => {
      const refused = await client(a).get('/v1/organization');
      expect([refused.status, refused.body]).toEqual([401, errorShape(401, 'Unauthorized')]);
      expect((await client(b).get('/v1/organization')).body).toMatchObject({ name: 'default' });
      const keys = (await client(b).get('/v1/api-keys')).body.data;
      expect(keys).toEqual([
        expect.objectContaining({ id: keyA, role: 'admin', revokedAt: expect.any(String) }),
        expect.objectContaining({ role: 'admin', revokedAt: null }),
      ]);
    });

    // Back to a value that was revoked: it stays revoked, and the key in use is kept.
    await withApi(a, async (client) => {
      expect((await client(a).get('/v1/organization')).status).toBe(401);
      expect((await client(b).get('/v1/organization')).status).toBe(200);
    });

    // Two API processes start together with a new value: one key for it, and b revoked.
    const [first, second] = await Promise.all([startApi(configWith(c)), startApi(configWith(c))]);
    try {
      for (const { url } of [first, second]) {
        expect((await new ApiClient(url, c).get('/v1/organization')).status).toBe(200);
        expect((await new ApiClient(url, b).get('/v1/organization')).status).toBe(401);
      }
      const keys = (await new ApiClient(first.url, c).get('/v1/api-keys')).body.data;
      expect(keys.filter((key: Json) => key.revokedAt === null)).toHaveLength(1);
      expect(keys).toHaveLength(3);
    } finally {
      await Promise.all([first.api.close(), second.api.close()]);
    }
  }, 60_000);
});
