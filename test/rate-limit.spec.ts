import IORedis from 'ioredis';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { generateApiKey } from '@dispatch/domain';
import { ApiAnswer, ApiClient, REDIS_URL } from '@dispatch/testing';
import { createApi } from '../apps/api/src/app';
import { errorShape } from './answers';
import { useSystem } from './system';

/**
 * The API rate limit (docs/security.md, "The API's own defences"): per API key, and per client
 * address for requests without a valid key, counted in Redis so that it holds across API
 * processes; above it 429 with Retry-After; 0 turns a limit off.
 */

/** A second API process of the system: the same database and Redis prefix. */
function useSecondApi(system: { config: Parameters<typeof createApi>[0] }): { url: string } {
  let api: NestFastifyApplication | undefined;
  const second = { url: '' };
  beforeAll(async () => {
    api = await createApi(system.config);
    await api.listen(0, '127.0.0.1');
    second.url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await api?.close();
  });
  return second;
}

/** The answer is the limit's 429: the API's error shape, and Retry-After in whole seconds within the minute. */
function expectLimited(answer: ApiAnswer, why: string): void {
  expect([why, answer.status, answer.body]).toEqual([why, 429, errorShape(429, 'Too Many Requests')]);
  const retryAfter = Number(answer.headers.get('retry-after'));
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
}

describe('API rate limit: 3 a minute per key, 2 a minute per address without a valid key, on two API processes', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: '3', DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: '2' } });
  const second = useSecondApi(system);

  it('lets a key make its requests across both processes, then answers 429 with Retry-After on either; other keys and health probes go on', async () => {
    const key = system.organization.viewerKey;
    const [one, two] = [new ApiClient(system.url, key), new ApiClient(second.url, key)];
    const answers = [await one.get('/v1/destinations'), await two.get('/v1/destinations'), await one.get('/v1/events')];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers.map((answer) => answer.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);
    expectLimited(await two.get('/v1/destinations'), 'fourth request of the key, on the second process');
    expectLimited(await one.post('/v1/events', { type: 'too.many', data: {} }), 'fifth, on the first');

    expect((await one.as(system.organization.producerKey).get('/v1/destinations')).status).toBe(200);
    for (let i = 0; i < 5; i += 1) {
      expect((await one.get('/health/live')).status).toBe(200);
      expect((await two.get('/health/ready')).status).toBe(200);
      expect((await one.get('/metrics')).status).toBe(200);
    }
  });

  it('counts requests without a valid key by address across both processes: 429 before 401, while requests with a valid key from it go on', async () => {
    const anonymous = [new ApiClient(system.url, undefined), new ApiClient(second.url, generateApiKey())];
    expect((await anonymous[0].get('/v1/destinations')).status).toBe(401);
    expect((await anonymous[1].get('/v1/destinations')).status).toBe(401);
    expectLimited(await anonymous[0].get('/v1/destinations'), 'third request without a key');
    expectLimited(await anonymous[1].get('/v1/destinations'), 'with an unknown key, on the second process');
    expectLimited(await anonymous[0].get('/docs-json'), 'a route outside /v1');
    // Without DISPATCH_TRUST_PROXY a client cannot claim another address.
    expectLimited(await anonymous[0].request('GET', '/v1/destinations', undefined, { 'x-forwarded-for': '203.0.113.9' }), 'with a forwarded-for header');

    expect((await new ApiClient(second.url, system.organization.adminKey).get('/v1/destinations')).status).toBe(200);
    expect((await anonymous[0].get('/health/ready')).status).toBe(200);
  });

  it('keeps its counters in Redis under the queue prefix', async () => {
    const redis = new IORedis(REDIS_URL);
    try {
      const keys = await redis.keys(`${system.config.queuePrefix}:rate-limit:*`);
      expect(keys.sort()).toEqual(expect.arrayContaining([expect.stringMatching(/:rate-limit:key:key_/), expect.stringMatching(/:rate-limit:address:127\.0\.0\.1$/)]));
    } finally {
      redis.disconnect();
    }
  });
});

describe('API rate limit: 0 turns the per-key limit off, the per-address one stays', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: '0', DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: '2' } });

  it('takes any number of requests with a key', async () => {
    for (let i = 0; i < 10; i += 1) expect((await system.client.get('/v1/destinations')).status).toBe(200);
    const anonymous = system.client.as(undefined);
    expect([(await anonymous.get('/v1/events')).status, (await anonymous.get('/v1/events')).status]).toEqual([401, 401]);
    expectLimited(await anonymous.get('/v1/events'), 'third without a key');
  });
});

describe('API rate limit: 0 turns the per-address limit off, the per-key one stays', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_RATE_LIMIT_PER_KEY_PER_MINUTE: '2', DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: '0' } });

  it('takes any number of requests without a valid key', async () => {
    const anonymous = system.client.as(undefined);
    for (let i = 0; i < 10; i += 1) expect((await anonymous.get('/v1/events')).status).toBe(401);
    expect([(await system.client.get('/v1/events')).status, (await system.client.get('/v1/events')).status]).toEqual([200, 200]);
    expectLimited(await system.client.get('/v1/events'), 'third with the key');
  });
});

describe('API rate limit behind a proxy of DISPATCH_TRUST_PROXY: the address it forwards is counted', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: '2', DISPATCH_TRUST_PROXY: '127.0.0.0/8' } });

  it('gives each client the proxy names its own budget, so one cannot use up the budget of another', async () => {
    const through = (client: string) => () => system.client.as(undefined).request('GET', '/v1/events', undefined, { 'x-forwarded-for': client });
    const [first, second] = [through('203.0.113.5'), through('203.0.113.6')];
    expect([(await first()).status, (await first()).status]).toEqual([401, 401]);
    expectLimited(await first(), 'third from the first client');
    expect((await second()).status).toBe(401);
  });
});
