import type { DeliveryStory, EventStory } from '@dispatch/db';
import { eventStoryView } from './event-story.view';

// The view takes only types from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({}));

const RECEIVED = new Date('2026-12-01T10:00:00.000Z');
const SEALED = 'sealed:v1:0a1b2c3d4e5f:c2VjcmV0LWNpcGhlcnRleHQ';

function delivery(overrides: Partial<DeliveryStory>): DeliveryStory {
  return {
    id: 'dlv_1',
    organizationId: 'org_A',
    eventId: 'evt_1',
    destinationId: 'dst_1',
    status: 'failed',
    attemptCount: 1,
    nextAttemptAt: null,
    lastError: 'HTTP 503; gave up after 1 attempt',
    lastStatusCode: 503,
    manualRetryAt: null,
    orderingKey: null,
    orderingSeq: null,
    replayId: null,
    failureCategory: 'receiver_5xx',
    createdAt: RECEIVED,
    updatedAt: RECEIVED,
    destination: {
      id: 'dst_1',
      name: 'orders',
      kind: 'webhook',
      config: { url: 'https://hooks.example/in', method: 'POST', headers: { Authorization: SEALED, 'X-Tenant': 'acme' } },
    },
    attempts: [
      {
        id: 'att_1',
        deliveryId: 'dlv_1',
        number: 1,
        trigger: 'scheduled',
        startedAt: RECEIVED,
        durationMs: 42,
        outcome: 'failed',
        statusCode: 503,
        responseBody: 'down',
        error: null,
      },
    ],
    ...overrides,
  } as DeliveryStory;
}

function setup(deliveries: DeliveryStory[]) {
  const mocks = {
    story: {
      event: {
        organizationId: 'org_A',
        id: 'evt_1',
        seq: 7n,
        type: 'order.created',
        source: null,
        data: { total: 12 },
        orderingKey: null,
        priority: 0,
        correlationId: 'order-7',
        tags: [],
        receivedAt: RECEIVED,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      },
      dataBytes: 13,
      deliveries,
    } as EventStory,
  };
  return { sut: () => eventStoryView(mocks.story), mocks };
}

describe('eventStoryView', () => {
  it('gives the event with its trace id and data size, and each delivery with its destination, category and attempts', () => {
    const { sut } = setup([delivery({})]);
    const view = sut();
    expect(view).toMatchObject({ id: 'evt_1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', dataBytes: 13, correlationId: 'order-7' });
    expect(view.deliveries[0]).toMatchObject({
      id: 'dlv_1',
      status: 'failed',
      failureCategory: 'receiver_5xx',
      destination: { id: 'dst_1', name: 'orders', kind: 'webhook' },
      attempts: [
        { number: 1, trigger: 'scheduled', startedAt: RECEIVED.toISOString(), durationMs: 42, outcome: 'failed', statusCode: 503, responseBody: 'down', error: null },
      ],
    });
  });

  it("shows a webhook's request by method, URL and header names, its credentials masked, and the body as sent", () => {
    const { sut } = setup([delivery({})]);
    const { request } = sut().deliveries[0];
    expect(request.properties).toEqual({
      method: 'POST',
      url: 'https://hooks.example/in',
      headers: expect.arrayContaining(['Authorization', 'X-Tenant', 'webhook-signature']),
    });
    expect(request.target).toEqual({ url: 'https://hooks.example/in', method: 'POST', headers: { Authorization: '********', 'X-Tenant': 'acme' } });
    expect(JSON.parse(request.body)).toEqual({ id: 'evt_1', type: 'order.created', timestamp: RECEIVED.toISOString(), data: { total: 12 } });
    expect(JSON.stringify(sut())).not.toContain(SEALED);
  });

  it('shows a kind this deployment does not know by its config, every sealed value masked, and no properties', () => {
    const unknown = delivery({ destination: { id: 'dst_2', name: 'legacy', kind: 'carrier-pigeon', config: { loft: 'north', token: SEALED } } });
    const { sut } = setup([unknown]);
    expect(sut().deliveries[0].request).toMatchObject({ target: { loft: 'north', token: '********' }, properties: {} });
  });
});
