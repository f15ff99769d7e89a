import IORedis, { Redis } from 'ioredis';

/** A Redis connection fit for BullMQ (commands wait for Redis to come back instead of failing). */
export function createRedisConnection(redisUrl: string, name: string): Redis {
  return new IORedis(redisUrl, { maxRetriesPerRequest: null, connectionName: name, enableReadyCheck: true });
}

export type { Redis };
