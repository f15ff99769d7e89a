import IORedis from 'ioredis';
import { MAINTENANCE_QUEUE } from '@dispatch/queue';
import { createWebhook, eventually, sendEvent } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

const MAX_QUEUES = 2;
const SLICE_MS = 500;
/** How often the worker looks for turns to end (a quarter of a slice). */
const TICK_MS = SLICE_MS / 4;
const FLOOD = 300;
const FLOOD_ANSWER_MS = 20;
/** The quiet destination already holding a turn answers slowly: the other quiet one needs the flooded one's turn. */
const SLOW_ANSWER_MS = 1_500;
/**
 * The stated bound for the k-th destination in line: ceil(k / DISPATCH_WORKER_MAX_QUEUES) ×
 * (slice + tick + the attempts in flight of the turn that ends). Here at most one waits
 * (k = 1), and the flooded destination's attempts take 20 ms; 600 ms more for starting its
 * worker, the attempt itself and a busy test machine.
 */
const BOUND_MS = Math.ceil(1 / MAX_QUEUES) * (SLICE_MS + TICK_MS + FLOOD_ANSWER_MS) + 600;

describe('a worker consuming at most DISPATCH_WORKER_MAX_QUEUES destination queues at once', () => {
  const system = useSystem({ env: { DISPATCH_WORKER_MAX_QUEUES: String(MAX_QUEUES), DISPATCH_WORKER_SLICE_MS: String(SLICE_MS), DISPATCH_WORKER_CONCURRENCY: '2' } });
  const receiver = useReceiver();
  let redis: IORedis;

  beforeAll(() => {
    redis = new IORedis(system.config.redisUrl);
  });

  afterAll(async () => {
    await redis.quit();
  });

  /**
   * Redis connections blocked waiting for jobs of this system's destination queues: one per live
   * queue consumer. BullMQ names a worker's connection `<prefix>:<base64 of the queue name>`; the
   * maintenance queue's consumer is not a destination's.
   */
  async function consumers(): Promise<number> {
    const list = (await redis.client('LIST')) as string;
    const maintenance = ` name=${system.config.queuePrefix}:${Buffer.from(MAINTENANCE_QUEUE).toString('base64')} `;
    return list.split('\n').filter((line) => line.includes(` name=${system.config.queuePrefix}:`) && !line.includes(maintenance) && / cmd=bzpopmin\b/.test(line)).length;
  }

  it('lets a flooded destination keep neither quiet one waiting beyond the stated bound, on two Redis connections', async () => {
    receiver.answer((request) => ({ status: 200, delayMs: request.path === '/flood' ? FLOOD_ANSWER_MS : request.path === '/slow' ? SLOW_ANSWER_MS : 0 }));
    const flooded = await createWebhook(system.client, `${receiver.url}/flood`);
    const slow = await createWebhook(system.client, `${receiver.url}/slow`);
    const quiet = await createWebhook(system.client, `${receiver.url}/quiet`);
    await system.client.post(`/v1/destinations/${flooded.id}/pause`);
    for (let i = 0; i < FLOOD; i += 25) {
      await Promise.all(Array.from({ length: 25 }, (_, j) => sendEvent(system.client, { id: `evt_flood_${i + j}`, type: 'turns.flood', destinations: [flooded.id] })));
    }
    await system.client.post(`/v1/destinations/${flooded.id}/resume`);
    const fromFlood = () => receiver.requests.filter((request) => request.path === '/flood').length;
    await eventually(async () => (fromFlood() >= 10 ? true : undefined), 10_000, 'the flood to be under way');

    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, await consumers());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const sent = new Map<string, number>();
    for (const [destination, path] of [
      [slow, '/slow'],
      [quiet, '/quiet'],
    ] as const) {
      sent.set(path, Date.now());
      await sendEvent(system.client, { id: `evt_${path.slice(1)}`, type: 'turns.quiet', destinations: [destination.id] });
    }
    const received = await eventually(async () => {
      const first = (path: string) => receiver.requests.find((request) => request.path === path);
      const both = [first('/slow'), first('/quiet')];
      return both.every(Boolean) ? { slow: both[0]!.receivedAt, quiet: both[1]!.receivedAt, flood: fromFlood() } : undefined;
    }, 10_000);
    sampling = false;
    await sampler;

    expect(received.slow - (sent.get('/slow') as number)).toBeLessThanOrEqual(BOUND_MS);
    expect(received.quiet - (sent.get('/quiet') as number)).toBeLessThanOrEqual(BOUND_MS);
    // The flood was far from over: the quiet destinations had turns, not its leftovers.
    expect(received.flood).toBeLessThan(FLOOD / 2);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(MAX_QUEUES);
    await eventually(async () => (fromFlood() >= FLOOD ? true : undefined), 30_000, 'the whole flood to be delivered');
  }, 60_000);
});
