import { countDeliveries, createWebhook, Json, ReceivedRequest, waitForCount } from '@dispatch/testing';
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

  /**
   * A destination whose `prefix-*` events fail their first attempt and answer their retries
   * slowly; resolves once those events failed and their retries are due and waiting in the
   * queue (the first two retries have arrived: by then the worker has moved every retry that
   * is due back to the queue, as they all failed within a moment of each other).
   */
  async function retriesWaiting(prefix: string): Promise<{ destinationId: string; send: (ids: string[]) => Promise<Json[]> }> {
    receiver.answer((request) => {
      if (!eventId(request).startsWith(`${prefix}-`)) return { status: 200 };
      return attempt(request) === 1 ? { status: 503 } : { status: 200, delayMs: RETRY_ANSWER_MS };
    });
    const destination = await createWebhook(system.client, `${receiver.url}/hook`, { rateLimit: null, retryPolicy: { maxAttempts: 3, schedule: [500], jitter: 0 } });
    const send = async (ids: string[]): Promise<Json[]> => {
      const answer = await system.client.post('/v1/events/batch', { events: ids.map((id) => ({ id, type: 'stock.changed', data: {}, destinations: [destination.id] })) });
      expect(answer.status).toBe(202);
      return answer.body.events;
    };
    await send(events(prefix, FAILED));
    await receiver.waitFor(FAILED);
    await receiver.waitFor(FAILED + 2, 10_000);
    return { destinationId: destination.id, send };
  }

  it('delivers fresh events before the retries that were waiting when they came in', async () => {
    const { destinationId, send } = await retriesWaiting('old');
    await send(events('fresh', FRESH));
    const acceptedAfter = receiver.requests.length;

    await waitForCount(() => countDeliveries(system.client, destinationId, 'delivered'), FAILED + FRESH, 'delivered deliveries', 20_000);
    const arrivals = receiver.requests.slice(acceptedAfter).map(eventId);
    const lastFresh = Math.max(...events('fresh', FRESH).map((id) => arrivals.indexOf(id)));
    const retriesAhead = arrivals.slice(0, lastFresh).filter((id) => id.startsWith('old-'));
    const retriesWaitingThen = arrivals.filter((id) => id.startsWith('old-'));
    console.log(`retries waiting when the fresh events came in: ${retriesWaitingThen.length}; sent before the last fresh one: ${retriesAhead.length}`);
    // Only the retry the worker had already taken (it takes one ahead of its attempt slot) may go first.
    expect(retriesWaitingThen.length).toBeGreaterThanOrEqual(4);
    expect(retriesAhead.length).toBeLessThanOrEqual(1);
    expect(receiver.requests.filter((request) => eventId(request).startsWith('fresh-')).map(attempt)).toEqual(Array(FRESH).fill(1));
  }, 40_000);

  it("sends an operator's retry of a waiting retry ahead of the destination's other retries", async () => {
    const { destinationId } = await retriesWaiting('due');
    // The last to fail: the last of the waiting retries in turn.
    const last = `due-${FAILED}`;
    const delivery = (await system.client.get(`/v1/deliveries?destinationId=${destinationId}&status=retrying&limit=200`)).body.data.find(
      (candidate: Json) => candidate.eventId === last,
    );
    expect(delivery).toBeDefined();
    expect((await system.client.post(`/v1/deliveries/${delivery.id}/retry`)).status).toBe(202);
    const retriedAfter = receiver.requests.length;

    await waitForCount(() => countDeliveries(system.client, destinationId, 'delivered'), FAILED, 'delivered deliveries', 20_000);
    const arrivals = receiver.requests.slice(retriedAfter).map(eventId);
    console.log(`retries waiting when the operator retried ${last}: ${arrivals.length}; ${last} came ${arrivals.indexOf(last) + 1}.`);
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
    // Only the retry the worker had already taken may go first.
    expect(arrivals.indexOf(last)).toBeLessThanOrEqual(1);
  }, 40_000);
});
