import type { INestApplicationContext } from '@nestjs/common';
import { Json, sendEvent, uniqueId, waitForDelivery, webhookDestination } from '@dispatch/testing';
import { createWorker } from '../apps/worker/src/worker';
import { errorShape } from './answers';
import { LOOPBACK_ALLOWED } from './processes';
import { useReceiver, useSystem } from './system';

/** Every notation of a loopback (or this-host) address the WHATWG URL parser accepts as a host. */
const LOOPBACK_HOSTS = [
  '127.0.0.1',
  '2130706433',
  '0x7f000001',
  '0177.0.0.1',
  '127.1',
  '127.0.0.1.',
  '[::1]',
  '[::ffff:127.0.0.1]',
  '[::ffff:7f00:1]',
  '[::7f00:1]',
  '0.0.0.0',
  '0',
];

/** Private and metadata addresses: only ever validated (refused on create), never connected to. */
const INTERNAL_URLS = [
  'http://10.0.0.1/hook',
  'http://192.168.1.1/hook',
  'http://172.16.0.1/hook',
  'http://169.254.169.254/latest/meta-data/',
  'http://100.64.0.1/hook',
  'http://[fd00::1]/hook',
  'http://[fe80::1]/hook',
  'http://[::ffff:169.254.169.254]/latest/meta-data/',
  'http://[64:ff9b::a9fe:a9fe]/latest/meta-data/',
];

const NOT_ALLOWED = /not an allowed address.*DISPATCH_EGRESS_ALLOW/;
const RESOLVES_NOT_ALLOWED = /^connection error \(EGRESS_NOT_ALLOWED\): localhost resolves to an address that is not allowed: .*DISPATCH_EGRESS_ALLOW/;

describe('the egress guard, with nothing allowed (DISPATCH_EGRESS_ALLOW empty)', () => {
  const system = useSystem({ env: { DISPATCH_EGRESS_ALLOW: '' } });
  const receiver = useReceiver();
  const port = () => new URL(receiver.url).port;
  const count = async () => (await system.client.get('/v1/destinations?limit=200')).body.data.length;

  it.each(LOOPBACK_HOSTS)('refuses to create a destination at http://%s:<port>/: a 400 naming config.url and how to allow it, writing nothing', async (host) => {
    const before = await count();
    const answer = await system.client.post('/v1/destinations', webhookDestination(`http://${host}:${port()}/hook`));
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject(errorShape(400, 'Bad Request'));
    expect(answer.body.details).toEqual([{ path: 'config.url', message: expect.stringMatching(NOT_ALLOWED) }]);
    expect(await count()).toBe(before);
  });

  it.each(INTERNAL_URLS)('refuses to create a destination at %s', async (url) => {
    const answer = await system.client.post('/v1/destinations', webhookDestination(url));
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([{ path: 'config.url', message: expect.stringMatching(NOT_ALLOWED) }]);
  });

  it('refuses to update a destination to a loopback literal in any spelling, and keeps its URL', async () => {
    const url = `http://localhost:${port()}/hook`;
    const created = await system.client.post('/v1/destinations', webhookDestination(url));
    expect(created.status).toBe(201);
    for (const host of LOOPBACK_HOSTS) {
      const answer = await system.client.request('PATCH', `/v1/destinations/${created.body.id}`, { config: { url: `http://${host}:${port()}/hook` } });
      expect({ host, status: answer.status, details: answer.body.details }).toEqual({
        host,
        status: 400,
        details: [{ path: 'config.url', message: expect.stringMatching(NOT_ALLOWED) }],
      });
    }
    expect((await system.client.get(`/v1/destinations/${created.body.id}`)).body.config.url).toBe(url);
  });

  it('accepts a destination named localhost, but refuses each attempt when connecting, retries per policy, and the receiver gets nothing', async () => {
    const destination = await system.client.post(
      '/v1/destinations',
      webhookDestination(`http://localhost:${port()}/hook`, { retryPolicy: { maxAttempts: 2, schedule: [200], jitter: 0 } }),
    );
    expect(destination.status).toBe(201);
    const deliveryId = (await sendEvent(system.client, { type: 'egress.refused', destinations: [destination.body.id] })).deliveries[0].id;
    const failed = await waitForDelivery(system.client, deliveryId, 'failed');
    expect(failed.attempts).toEqual([
      expect.objectContaining({ number: 1, outcome: 'retry', statusCode: null, error: expect.stringMatching(RESOLVES_NOT_ALLOWED) }),
      expect.objectContaining({ number: 2, outcome: 'failed', statusCode: null, error: expect.stringMatching(RESOLVES_NOT_ALLOWED) }),
    ]);
    // The error names the destination's own host, never what it resolved to.
    expect(failed.lastError).not.toMatch(/127\.0\.0\.1|::1/);
    // Each attempt is recorded after its connection was refused: had a request been sent, the receiver would hold it by now.
    expect(receiver.requests).toEqual([]);
  });

  it('answers POST /test with ok: false and the not-allowed error, sending nothing', async () => {
    const destination = await system.client.post('/v1/destinations', webhookDestination(`http://localhost:${port()}/hook`));
    const answer = await system.client.post(`/v1/destinations/${destination.body.id}/test`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ ok: false, durationMs: expect.any(Number), error: expect.stringMatching(RESOLVES_NOT_ALLOWED) });
    expect(receiver.requests).toEqual([]);
  });

  it('delivers to the same destination once a worker allows loopback', async () => {
    const destination = await system.client.post(
      '/v1/destinations',
      webhookDestination(`http://localhost:${port()}/hook`, { retryPolicy: { maxAttempts: 3, schedule: [60_000], jitter: 0 } }),
    );
    const eventId = uniqueId('evt_egress');
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'egress.allowed', destinations: [destination.body.id] })).deliveries[0].id;
    const retrying = await waitForDelivery(system.client, deliveryId, 'retrying');
    expect(retrying.attempts).toEqual([expect.objectContaining({ number: 1, error: expect.stringMatching(RESOLVES_NOT_ALLOWED) })]);

    await system.stopWorker();
    let allowing: INestApplicationContext | undefined;
    try {
      allowing = await createWorker({ ...system.config, egressAllow: LOOPBACK_ALLOWED.split(',') });
      expect((await system.client.post(`/v1/deliveries/${deliveryId}/retry`)).status).toBe(202);
      await receiver.waitForEvent(eventId);
      const delivered = await waitForDelivery(system.client, deliveryId, 'delivered');
      expect(delivered.attempts.map((attempt: Json) => attempt.outcome)).toEqual(['retry', 'delivered']);
    } finally {
      await allowing?.close();
      await system.startWorker();
    }
  });
});

describe('webhooks never follow redirects (loopback allowed)', () => {
  const system = useSystem();
  const receiver = useReceiver();

  it('counts a 3xx answer as a failure, and never requests its Location', async () => {
    const destination = await system.client.post('/v1/destinations', webhookDestination(`${receiver.url}/hook`, { retryPolicy: { maxAttempts: 1 } }));
    const eventId = uniqueId('evt_redirect');
    receiver.answerEvent(eventId, () => ({ status: 302, headers: { location: `${receiver.url}/elsewhere` } }));
    const deliveryId = (await sendEvent(system.client, { id: eventId, type: 'egress.redirect', destinations: [destination.body.id] })).deliveries[0].id;
    const failed = await waitForDelivery(system.client, deliveryId, 'failed');
    expect(failed.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', statusCode: 302 })]);
    expect(failed.lastError).toMatch(/^redirect 302 \(not followed\)/);

    const marker = uniqueId('evt_marker');
    await sendEvent(system.client, { id: marker, type: 'egress.marker', destinations: [destination.body.id] });
    await receiver.waitForEvent(marker);
    expect(receiver.requests.map((request) => request.path)).toEqual(['/hook', '/hook']);
  });
});
