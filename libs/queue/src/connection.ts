import { Logger } from '@nestjs/common';
import IORedis, { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { RedisNode } from '@dispatch/config';

/** Where Dispatch's Redis is: the nodes of a Redis Cluster when there are any, else the one server at `redisUrl`. */
export type RedisTarget = Readonly<{ redisUrl: string; redisClusterNodes: readonly RedisNode[] }>;

/**
 * A connection to one Redis server or to a Redis Cluster. A cluster connection sends each
 * command to the master holding its key's slot; a command or script on keys of different
 * slots fails there (CROSSSLOT), which is why every queue's keys share its hash tag.
 */
export type RedisConnection = Redis | Cluster;

/**
 * A Redis connection fit for BullMQ: commands wait for Redis to come back instead of failing.
 * While Redis is unreachable it logs once, and once more when it is back.
 */
export function createRedisConnection(target: RedisTarget, name: string): RedisConnection {
  const logger = new Logger('redis');
  const options: RedisOptions = { maxRetriesPerRequest: null, connectionName: name, enableReadyCheck: true };
  const redis: RedisConnection =
    target.redisClusterNodes.length > 0
      ? new Cluster(
          target.redisClusterNodes.map((node) => ({ ...node })),
          { redisOptions: options, enableReadyCheck: true },
        )
      : new IORedis(target.redisUrl, options);
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

/**
 * A second connection to the same Redis or Redis Cluster, with other options, e.g. for
 * subscribing (a subscribed connection takes no other command). On a cluster the options
 * apply to its connection to each node; publishing reaches subscribers on every node.
 */
export function duplicateConnection(redis: RedisConnection, options: Partial<RedisOptions>): RedisConnection {
  if (redis instanceof Cluster) return redis.duplicate([], { redisOptions: { ...redis.options.redisOptions, ...options } });
  return redis.duplicate(options);
}

export type { Redis, Cluster };
