import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fastifyRateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RedisConnection } from '@dispatch/queue';
import type { DispatchConfig } from '@dispatch/config';
import { callerOf } from '../auth/access';
import { answerBeforeBody } from './early-answer';
import type { ApiKeyAuthenticator } from '../auth/api-key-authenticator';

/** Never limited: the platform's probes and scrapes, which carry no key and must answer under any load. */
export const UNLIMITED_ROUTES: readonly string[] = ['/health/live', '/health/ready', '/metrics'];

const WINDOW_MS = 60_000;

/** How long a request waits for Redis to count it; then it goes on uncounted, as while Redis is down. */
const REDIS_WAIT_MS = 250;

const PER_KEY = 'key:';

/**
 * Counts every request but UNLIMITED_ROUTES in Redis (so the limits hold across API
 * processes), in fixed one-minute windows: per API key for a request that carries a valid one,
 * per client address for any other. Above the limit: 429 in the API's error shape, with
 * `Retry-After`. A limit of 0 is no limit. While Redis is unreachable nothing is counted.
 * Adds an `onRequest` hook: add it before authentication, so a flood without a valid key is
 * refused by address.
 */
export async function limitRequestRates(app: NestFastifyApplication, config: DispatchConfig, redis: RedisConnection, authenticator: ApiKeyAuthenticator): Promise<void> {
  const { perKeyPerMinute, perAddressPerMinute } = config.rateLimit;
  const maxOf = (key: string) => (key.startsWith(PER_KEY) ? perKeyPerMinute : perAddressPerMinute);
  await app.register(fastifyRateLimit, {
    global: false,
    redis,
    nameSpace: `${config.queuePrefix}:rate-limit:`,
    timeWindow: WINDOW_MS,
    skipOnError: true,
    // A lookup that fails (the database is down) counts by address; authentication then answers it.
    keyGenerator: async (request: FastifyRequest) => {
      const caller = await callerOf(request, authenticator).catch(() => null);
      return caller ? `${PER_KEY}${caller.apiKeyId}` : `address:${normalizeIP(request.ip)}`;
    },
    max: (_request: FastifyRequest, key: string) => maxOf(key),
    allowList: (_request: FastifyRequest, key: string) => maxOf(key) === 0,
  });
  const server = app.getHttpAdapter().getInstance();
  const count = server.createRateLimit();
  const logger = new Logger('rate-limit');
  let slowRedis = false;

  server.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNLIMITED_ROUTES.includes(route)) return;
    if (redis.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, REDIS_WAIT_MS, undefined);
    });
    const verdict = await Promise.race([count(request), late]).finally(() => clearTimeout(timer));
    if (verdict === undefined) {
      if (!slowRedis) logger.warn(`Redis did not count a request within ${REDIS_WAIT_MS} ms; requests go on uncounted until it does`);
      slowRedis = true;
      return;
    }
    slowRedis = false;
    if (verdict.isAllowed) return;
    reply.header('x-ratelimit-limit', verdict.max).header('x-ratelimit-remaining', verdict.remaining).header('x-ratelimit-reset', verdict.ttlInSeconds);
    if (!verdict.isExceeded) return;
    const whose = verdict.key.startsWith(PER_KEY) ? 'this API key' : 'requests without a valid API key from this address';
    reply.header('retry-after', verdict.ttlInSeconds);
    await answerBeforeBody(
      request,
      reply,
      429,
      'Too Many Requests',
      `Rate limit exceeded: ${verdict.max} requests a minute for ${whose}; retry in ${verdict.ttlInSeconds} s`,
    );
  });
}
