import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { promisify } from 'node:util';
import IORedis from 'ioredis';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '@dispatch/config';
import { applyMigrations, defaultMigrationsDir } from '@dispatch/db';
import { encryptionKeyId, SecretBox } from '@dispatch/domain';
import { createWebhook, eventually, Json, ReceivedRequest, sendEvent, testSecretBox, uniqueId, waitForDelivery, webhookSecret } from '@dispatch/testing';
import { createWorker } from '../apps/worker/src/worker';
import { spawnApp } from './processes';
import { testEnvironment, useReceiver, useSystem } from './system';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const MASKED = '********';

const verify = (secret: string, request: ReceivedRequest): unknown => new Webhook(secret).verify(request.body, request.headers as Record<string, string>);

/** A value no other test writes, recognisable in a dump. */
const credential = (name: string) => `${name}-${randomBytes(12).toString('hex')}`;

/** Every credential a webhook destination can hold, with known values. */
function credentials() {
  return {
    secret: webhookSecret(),
    authorization: `Bearer ${credential('auth')}`,
    cookie: `session=${credential('cookie')}`,
    apiKey: credential('apikey'),
    signatureKey: credential('sigkey'),
  };
}

type Credentials = ReturnType<typeof credentials>;

/** The config that holds them: the usual credential headers, one named in secretHeaders, and a plain header. */
function configWith(url: string, given: Credentials): Record<string, unknown> {
  return {
    url,
    secret: given.secret,
    headers: { Authorization: given.authorization, Cookie: given.cookie, 'x-api-key': given.apiKey, 'X-Signature-Key': given.signatureKey, 'x-team': 'blue' },
    secretHeaders: ['x-signature-key'],
  };
}

/** The texts that must never show: every value, and the base64 key inside each whsec_ secret. */
function needles(given: Credentials, ...signingSecrets: string[]): string[] {
  const secrets = [given.secret, ...signingSecrets];
  return [given.authorization, given.cookie, given.apiKey, given.signatureKey, ...secrets, ...secrets.map((secret) => secret.slice('whsec_'.length))];
}

/** Every Redis key under the system's queue prefix, with its value as text. */
async function redisContents(redis: IORedis, prefix: string): Promise<Map<string, string>> {
  const contents = new Map<string, string>();
  for (const key of await redis.keys(`${prefix}:*`)) {
    const type = await redis.type(key);
    const value =
      type === 'hash'
        ? await redis.hgetall(key)
        : type === 'string'
          ? await redis.get(key)
          : type === 'list'
            ? await redis.lrange(key, 0, -1)
            : type === 'set'
              ? await redis.smembers(key)
              : type === 'zset'
                ? await redis.zrange(key, 0, -1)
                : type === 'stream'
                  ? await redis.xrange(key, '-', '+')
                  : type;
    contents.set(key, JSON.stringify(value));
  }
  return contents;
}

async function query<T>(databaseUrl: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

type StoredRow = { secret: string | null; previous_secret: string | null; config: { headers: Record<string, string> } };

const storedRow = async (databaseUrl: string, id: string) =>
  (await query<StoredRow>(databaseUrl, 'SELECT secret, previous_secret, config FROM destinations WHERE id = $1', [id]))[0];

describe('secrets at rest and in answers', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let redis: IORedis;

  beforeAll(() => {
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(() => redis.disconnect());

  it('a pg_dump of the database and the Redis keys hold none of the secrets in clear text, and webhooks still carry them', async () => {
    const given = credentials();
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { config: configWith(`${receiver.url}/hook`, given) });
    const next = webhookSecret();
    const rotated = await system.client.post(`/v1/destinations/${destination.id}/rotate-secret`, { secret: next, previousValidForSeconds: 3600 });
    expect(rotated.status).toBe(200);

    const eventId = uniqueId('evt_at_rest');
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'secrets.at-rest', destinations: [destination.id] })).deliveries[0].id;
    const request = await receiver.waitForEvent(eventId);
    await waitForDelivery(system.client, deliveryId, 'delivered');
    // The receiver gets the real values, signed with the new secret and the previous one.
    expect(request.headers).toMatchObject({
      authorization: given.authorization,
      cookie: given.cookie,
      'x-api-key': given.apiKey,
      'x-signature-key': given.signatureKey,
      'x-team': 'blue',
    });
    expect(verify(next, request)).toMatchObject({ type: 'secrets.at-rest' });
    expect(verify(given.secret, request)).toMatchObject({ type: 'secrets.at-rest' });
    expect((await system.client.post(`/v1/destinations/${destination.id}/test`)).body).toMatchObject({ ok: true });

    const { stdout: dump } = await run('/usr/bin/pg_dump', ['--no-owner', system.config.databaseUrl], { maxBuffer: 64 * 1024 * 1024 });
    expect(dump).toContain(destination.id); // the dump holds the destination
    expect(dump).toContain('sealed:v1:');
    const keys = await redisContents(redis, system.config.queuePrefix);
    expect([...keys.values()].some((value) => value.includes(deliveryId))).toBe(true); // and the scan sees its queue's events
    for (const needle of needles(given, next)) {
      expect(dump).not.toContain(needle);
      for (const [key, value] of keys) expect(`${key} ${value}`).not.toContain(needle);
    }
  });

  it('answers show every credential as "********" to every role (GET, list, create, PATCH); other headers as they are', async () => {
    const given = credentials();
    const created = await system.client.post('/v1/destinations', { name: uniqueId('masked'), kind: 'webhook', config: configWith(`${receiver.url}/hook`, given) });
    expect(created.status).toBe(201);
    // The 201 carries the signing secret given, once; its config shows no credential.
    expect(created.body.secret).toBe(given.secret);
    const masked = {
      url: `${receiver.url}/hook`,
      method: 'POST',
      headers: { Authorization: MASKED, Cookie: MASKED, 'x-api-key': MASKED, 'X-Signature-Key': MASKED, 'x-team': 'blue' },
      secretHeaders: ['x-signature-key'],
    };
    expect(created.body.config).toEqual(masked);
    const id = created.body.id;
    const patched = await system.client.request('PATCH', `/v1/destinations/${id}`, { name: 'renamed' });
    expect(patched.body.config).toEqual(masked);
    for (const key of [system.organization.viewerKey, system.organization.producerKey, system.organization.adminKey]) {
      const client = system.client.as(key);
      expect((await client.get(`/v1/destinations/${id}`)).body.config).toEqual(masked);
      const listed = (await client.get('/v1/destinations?limit=200')).body.data.find((destination: Json) => destination.id === id);
      expect(listed.config).toEqual(masked);
    }
    const kinds = (await system.client.as(system.organization.viewerKey).get('/v1/destination-kinds')).body.data;
    expect(kinds.find((kind: Json) => kind.kind === 'webhook').secretFields).toEqual([
      'secret',
      'headers.authorization',
      'headers.proxy-authorization',
      'headers.cookie',
      'headers.x-api-key',
    ]);
  });

  it('a PATCH that sends "********" back keeps each stored value; one that leaves a header out removes it; the signing secret stays', async () => {
    const given = credentials();
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { config: configWith(`${receiver.url}/hook`, given) });
    const kept = await system.client.request('PATCH', `/v1/destinations/${destination.id}`, {
      config: {
        url: `${receiver.url}/moved`,
        secret: MASKED,
        // A header's name may change case; "********" still keeps its value.
        headers: { authorization: MASKED, Cookie: MASKED, 'X-Signature-Key': MASKED, 'x-team': 'green' },
        secretHeaders: ['x-signature-key'],
      },
    });
    expect(kept.status).toBe(200);
    expect(kept.body.config.headers).toEqual({ authorization: MASKED, Cookie: MASKED, 'X-Signature-Key': MASKED, 'x-team': 'green' });

    const eventId = uniqueId('evt_kept');
    await sendEvent(system.client, { id: eventId, type: 'secrets.kept', destinations: [destination.id] });
    const request = await receiver.waitForEvent(eventId);
    expect(request.path).toBe('/moved');
    expect(request.headers).toMatchObject({ authorization: given.authorization, cookie: given.cookie, 'x-signature-key': given.signatureKey, 'x-team': 'green' });
    expect(request.headers['x-api-key']).toBeUndefined(); // left out: removed
    expect(verify(given.secret, request)).toMatchObject({ type: 'secrets.kept' });

    const row = await storedRow(system.config.databaseUrl, destination.id);
    expect(Object.keys(row.config.headers).sort()).toEqual(['Cookie', 'X-Signature-Key', 'authorization', 'x-team']);
    expect(row.config.headers.authorization).toMatch(/^sealed:v1:/);
  });

  it('a PATCH keeping a value that is not stored, or sending a header HTTP cannot carry, is a 400 naming it, never echoing a value, writing nothing', async () => {
    const given = credentials();
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { config: configWith(`${receiver.url}/hook`, given) });
    const before = await storedRow(system.config.databaseUrl, destination.id);
    const noneStored = await system.client.request('PATCH', `/v1/destinations/${destination.id}`, {
      config: { url: `${receiver.url}/hook`, headers: { 'proxy-authorization': MASKED } },
    });
    expect(noneStored.status).toBe(400);
    expect(noneStored.body.details).toEqual([{ path: 'config.headers.proxy-authorization', message: expect.stringContaining('there is none') }]);

    const injected = await system.client.request('PATCH', `/v1/destinations/${destination.id}`, {
      config: { url: `${receiver.url}/hook`, headers: { Authorization: `${given.authorization}\r\nx-injected: 1`, Connection: 'close' } },
    });
    expect(injected.status).toBe(400);
    expect(injected.body.details).toEqual([
      { path: 'config.headers.Authorization', message: expect.stringContaining('a header cannot carry') },
      { path: 'config.headers.Connection', message: expect.stringContaining('managed by the HTTP connection') },
    ]);
    expect(JSON.stringify(injected.body)).not.toContain(given.authorization);
    expect(await storedRow(system.config.databaseUrl, destination.id)).toEqual(before);

    const created = await system.client.post('/v1/destinations', {
      name: uniqueId('bad'),
      kind: 'webhook',
      config: { url: `${receiver.url}/hook`, headers: { cookie: `${given.cookie}\n` } },
    });
    expect(created.status).toBe(400);
    expect(JSON.stringify(created.body)).not.toContain(given.cookie);
  });

  it('the audit log records which fields changed, never a secret', async () => {
    const given = credentials();
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { config: configWith(`${receiver.url}/hook`, given) });
    const next = webhookSecret();
    await system.client.request('PATCH', `/v1/destinations/${destination.id}`, { config: configWith(`${receiver.url}/hook`, given) });
    await system.client.post(`/v1/destinations/${destination.id}/rotate-secret`, { secret: next });
    const audit = (await system.client.get('/v1/audit-log?limit=200')).body.data.filter((entry: Json) => entry.target === destination.id);
    expect(audit.map((entry: Json) => entry.action).sort()).toEqual(['destination.create', 'destination.rotate-secret', 'destination.update']);
    for (const needle of needles(given, next)) expect(JSON.stringify(audit)).not.toContain(needle);
  });

  it('an expired previous signing secret is removed from the database by the worker', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    await system.client.post(`/v1/destinations/${destination.id}/rotate-secret`, { previousValidForSeconds: 1 });
    expect((await storedRow(system.config.databaseUrl, destination.id)).previous_secret).toMatch(/^sealed:v1:/);
    // The maintenance pass runs every DISPATCH_RECONCILE_MS (1 s in tests).
    await eventually(
      async () => ((await storedRow(system.config.databaseUrl, destination.id)).previous_secret === null ? true : undefined),
      10_000,
      'the previous secret to be removed',
    );
    const rows = await query<{ previous_secret_expires_at: Date | null }>(
      system.config.databaseUrl,
      'SELECT previous_secret_expires_at FROM destinations WHERE id = $1',
      [destination.id],
    );
    expect(rows[0].previous_secret_expires_at).toBeNull();
  });
});

describe('secrets written in clear text before they were encrypted', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('the migrations encrypt them, once, without a key refuse to go on, and the webhooks are still signed with them', async () => {
    const id = uniqueId('dst_plain');
    const secret = webhookSecret();
    const previous = webhookSecret();
    const authorization = `Bearer ${credential('legacy')}`;
    const config = { url: `${receiver.url}/legacy`, method: 'POST', headers: { Authorization: authorization, 'x-team': 'blue' } };
    // As the previous version wrote a destination: secrets and headers in clear text.
    await query(
      system.config.databaseUrl,
      `INSERT INTO destinations (id, organization_id, name, kind, config, secret, previous_secret, previous_secret_expires_at, event_types, retry_policy, updated_at)
       VALUES ($1, $2, 'legacy', 'webhook', $3, $4, $5, now() + interval '1 hour', '{*}', '{}', now())`,
      [id, system.organization.organizationId, JSON.stringify(config), secret, previous],
    );

    const withoutKey = await applyMigrations(system.config.databaseUrl).then(
      () => 'migrated',
      (error: Error) => error.message,
    );
    expect(withoutKey).toBe(
      `destination ${id} holds secrets in clear text (secret, previousSecret, config.headers.Authorization): set DISPATCH_ENCRYPTION_KEY so that they are encrypted`,
    );

    await applyMigrations(system.config.databaseUrl, defaultMigrationsDir(), testSecretBox());
    const sealed = await storedRow(system.config.databaseUrl, id);
    expect(sealed.secret).toMatch(/^sealed:v1:/);
    expect(sealed.previous_secret).toMatch(/^sealed:v1:/);
    expect(sealed.config.headers).toEqual({ Authorization: expect.stringMatching(/^sealed:v1:/), 'x-team': 'blue' });
    // Again: nothing left to encrypt, nothing changes.
    await applyMigrations(system.config.databaseUrl, defaultMigrationsDir(), testSecretBox());
    expect(await storedRow(system.config.databaseUrl, id)).toEqual(sealed);

    const eventId = uniqueId('evt_legacy');
    await sendEvent(system.client, { id: eventId, type: 'secrets.legacy', destinations: [id] });
    const request = await receiver.waitForEvent(eventId);
    expect(request.headers.authorization).toBe(authorization);
    expect(verify(secret, request)).toMatchObject({ type: 'secrets.legacy' });
    expect(verify(previous, request)).toMatchObject({ type: 'secrets.legacy' });
    expect((await system.client.get(`/v1/destinations/${id}`)).body.config.headers).toEqual({ Authorization: MASKED, 'x-team': 'blue' });
  });
});

describe('npm run secrets:rotate', () => {
  const keyA = randomBytes(32).toString('base64');
  const keyB = randomBytes(32).toString('base64');
  const system = useSystem({ env: { DISPATCH_ENCRYPTION_KEY: keyA } });
  const receiver = useReceiver();

  const rotate = (env: Record<string, string>) =>
    run(process.execPath, [path.join(ROOT, 'scripts', 'rotate-secrets.mjs')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', DATABASE_URL: system.config.databaseUrl, ...env },
    });

  it('encrypts every secret again with the new key, reading the old ones with the previous key; then a worker with only the new key delivers', async () => {
    const given = credentials();
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { config: configWith(`${receiver.url}/hook`, given) });
    const next = webhookSecret();
    await system.client.post(`/v1/destinations/${destination.id}/rotate-secret`, { secret: next, previousValidForSeconds: 3600 });
    const idA = encryptionKeyId(Buffer.from(keyA, 'base64'));
    const idB = encryptionKeyId(Buffer.from(keyB, 'base64'));
    const keyIds = async () => {
      const row = await storedRow(system.config.databaseUrl, destination.id);
      return [row.secret, row.previous_secret, ...Object.values(row.config.headers).filter((value) => SecretBox.isSealed(value))].map((value) =>
        SecretBox.keyIdOf(value as string),
      );
    };
    expect(await keyIds()).toEqual([idA, idA, idA, idA, idA, idA]);

    // Without the previous key, the values under key A cannot be read: it says so, and changes nothing.
    const blind = await rotate({ DISPATCH_ENCRYPTION_KEY: keyB }).catch((error: { code: number; stderr: string }) => error);
    expect(blind).toMatchObject({ code: 1, stderr: expect.stringContaining(`it is encrypted with key ${idA}, which this process does not hold`) });
    expect(await keyIds()).toEqual([idA, idA, idA, idA, idA, idA]);

    const rotated = await rotate({ DISPATCH_ENCRYPTION_KEY: keyB, DISPATCH_ENCRYPTION_KEY_PREVIOUS: keyA });
    expect(rotated.stdout).toContain(`Secrets encrypted again with key ${idB}: 6`);
    expect(await keyIds()).toEqual([idB, idB, idB, idB, idB, idB]);
    const again = await rotate({ DISPATCH_ENCRYPTION_KEY: keyB, DISPATCH_ENCRYPTION_KEY_PREVIOUS: keyA });
    expect(again.stdout).toContain(`Secrets encrypted again with key ${idB}: 0`);

    // A worker that holds only key B delivers, with the real headers and both signatures.
    await system.stopWorker();
    const worker = await createWorker(
      loadConfig(testEnvironment({ DATABASE_URL: system.config.databaseUrl, DISPATCH_QUEUE_PREFIX: system.config.queuePrefix, DISPATCH_ENCRYPTION_KEY: keyB })),
    );
    try {
      const eventId = uniqueId('evt_rotated');
      await sendEvent(system.client, { id: eventId, type: 'secrets.rotated', destinations: [destination.id] });
      const request = await receiver.waitForEvent(eventId);
      expect(request.headers).toMatchObject({
        authorization: given.authorization,
        cookie: given.cookie,
        'x-api-key': given.apiKey,
        'x-signature-key': given.signatureKey,
      });
      expect(verify(next, request)).toMatchObject({ type: 'secrets.rotated' });
      expect(verify(given.secret, request)).toMatchObject({ type: 'secrets.rotated' });
    } finally {
      await worker.close();
    }

    // The API still holds only key A: what needs a secret fails naming the destination and the key, never a value…
    const test = await system.client.post(`/v1/destinations/${destination.id}/test`);
    expect(test.status).toBe(500);
    expect(test.body.message).toMatch(
      new RegExp(`^destination ${destination.id}: cannot read its .*: it is encrypted with key ${idB}, which this process does not hold`),
    );
    for (const needle of needles(given, next)) expect(JSON.stringify(test.body)).not.toContain(needle);
    // …and credentials given anew replace the ones it cannot read (what to do when a key is lost).
    const replaced = await system.client.request('PATCH', `/v1/destinations/${destination.id}`, { config: configWith(`${receiver.url}/hook`, credentials()) });
    expect(replaced.status).toBe(200);
  });
});

describe('DISPATCH_ENCRYPTION_KEY', () => {
  it.each(['api', 'worker'] as const)('missing or malformed, stops the %s with a message naming it', async (app) => {
    const env = testEnvironment({ DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    const { DISPATCH_ENCRYPTION_KEY: _key, ...withoutKey } = env;
    for (const settings of [withoutKey, { ...withoutKey, DISPATCH_ENCRYPTION_KEY: 'too-short' }]) {
      const started = spawnApp(app, settings);
      const [code] = started.child.exitCode === null ? await once(started.child, 'exit') : [started.child.exitCode];
      expect(code).toBe(1);
      expect(started.output()).toMatch(/Invalid configuration: DISPATCH_ENCRYPTION_KEY: (is required: |must be )32 random bytes in base64/);
      expect(started.output()).not.toContain('too-short');
    }
  });
});
