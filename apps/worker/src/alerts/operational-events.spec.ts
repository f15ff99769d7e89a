import { Logger } from '@nestjs/common';
import type { DestinationRepository, EventRepository, IngestResult, NewDelivery, NewEvent, RoutableDestination } from '@dispatch/db';
import type { DeliveryQueues, EnqueueRequest } from '@dispatch/queue';
import { destinationSummary, OperationalEvents, subscribesToOperational } from './operational-events';

jest.mock('@dispatch/db', () => ({}));

const destination = (id: string, eventTypes: string[]): RoutableDestination => ({ id, eventTypes, enabled: true, ordering: 'none', maxAttempts: 8 });

function setup(options: { destinations?: RoutableDestination[]; created?: boolean; connected?: boolean; enqueueFails?: boolean } = {}) {
  const mocks = {
    destinations: { listEnabled: jest.fn(async (_organizationId: string) => options.destinations ?? []) },
    events: {
      ingest: jest.fn(async (event: NewEvent, planned: readonly NewDelivery[]): Promise<IngestResult> => ({
        created: options.created ?? true,
        event: { id: event.id, type: event.type, priority: event.priority },
        deliveries: planned.map((delivery) => ({ id: delivery.id, destinationId: delivery.destinationId, status: 'pending' })),
      })),
    },
    queues: {
      connected: options.connected ?? true,
      enqueue: jest.fn(async (_requests: readonly EnqueueRequest[]) => {
        if (options.enqueueFails) throw new Error('Connection is closed.');
      }),
    },
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
  };
  const sut = new OperationalEvents(
    mocks.destinations as unknown as DestinationRepository,
    mocks.events as unknown as EventRepository,
    mocks.queues as unknown as DeliveryQueues,
  );
  return { sut, mocks };
}

afterEach(() => jest.restoreAllMocks());

describe('subscribesToOperational', () => {
  it('takes patterns that name dispatch events, not the catch-all', () => {
    expect(subscribesToOperational(['dispatch.*'], 'dispatch.alert.opened')).toBe(true);
    expect(subscribesToOperational(['dispatch.alert.*'], 'dispatch.alert.opened')).toBe(true);
    expect(subscribesToOperational(['dispatch.alert.opened'], 'dispatch.alert.opened')).toBe(true);
    expect(subscribesToOperational(['*'], 'dispatch.alert.opened')).toBe(false);
    expect(subscribesToOperational(['order.*', '*'], 'dispatch.destination.disabled')).toBe(false);
    expect(subscribesToOperational(['dispatch.alert.*'], 'dispatch.destination.disabled')).toBe(false);
  });
});

describe('OperationalEvents', () => {
  it('writes the event with a delivery to each subscribed destination but the one it is about, then enqueues them', async () => {
    const { sut, mocks } = setup({
      destinations: [
        destination('dst_ops', ['dispatch.*']),
        destination('dst_all', ['*']),
        destination('dst_failing', ['dispatch.*']),
        destination('dst_orders', ['order.*']),
      ],
    });
    const result = await sut.emit('org_1', 'dispatch.alert.opened', { id: 'alr_1' }, { aboutDestinationId: 'dst_failing', id: 'alr_1.opened' });

    expect(mocks.destinations.listEnabled).toHaveBeenCalledWith('org_1');
    const [event, planned] = mocks.events.ingest.mock.calls[0];
    expect(event).toMatchObject({ organizationId: 'org_1', id: 'alr_1.opened', type: 'dispatch.alert.opened', source: 'dispatch', data: { id: 'alr_1' } });
    expect(planned.map((delivery) => delivery.destinationId)).toEqual(['dst_ops']);
    expect(result.deliveries).toHaveLength(1);
    expect(mocks.queues.enqueue).toHaveBeenCalledWith([{ deliveryId: result.deliveries[0].id, destinationId: 'dst_ops', attempts: 8, priority: 0 }]);
  });

  it('writes the event even when no destination takes it, and enqueues nothing', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_all', ['*'])] });
    await sut.emit('org_1', 'dispatch.destination.disabled', { id: 'dst_x' }, { aboutDestinationId: 'dst_x' });
    expect(mocks.events.ingest).toHaveBeenCalledTimes(1);
    expect(mocks.events.ingest.mock.calls[0][0].id).toMatch(/^evt_/);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });

  it('enqueues nothing for an event already written (the same id emitted again)', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_ops', ['dispatch.*'])], created: false });
    await sut.emit('org_1', 'dispatch.alert.resolved', {}, { id: 'alr_1.resolved' });
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });

  it('leaves the deliveries to the reconciler when Redis is down or refuses them', async () => {
    const down = setup({ destinations: [destination('dst_ops', ['dispatch.*'])], connected: false });
    await expect(down.sut.emit('org_1', 'dispatch.alert.opened', {})).resolves.toMatchObject({ created: true });
    expect(down.mocks.queues.enqueue).not.toHaveBeenCalled();

    const refusing = setup({ destinations: [destination('dst_ops', ['dispatch.*'])], enqueueFails: true });
    await expect(refusing.sut.emit('org_1', 'dispatch.alert.opened', {})).resolves.toMatchObject({ created: true });
    expect(refusing.mocks.warn).toHaveBeenCalledWith(expect.stringContaining('wait for the reconciler'));
  });
});

describe('destinationSummary', () => {
  it('names the destination without its configuration or secrets', () => {
    const summary = destinationSummary({
      id: 'dst_1',
      name: 'orders',
      kind: 'webhook',
      enabled: false,
      eventTypes: ['order.*'],
      disabledReason: 'gone',
      ...{ config: { url: 'https://x' }, secret: 'whsec_x' },
    });
    expect(summary).toEqual({ id: 'dst_1', name: 'orders', kind: 'webhook', enabled: false, eventTypes: ['order.*'], disabledReason: 'gone' });
  });
});
