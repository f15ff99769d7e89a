import { createWebhook, ReceivedRequest, waitForCount, countDeliveries } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

/**
 * A destination's retries wait behind its first attempts: fresh events are not held up by a
 * backlog of retries that are due (a retry storm after an outage). One attempt at a time, so
 * the order the receiver sees is the order the destination's queue gives.
 */
describe('retries behind first attempts', () => {
  const system = useSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '1' } });
  const receiver = useReceiver();

  /** Fewer first attempts fail in a row than open a circuit by default (10). */
  const FAILED = 9;
  const FRESH = 5;
  /** Each retry takes this long to answer: meanwhile the other retries that are due wait in the queue. */
  const RETRY_ANSWER_MS = 400;

  const eventId = (request: ReceivedRequest) => String(request.headers['webhook-id']);
  const attempt = (request: ReceivedRequest) => Number(request.headers['dispatch-attempt']);
  const events = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}-${index + 1}`);

  it('delivers fresh events before the retries that were waiting when they came in', async () => {
    receiver.answer((request) => {
      if (!eventId(request).startsWith('old-')) return { status: 200 };
      return attempt(request) === 1 ? { status: 503 } : { status: 200, delayMs: RETRY_ANSWER_MS };
    });
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: null, retryPolicy: { maxAttempts: 3, schedule: [500], jitter: 0 } });
    const send = async (ids: string[]) => {
      const answer = await system.client.post('/v1/events/batch', { events: ids.map((id) => ({ id, type: 'stock.changed', data: {}, destinations: [destination.id] })) });
      expect(answer.status).toBe(202);
    };

    await send(events('old', FAILED));
    await receiver.waitFor(FAILED);
    // The first retries arrive once their wait is over; by the second one, the worker has moved
    // every retry that is due back to the queue (they all failed within a moment of each other).
    await receiver.waitFor(FAILED + 2, 10_000);
    await send(events('fresh', FRESH));
    const acceptedAfter = receiver.requests.length;

    await waitForCount(() => countDeliveries(system.client, destination.id, 'delivered'), FAILED + FRESH, 'delivered deliveries', 20_000);
    const arrivals = receiver.requests.slice(acceptedAfter).map(eventId);
    const lastFresh = Math.max(...events('fresh', FRESH).map((id) => arrivals.indexOf(id)));
    const retriesAhead = arrivals.slice(0, lastFresh).filter((id) => id.startsWith('old-'));
    const retriesWaiting = arrivals.filter((id) => id.startsWith('old-'));
    console.log(`retries waiting when the fresh events came in: ${retriesWaiting.length}; sent before the last fresh one: ${retriesAhead.length}`);
    // Only the retry the worker had already taken (it takes one ahead of its attempt slot) may go first.
    expect(retriesWaiting.length).toBeGreaterThanOrEqual(4);
    expect(retriesAhead.length).toBeLessThanOrEqual(1);
    expect(receiver.requests.filter((request) => eventId(request).startsWith('fresh-')).map(attempt)).toEqual(Array(FRESH).fill(1));
  }, 40_000);
});
