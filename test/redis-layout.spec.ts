import IORedis from 'ioredis';
import { createWebhook, eventually, sendEvent, waitForDelivery } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

/** What the README's redis-cli section tells an operator to look at is where it says. */
describe('the queues as redis-cli shows them', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let redis: IORedis;
  const key = (destinationId: string, rest: string) => `${system.config.queuePrefix}:{${destinationId}}:${rest}`;

  beforeAll(() => {
    redis = new IORedis(system.config.redisUrl);
  });

  /** Every key matching `pattern`, as `redis-cli --scan --pattern` lists them. */
  async function scanAll(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  }

  afterAll(() => {
    redis.disconnect();
  });

  it('lists a paused destination backlog in prioritized, in the order it will go, and marks the queue paused', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    await system.client.post(`/v1/destinations/${destination.id}/pause`);
    const ids: Record<string, string> = {};
    for (const [name, priority] of [
      ['low', 0],
      ['high', 10],
      ['mid', 5],
    ] as const) {
      ids[name] = (await sendEvent(system.client, { id: `evt_layout_${name}`, type: 'layout.run', priority, destinations: [destination.id] })).deliveries[0].id;
    }
    expect(await scanAll(`${system.config.queuePrefix}:{dst_*}:meta`)).toContain(key(destination.id, 'meta'));
    expect(await redis.hget(key(destination.id, 'meta'), 'paused')).toBe('1');
    expect(await redis.zcard(key(destination.id, 'prioritized'))).toBe(3);
    expect(await redis.zrange(key(destination.id, 'prioritized'), 0, -1)).toEqual([ids.high, ids.mid, ids.low]);
    expect(JSON.parse((await redis.hget(key(destination.id, ids.high), 'data')) ?? 'null')).toEqual({ deliveryId: ids.high });

    await system.client.post(`/v1/destinations/${destination.id}/resume`);
    await waitForDelivery(system.client, ids.low, 'delivered');
    expect(await redis.hget(key(destination.id, 'meta'), 'paused')).toBeNull();
    expect(await redis.zcard(key(destination.id, 'prioritized'))).toBe(0);
  });

  it('keeps a waiting retry in delayed, scored with its time, and a dead letter in failed with its reason', async () => {
    receiver.answer(() => ({ status: 500, body: 'nope' }));
    const retrying = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 2, schedule: [60_000], jitter: 0 } });
    const waiting = (await sendEvent(system.client, { type: 'layout.retry', destinations: [retrying.id] })).deliveries[0].id;
    const delivery = await waitForDelivery(system.client, waiting, 'retrying');
    const [member, score] = await redis.zrange(key(retrying.id, 'delayed'), 0, -1, 'WITHSCORES');
    expect(member).toBe(waiting);
    expect(Math.abs(Math.floor(Number(score) / 4096) - new Date(delivery.nextAttemptAt).getTime())).toBeLessThan(1000);

    const dead = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 } });
    const failed = (await sendEvent(system.client, { type: 'layout.dead', destinations: [dead.id] })).deliveries[0].id;
    await waitForDelivery(system.client, failed, 'failed');
    expect(await redis.zrange(key(dead.id, 'failed'), 0, -1)).toEqual([failed]);
    const job = await redis.hgetall(key(dead.id, failed));
    expect(JSON.parse(job.data)).toEqual({ deliveryId: failed });
    expect(job.failedReason).toContain('HTTP 500');
  });

  it('announces new work and changed settings on the wake and destination-changed channels', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    const subscriber = new IORedis(system.config.redisUrl);
    try {
      const messages: [string, string][] = [];
      subscriber.on('message', (channel: string, message: string) => messages.push([channel, message]));
      await subscriber.subscribe(`${system.config.queuePrefix}:wake`, `${system.config.queuePrefix}:destination-changed`);
      await sendEvent(system.client, { type: 'layout.wake', destinations: [destination.id] });
      await system.client.request('PATCH', `/v1/destinations/${destination.id}`, { name: 'renamed' });
      const has = (channel: string) => messages.some(([c, m]) => c === `${system.config.queuePrefix}:${channel}` && m === destination.id);
      await eventually(async () => (has('wake') && has('destination-changed') ? true : undefined), 5000, 'both notices');
    } finally {
      subscriber.disconnect();
    }
    expect(await scanAll(`${system.config.queuePrefix}:{maintenance}:*`)).toContain(`${system.config.queuePrefix}:{maintenance}:meta`);
  });
});
