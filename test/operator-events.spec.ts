import { createWebhook, Json, ReceivedRequest, sendEvent, uniqueId, waitForDelivery, webhookSecret } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

/**
 * The operator's view of events: search (type, correlation id, time, paging) and an event's
 * whole story — its deliveries, each with its destination, failure category, attempts and what
 * was sent — without a credential in it.
 */
describe('GET /v1/events: search by correlation id', () => {
  const system = useSystem({ worker: false });
  const correlation = uniqueId('order');
  let ids: string[];

  beforeAll(async () => {
    ids = [];
    for (const [type, correlationId] of [
      ['order.created', correlation],
      ['order.paid', correlation],
      ['order.created', `${correlation}-other`],
      ['order.shipped', correlation],
    ]) {
      ids.push((await sendEvent(system.client, { id: uniqueId('evt_search'), type, correlationId, data: {} })).id);
    }
    await sendEvent(system.client, { id: uniqueId('evt_search'), type: 'order.created', data: {} });
  });

  it('lists only the events of a correlation id, newest first, with its other filters and paging', async () => {
    const found = await system.client.get(`/v1/events?correlationId=${correlation}`);
    expect(found.status).toBe(200);
    expect(found.body.data.map((event: Json) => event.id)).toEqual([ids[3], ids[1], ids[0]]);
    expect(found.body.data.every((event: Json) => event.correlationId === correlation)).toBe(true);

    const created = await system.client.get(`/v1/events?correlationId=${correlation}&type=order.created`);
    expect(created.body.data.map((event: Json) => event.id)).toEqual([ids[0]]);

    const first = await system.client.get(`/v1/events?correlationId=${correlation}&limit=2`);
    expect(first.body.data.map((event: Json) => event.id)).toEqual([ids[3], ids[1]]);
    const second = await system.client.get(`/v1/events?correlationId=${correlation}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], nextCursor: null });

    expect((await system.client.get(`/v1/events?correlationId=${correlation}-none`)).body).toEqual({ data: [], nextCursor: null });
  });

  it('refuses an empty correlation id with a 400 naming it', async () => {
    const answer = await system.client.get('/v1/events?correlationId=');
    expect(answer.status).toBe(400);
    expect(answer.body.details).toEqual([{ path: 'query.correlationId', message: expect.any(String) }]);
  });

  it('describes the filters and the event story in /docs-json', async () => {
    const docs = (await system.client.get('/docs-json')).body;
    expect(docs.paths['/v1/events'].get.parameters.map((parameter: Json) => parameter.name).sort()).toEqual([
      'correlationId',
      'cursor',
      'limit',
      'since',
      'type',
      'until',
    ]);
    const story = docs.paths['/v1/events/{id}'].get.responses['200'].content['application/json'].schema;
    expect(story.properties).toEqual(expect.objectContaining({ traceId: expect.any(Object), dataBytes: expect.any(Object), data: expect.any(Object) }));
    const delivery = story.properties.deliveries.items.properties;
    expect(Object.keys(delivery)).toEqual(expect.arrayContaining(['id', 'status', 'destination', 'failureCategory', 'attempts', 'request']));
    expect(Object.keys(delivery.attempts.items.properties).sort()).toEqual([
      'durationMs',
      'error',
      'number',
      'outcome',
      'responseBody',
      'startedAt',
      'statusCode',
      'trigger',
    ]);
    expect(Object.keys(delivery.request.properties).sort()).toEqual(['body', 'properties', 'target']);
  });
});

describe("GET /v1/events/:id: an event's story", () => {
  const system = useSystem();
  const receiver = useReceiver();
  const secrets = { authorization: 'Bearer tok_5f1d2c9a7e', signatureKey: 'sk_live_83be0d4471', signing: webhookSecret() };
  let story: Json;
  let eventId: string;
  let hook: Json;
  let missing: Json;
  let devices: Json;
  let received: ReceivedRequest;

  beforeAll(async () => {
    hook = await createWebhook(system.client, `${receiver.url}/hook`, {
      name: 'orders hook',
      config: {
        url: `${receiver.url}/hook`,
        method: 'PUT',
        headers: { Authorization: secrets.authorization, 'X-Tenant': 'acme', 'X-Signature-Key': secrets.signatureKey },
        secretHeaders: ['X-Signature-Key'],
        secret: secrets.signing,
      },
    });
    missing = await createWebhook(system.client, `${receiver.url}/gone-away`, { name: 'old hook', retryPolicy: { maxAttempts: 1 } });
    const created = await system.client.post('/v1/destinations', { name: 'devices', kind: 'websocket', config: { subject: '{data.user_id}' }, eventTypes: ['*'] });
    expect(created.status).toBe(201);
    devices = created.body;
    eventId = uniqueId('evt_story');
    receiver.answer((request) => (request.path === '/gone-away' ? { status: 404, body: 'no such hook' } : { status: 200, body: 'thanks' }));
    const accepted = await sendEvent(system.client, {
      id: eventId,
      type: 'order.created',
      correlationId: 'order-77',
      data: { user_id: 'u_1', note: 'crème brûlée', total: 12.5 },
    });
    for (const delivery of accepted.deliveries) await waitForDelivery(system.client, delivery.id, delivery.destinationId === missing.id ? 'failed' : 'delivered');
    [received] = receiver.requests.filter((request) => request.path === '/hook' && request.headers['webhook-id'] === eventId);
    const answer = await system.client.get(`/v1/events/${eventId}`);
    expect(answer.status).toBe(200);
    story = answer.body;
  });

  const deliveryTo = (destination: Json) => story.deliveries.find((delivery: Json) => delivery.destination.id === destination.id);

  it('gives the event with its trace id (none: tracing is off) and the size of its data', () => {
    expect(story).toMatchObject({
      id: eventId,
      type: 'order.created',
      correlationId: 'order-77',
      data: { user_id: 'u_1', note: 'crème brûlée', total: 12.5 },
      traceId: null,
    });
    // As PostgreSQL writes jsonb out: keys by length, then bytes; a space after each colon and comma.
    expect(story.dataBytes).toBe(Buffer.byteLength('{"note": "crème brûlée", "total": 12.5, "user_id": "u_1"}'));
    expect(story.deliveries.map((delivery: Json) => delivery.destination)).toEqual(
      expect.arrayContaining([
        { id: hook.id, name: 'orders hook', kind: 'webhook' },
        { id: missing.id, name: 'old hook', kind: 'webhook' },
        { id: devices.id, name: 'devices', kind: 'websocket' },
      ]),
    );
  });

  it('shows a webhook delivery with its attempt and the request as the receiver got it: method, URL, header names, body', () => {
    const delivery = deliveryTo(hook);
    expect(delivery).toMatchObject({ status: 'delivered', failureCategory: null, attemptCount: 1 });
    expect(delivery.attempts).toEqual([
      {
        number: 1,
        trigger: 'scheduled',
        startedAt: expect.any(String),
        durationMs: expect.any(Number),
        outcome: 'delivered',
        statusCode: 200,
        responseBody: 'thanks',
        error: null,
      },
    ]);
    expect(delivery.request.properties).toEqual({ method: 'PUT', url: `${receiver.url}/hook`, headers: expect.any(Array) });
    expect(received.method).toBe('PUT');
    expect(delivery.request.body).toBe(received.body);
    for (const name of delivery.request.properties.headers) expect({ name, sent: name.toLowerCase() in received.headers }).toEqual({ name, sent: true });
    expect(delivery.request.properties.headers).toEqual(expect.arrayContaining(['Authorization', 'X-Tenant', 'X-Signature-Key', 'webhook-signature']));
    expect(delivery.request.target).toMatchObject({
      url: `${receiver.url}/hook`,
      headers: { Authorization: '********', 'X-Tenant': 'acme', 'X-Signature-Key': '********' },
    });
  });

  it('shows a failed delivery with its failure category and the receiver answer', () => {
    const delivery = deliveryTo(missing);
    expect(delivery).toMatchObject({ status: 'failed', failureCategory: 'receiver_4xx', lastStatusCode: 404 });
    expect(delivery.attempts).toEqual([expect.objectContaining({ number: 1, outcome: 'failed', statusCode: 404, responseBody: 'no such hook', error: null })]);
  });

  it('shows another kind with where it went (its config as the API shows it) and the payload', () => {
    const delivery = deliveryTo(devices);
    expect(delivery).toMatchObject({ status: 'delivered', failureCategory: null });
    expect(delivery.attempts[0].responseBody).toMatch(/u_1/);
    expect(delivery.request).toEqual({ target: { subject: '{data.user_id}' }, properties: {}, body: deliveryTo(hook).request.body });
    expect(JSON.parse(delivery.request.body)).toEqual({ id: eventId, type: 'order.created', timestamp: story.receivedAt, data: story.data });
  });

  it('holds no credential: no header value marked secret, sealed or not, no signing secret', () => {
    const text = JSON.stringify(story);
    expect(text).not.toContain('sealed:');
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
    expect(text).not.toContain('tok_');
    expect(text).not.toContain('whsec_');
  });

  it('answers 404 for an id the organization has no event of', async () => {
    const answer = await system.client.get(`/v1/events/${uniqueId('evt_nothere')}`);
    expect(answer.status).toBe(404);
  });
});
