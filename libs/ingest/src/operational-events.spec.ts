import { Logger } from '@nestjs/common';
import type { DestinationRepository, EventRepository, Ingest, IngestResult, NewDelivery, NewEvent, RoutableDestination } from '@dispatch/db';
import type { DeliveryQueues, EnqueueRequest } from '@dispatch/queue';
import { destinationSummary, OperationalEvents, subscribesToOperational } from './operational-events';

jest.mock('@dispatch/db', () => ({}));

const destination = (id: string, eventTypes: string[]): RoutableDestination => ({ id, eventTypes, enabled: true, ordering: 'none', maxAttempts: 8 });

type Setup = {
  destinations?: RoutableDestination[];
  /** Enabled destinations per organization, for `emitMany`; `destinations` for any other. */
  byOrganization?: Record<string, RoutableDestination[]>;
  created?: boolean;
  /** Ids of events already written: `ingestMany` answers them `created: false`. */
  written?: string[];
  /** Ids of events `ingestMany` fails to write. */
  failing?: string[];
  connected?: boolean;
  enqueueFails?: boolean;
};

function setup(options: Setup = {}) {
  const result = (event: NewEvent, planned: readonly NewDelivery[], created: boolean): IngestResult => ({
    created,
    event: { id: event.id, type: event.type, priority: event.priority },
    deliveries: planned.map((delivery) => ({ id: delivery.id, destinationId: delivery.destinationId, status: 'pending' })),
  });
  const mocks = {
    destinations: {
      listEnabled: jest.fn(async (organizationId: string) => options.byOrganization?.[organizationId] ?? options.destinations ?? []),
    },
    events: {
      ingest: jest.fn(async (event: NewEvent, planned: readonly NewDelivery[]): Promise<IngestResult> => result(event, planned, options.created ?? true)),
      ingestMany: jest.fn(async (ingests: readonly Ingest[]): Promise<(IngestResult | Error)[]> =>
        ingests.map(({ event, planned }) =>
          options.failing?.includes(event.id) ? new Error(`value too long for ${event.id}`) : result(event, planned, !options.written?.includes(event.id)),
        ),
      ),
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
    expect(subscribesToOperational(['dispatch.presence.*'], 'dispatch.presence.disconnected')).toBe(true);
    expect(subscribesToOperational(['*'], 'dispatch.presence.connected')).toBe(false);
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

describe('OperationalEvents.emitMany', () => {
  const presence = (organizationId: string, id: string, type: 'dispatch.presence.connected' | 'dispatch.presence.disconnected' = 'dispatch.presence.connected') => ({
    organizationId,
    type,
    data: { subject: `device-${id}`, sessionId: `ses_${id}`, at: '2026-12-01T10:00:00.000Z' },
    id,
  });

  it('writes a burst in one statement, reading each organization’s destinations once, and enqueues every delivery at once', async () => {
    const { sut, mocks } = setup({
      byOrganization: {
        org_1: [destination('dst_presence', ['dispatch.presence.*']), destination('dst_all', ['*']), destination('dst_alerts', ['dispatch.alert.*'])],
        org_2: [destination('dst_connects', ['dispatch.presence.connected'])],
      },
    });
    await sut.emitMany([
      presence('org_1', 'p1'),
      presence('org_1', 'p2', 'dispatch.presence.disconnected'),
      presence('org_2', 'p3'),
      presence('org_2', 'p4', 'dispatch.presence.disconnected'),
      presence('org_1', 'p5'),
    ]);

    expect(mocks.destinations.listEnabled.mock.calls.map(([organizationId]) => organizationId).sort()).toEqual(['org_1', 'org_2']);
    expect(mocks.events.ingestMany).toHaveBeenCalledTimes(1);
    expect(mocks.events.ingest).not.toHaveBeenCalled();
    const ingests = mocks.events.ingestMany.mock.calls[0][0];
    expect(ingests.map(({ event, planned }) => [event.organizationId, event.id, event.type, planned.map((delivery) => delivery.destinationId)])).toEqual([
      ['org_1', 'p1', 'dispatch.presence.connected', ['dst_presence']],
      ['org_1', 'p2', 'dispatch.presence.disconnected', ['dst_presence']],
      ['org_2', 'p3', 'dispatch.presence.connected', ['dst_connects']],
      ['org_2', 'p4', 'dispatch.presence.disconnected', []],
      ['org_1', 'p5', 'dispatch.presence.connected', ['dst_presence']],
    ]);
    expect(ingests[0].event).toMatchObject({ source: 'dispatch', data: { subject: 'device-p1', sessionId: 'ses_p1' }, priority: 0, orderingKey: null });
    expect(mocks.queues.enqueue).toHaveBeenCalledTimes(1);
    const planned = ingests.flatMap(({ planned }) => planned);
    expect(mocks.queues.enqueue.mock.calls[0][0]).toEqual(
      planned.map((delivery) => ({ deliveryId: delivery.id, destinationId: delivery.destinationId, attempts: 8, priority: 0 })),
    );
  });

  it('with onlyWhenSubscribed, writes nothing for the events no destination of their organization subscribes to', async () => {
    const { sut, mocks } = setup({
      byOrganization: { org_1: [destination('dst_presence', ['dispatch.presence.*'])], org_2: [destination('dst_all', ['*'])], org_3: [] },
    });
    await sut.emitMany([presence('org_1', 'p1'), presence('org_2', 'p2'), presence('org_3', 'p3')], { onlyWhenSubscribed: true });
    expect(mocks.events.ingestMany.mock.calls[0][0].map(({ event }) => event.id)).toEqual(['p1']);

    const nobody = setup({ byOrganization: { org_2: [destination('dst_all', ['*'])] } });
    await nobody.sut.emitMany([presence('org_2', 'p2')], { onlyWhenSubscribed: true });
    expect(nobody.mocks.events.ingestMany).not.toHaveBeenCalled();
    expect(nobody.mocks.queues.enqueue).not.toHaveBeenCalled();
  });

  it('without onlyWhenSubscribed, writes every event, subscribed or not', async () => {
    const { sut, mocks } = setup({ byOrganization: { org_2: [destination('dst_all', ['*'])] } });
    await sut.emitMany([presence('org_2', 'p2')]);
    expect(mocks.events.ingestMany.mock.calls[0][0]).toEqual([expect.objectContaining({ event: expect.objectContaining({ id: 'p2' }), planned: [] })]);
    expect(mocks.queues.enqueue).not.toHaveBeenCalled();
  });

  it('gives events without an id a new one each', async () => {
    const { sut, mocks } = setup();
    await sut.emitMany([
      { organizationId: 'org_1', type: 'dispatch.presence.connected', data: {} },
      { organizationId: 'org_1', type: 'dispatch.presence.connected', data: {} },
    ]);
    const [first, second] = mocks.events.ingestMany.mock.calls[0][0].map(({ event }) => event.id);
    expect(first).toMatch(/^evt_/);
    expect(second).toMatch(/^evt_/);
    expect(first).not.toBe(second);
  });

  it('enqueues nothing again for events already written, and still the deliveries of the new ones', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_presence', ['dispatch.presence.*'])], written: ['p1'] });
    await expect(sut.emitMany([presence('org_1', 'p1'), presence('org_1', 'p2')])).resolves.toBeUndefined();
    const [, second] = mocks.events.ingestMany.mock.calls[0][0];
    expect(mocks.queues.enqueue).toHaveBeenCalledWith([{ deliveryId: second.planned[0].id, destinationId: 'dst_presence', attempts: 8, priority: 0 }]);
  });

  it('enqueues the deliveries of the events written, then throws the error of one that was not', async () => {
    const { sut, mocks } = setup({ destinations: [destination('dst_presence', ['dispatch.presence.*'])], failing: ['p2'] });
    await expect(sut.emitMany([presence('org_1', 'p1'), presence('org_1', 'p2'), presence('org_1', 'p3')])).rejects.toThrow('value too long for p2');
    const enqueued = mocks.queues.enqueue.mock.calls[0][0].map((request) => request.deliveryId);
    const [first, , third] = mocks.events.ingestMany.mock.calls[0][0];
    expect(enqueued).toEqual([first.planned[0].id, third.planned[0].id]);
  });

  it('leaves the deliveries to the reconciler when Redis is down or refuses them', async () => {
    const down = setup({ destinations: [destination('dst_presence', ['dispatch.presence.*'])], connected: false });
    await expect(down.sut.emitMany([presence('org_1', 'p1')])).resolves.toBeUndefined();
    expect(down.mocks.queues.enqueue).not.toHaveBeenCalled();

    const refusing = setup({ destinations: [destination('dst_presence', ['dispatch.presence.*'])], enqueueFails: true });
    await expect(refusing.sut.emitMany([presence('org_1', 'p1'), presence('org_1', 'p2')])).resolves.toBeUndefined();
    expect(refusing.mocks.warn).toHaveBeenCalledWith(expect.stringContaining('2 events accepted; their deliveries wait for the reconciler'));
  });

  it('does nothing for an empty burst', async () => {
    const { sut, mocks } = setup();
    await sut.emitMany([]);
    expect(mocks.destinations.listEnabled).not.toHaveBeenCalled();
    expect(mocks.events.ingestMany).not.toHaveBeenCalled();
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
