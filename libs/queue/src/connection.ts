import { Logger } from '@nestjs/common';
import IORedis, { Redis } from 'ioredis';

/**
 * A Redis connection fit for BullMQ: commands wait for Redis to come back instead of failing.
 * While Redis is unreachable it logs once, and once more when it is back.
 */
export function createRedisConnection(redisUrl: string, name: string): Redis {
  const logger = new Logger('redis');
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: null, connectionName: name, enableReadyCheck: true });
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn(`Redis unreachable (${error.message}); retrying`);
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log('Redis reachable again');
  });
  return redis;
}

export type { Redis };
