import { randomBytes } from 'node:crypto';
import IORedis from 'ioredis';

export const REDIS_URL = process.env.DISPATCH_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A queue key prefix no other test run uses. */
export function uniqueQueuePrefix(): string {
  return `dt${randomBytes(4).toString('hex')}`;
}

/** Deletes every Redis key under `prefix:`. */
export async function deleteQueueKeys(prefix: string, redisUrl = REDIS_URL): Promise<void> {
  const redis = new IORedis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
