import { randomBytes } from 'node:crypto';
import IORedis, { Cluster } from 'ioredis';

export const REDIS_URL = process.env.DISPATCH_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A queue key prefix no other test run uses. */
export function uniqueQueuePrefix(): string {
  return `dt${randomBytes(4).toString('hex')}`;
}

/**
 * Deletes every Redis key under `prefix:`, on the server at a URL or, given the nodes of a
 * Redis Cluster, on each of its masters (a SCAN sees only the keys of the node it is sent to).
 */
export async function deleteQueueKeys(prefix: string, redis: string | readonly { host: string; port: number }[] = REDIS_URL): Promise<void> {
  if (typeof redis === 'string') {
    const server = new IORedis(redis);
    try {
      await deleteKeysOfNode(server, prefix);
    } finally {
      server.disconnect();
    }
    return;
  }
  const cluster = new Cluster(redis.map((node) => ({ ...node })));
  try {
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', resolve);
      cluster.once('error', reject);
    });
    await Promise.all(cluster.nodes('master').map((node) => deleteKeysOfNode(node, prefix)));
  } finally {
    cluster.disconnect();
  }
}

/** One key per command, so a cluster node never sees keys of several slots in one (CROSSSLOT). */
async function deleteKeysOfNode(node: IORedis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) {
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      await pipeline.exec();
    }
    cursor = next;
  } while (cursor !== '0');
}
