import type { INestApplicationContext } from '@nestjs/common';
import { createWebhook, sendEvent } from '@dispatch/testing';
import { createWorker } from '../apps/worker/src/worker';
import { useReceiver, useSystem } from './system';

describe('two worker processes on one deployment', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let second: INestApplicationContext;

  beforeAll(async () => {
    second = await createWorker(system.config);
  });

  afterAll(async () => {
    await second?.close();
  });

  it('keeps a destination rate limit across both workers, and sends each delivery once', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: { max: 2, durationMs: 1000 } });
    await system.client.post(`/v1/destinations/${destination.id}/pause`);
    for (let i = 0; i < 6; i += 1) await sendEvent(system.client, { id: `evt_two_${i}`, type: 'two.workers', destinations: [destination.id] });
    await system.client.post(`/v1/destinations/${destination.id}/resume`);
    const requests = await receiver.waitFor(6, 15_000);
    // Two a second in all: the 5th and 6th wait for the third window (2 s after the first
    // started), whichever worker sends them. The first arrives up to a few hundred ms into its
    // window (its claim, a new connection); with a limit per worker the six would all arrive
    // within about one second.
    expect(requests[5].receivedAt - requests[0].receivedAt).toBeGreaterThanOrEqual(1500);
    expect(new Set(receiver.eventIds()).size).toBe(6);
  }, 30_000);
});
