import { Cluster } from 'ioredis';
import { changedChannel, wakeChannel } from '@dispatch/queue';
import { createWebhook, Json, OwnRedisCluster, Receiver, sendEvent, waitForDelivery } from '@dispatch/testing';
import { revokedKeysChannel } from '../apps/api/src/auth/api-key-authenticator';
import { startSystem, TestSystem } from './system';

const OPERATOR_KEY = 'operator-key-for-cluster-tests-000';
const ADDRESS_LIMIT = 5;

/**
 * Dispatch on a Redis Cluster of three masters: every queue's keys sit in its destination's
 * hash slot, so BullMQ's scripts, the pub/sub channels, the rate limit, Bull Board and the
 * reconciler all work with a cluster connection.
 */
describe('on a Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  let system: TestSystem;
  let receiver: Receiver;
  /** The test's own cluster connection, to see where keys are. */
  let redis: Cluster;

  beforeAll(async () => {
    cluster = await OwnRedisCluster.start(3);
    receiver = await Receiver.start();
    system = await startSystem({
      env: {
        DISPATCH_REDIS_CLUSTER_NODES: cluster.nodesSetting,
        // Nothing may reach the server at REDIS_URL: a client that ignored the cluster setting would hang there.
        REDIS_URL: 'redis://127.0.0.1:1',
        DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY,
        DISPATCH_RATE_LIMIT_PER_IP_PER_MINUTE: String(ADDRESS_LIMIT),
        DISPATCH_RECONCILE_MS: '1000',
      },
    });
    redis = new Cluster(cluster.nodes);
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await system?.close();
    await receiver?.close();
    await cluster?.stop();
  }, 60_000);

  beforeEach(() => receiver.reset());

  /** The master (port) that holds `key`'s slot, as the cluster says. */
  async function masterOf(key: string): Promise<number> {
    const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no master holds slot ${slot}`);
    return range[2][1];
  }

  /** For each master (port), the keys under `pattern` it holds. */
  async function keysByMaster(pattern: string): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    for (const port of cluster.ports) {
      const node = cluster.node(port);
      try {
        const keys: string[] = [];
        let cursor = '0';
        do {
          const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          keys.push(...batch);
          cursor = next;
        } while (cursor !== '0');
        found.set(port, keys);
      } finally {
        node.disconnect();
      }
    }
    return found;
  }

  it('delivers to destinations whose queues live on different masters, each queue whole on one', async () => {
    const destinations: Json[] = [];
    const masters = new Set<number>();
    // Destination ids are random: make destinations until their queues span at least two masters.
    while (destinations.length < 4 || (masters.size < 2 && destinations.length < 20)) {
      const destination = await createWebhook(system.client, `${receiver.url}/hook/${destinations.length}`);
      destinations.push(destination);
      masters.add(await masterOf(`${system.config.queuePrefix}:{${destination.id}}:meta`));
    }
    expect(masters.size).toBeGreaterThanOrEqual(2);

    const sent = await Promise.all(
      destinations.map((destination, i) => sendEvent(system.client, { id: `evt_spread_${i}`, type: 'order.created', destinations: [destination.id] })),
    );
    for (const answer of sent) await waitForDelivery(system.client, answer.deliveries[0].id, 'delivered');
    expect(receiver.eventIds().sort()).toEqual(destinations.map((_, i) => `evt_spread_${i}`).sort());

    const keys = await keysByMaster(`${system.config.queuePrefix}:{dst_*}:*`);
    for (const destination of destinations) {
      const holders = [...keys].filter(([, list]) => list.some((key) => key.startsWith(`${system.config.queuePrefix}:{${destination.id}}:`))).map(([port]) => port);
      expect({ destination: destination.id, holders }).toEqual({ destination: destination.id, holders: [await masterOf(`{${destination.id}}`)] });
    }
    expect([...keys.values()].filter((list) => list.length > 0).length).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('retries a delivery the receiver refused, and delivers it', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { retryPolicy: { maxAttempts: 3, schedule: [200], jitter: 0 } });
    receiver.answerEvent('evt_retry', (earlier) => ({ status: earlier === 0 ? 500 : 200 }));
    const sent = await sendEvent(system.client, { id: 'evt_retry', type: 'order.created', destinations: [destination.id] });
    const delivery = await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    expect(delivery.attempts.map((attempt: Json) => attempt.statusCode)).toEqual([500, 200]);
    expect(receiver.requestsOf('evt_retry')).toHaveLength(2);
  }, 20_000);

  it('holds the deliveries of a paused destination and sends them on resume', async () => {
    const paused = await createWebhook(system.client, `${receiver.url}/paused`);
    const other = await createWebhook(system.client, `${receiver.url}/other`);
    expect((await system.client.post(`/v1/destinations/${paused.id}/pause`)).status).toBe(200);
    const held = await sendEvent(system.client, { id: 'evt_held', type: 'order.created', destinations: [paused.id] });
    // A later event to another destination is delivered: the held one had its chance.
    await sendEvent(system.client, { id: 'evt_marker', type: 'order.created', destinations: [other.id] });
    await receiver.waitForEvent('evt_marker');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requestsOf('evt_held')).toHaveLength(0);
    expect((await system.client.get(`/v1/deliveries/${held.deliveries[0].id}`)).body.status).toBe('pending');

    expect((await system.client.post(`/v1/destinations/${paused.id}/resume`)).status).toBe(200);
    await waitForDelivery(system.client, held.deliveries[0].id, 'delivered');
    expect(receiver.requestsOf('evt_held')).toHaveLength(1);
  }, 20_000);

  it('delivers what was pending when every master lost its data (the reconciler queues it again)', async () => {
    // Without a circuit breaker: its count of the failed attempts is written just after each
    // answer, and could land after the flush this test looks at.
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, {
      retryPolicy: { maxAttempts: 5, schedule: [4000], jitter: 0 },
      circuitBreaker: { enabled: false },
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      receiver.answerEvent(`evt_flushed_${i}`, (earlier) => ({ status: earlier === 0 ? 500 : 200 }));
      ids.push((await sendEvent(system.client, { id: `evt_flushed_${i}`, type: 'order.created', destinations: [destination.id] })).deliveries[0].id);
    }
    // Each first attempt failed: the retries wait in Redis, then Redis loses them.
    for (let i = 0; i < 3; i += 1) await receiver.waitForEvent(`evt_flushed_${i}`);
    await cluster.onEveryNode('FLUSHALL');
    expect([...(await keysByMaster(`${system.config.queuePrefix}:{${destination.id}}:*`)).values()].flat()).toEqual([]);

    for (const id of ids) await waitForDelivery(system.client, id, 'delivered', 20_000);
    for (let i = 0; i < 3; i += 1) expect(receiver.requestsOf(`evt_flushed_${i}`).map(() => 'request')).toEqual(['request', 'request']);
  }, 40_000);

  it('shows every queue in Bull Board', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`);
    // Bearer, so these requests count against the key, not against the address the rate limit test counts.
    const authorization = `Bearer ${OPERATOR_KEY}`;
    let names: string[] = [];
    for (let tries = 0; tries < 40 && !names.some((name) => name.includes(destination.id)); tries += 1) {
      const answer = await fetch(`${system.url}/queues/api/queues`, { headers: { authorization } });
      expect(answer.status).toBe(200);
      names = ((await answer.json()) as { queues: { name: string; displayName?: string }[] }).queues.map((queue) => `${queue.name} ${queue.displayName ?? ''}`);
      if (!names.some((name) => name.includes(destination.id))) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(names.some((name) => name.includes(destination.id))).toBe(true);
    expect((await fetch(`${system.url}/queues/api/redis/stats`, { headers: { authorization } })).status).toBe(200);
  }, 20_000);

  it('has the worker and the API listening on their channels, and the rate limit counting, through the cluster', async () => {
    const prefix = system.config.queuePrefix;
    const channels = [wakeChannel(prefix), changedChannel(prefix), revokedKeysChannel(prefix)];
    const subscribers = new Map(channels.map((channel) => [channel, 0]));
    for (const port of cluster.ports) {
      const node = cluster.node(port);
      try {
        const counts = (await node.call('PUBSUB', 'NUMSUB', ...channels)) as (string | number)[];
        for (let i = 0; i < counts.length; i += 2) subscribers.set(String(counts[i]), (subscribers.get(String(counts[i])) ?? 0) + Number(counts[i + 1]));
      } finally {
        node.disconnect();
      }
    }
    expect(Object.fromEntries(subscribers)).toEqual({ [wakeChannel(prefix)]: 1, [changedChannel(prefix)]: 1, [revokedKeysChannel(prefix)]: 1 });

    expect((await fetch(`${system.url}/health/ready`)).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i <= ADDRESS_LIMIT; i += 1) statuses.push((await fetch(`${system.url}/v1/destinations`)).status);
    expect(statuses).toEqual([...Array(ADDRESS_LIMIT).fill(401), 429]);
  }, 20_000);
});
