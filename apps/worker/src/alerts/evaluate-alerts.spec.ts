import { Logger } from '@nestjs/common';
import type { Alert, AlertRepository, AttemptMeasures, DestinationBacklog, NewAlert } from '@dispatch/db';
import { AlertSettings, DEFAULT_ALERT_SETTINGS } from '@dispatch/domain';
import { announcement, EvaluateAlerts } from './evaluate-alerts';
import type { OperationalEvents } from '@dispatch/ingest';
import type { OpenCircuits } from './open-circuits';
import { WorkerMetrics } from '../operations/worker-metrics';

// The evaluation takes the alert view and keys from the database library: its Prisma client is never loaded.
jest.mock('@dispatch/db', () => ({
  MAX_DESTINATIONS: 50_000,
  alertKey: (destinationId: string, condition: string) => `${destinationId} ${condition}`,
  alertView: (alert: { id: string; status: string; escalationLevel: number }) => ({ id: alert.id, status: alert.status, escalationLevel: alert.escalationLevel }),
}));

const NOW = new Date('2026-03-01T12:00:00.000Z');
const HOUR = 3_600_000;

const alert = (changes: Partial<Alert>): Alert => ({
  id: 'alr_1',
  organizationId: 'org_1',
  destinationId: 'dst_1',
  condition: 'consecutive_failures',
  status: 'open',
  openedAt: new Date(NOW.getTime() - 1000),
  resolvedAt: null,
  escalationLevel: 0,
  escalatedAt: null,
  value: 5,
  threshold: 5,
  message: 'orders: 5 attempts failed in a row (threshold 5)',
  acknowledgedAt: null,
  acknowledgedBy: null,
  announced: true,
  ...changes,
});

const failing = (changes: Partial<AttemptMeasures> = {}): AttemptMeasures => ({
  organizationId: 'org_1',
  destinationId: 'dst_1',
  attempts: 5,
  failures: 5,
  consecutiveFailures: 5,
  deliveredInWindow: false,
  averageResponseMs: 100,
  ...changes,
});

function setup(
  options: {
    measures?: AttemptMeasures[];
    backlogs?: DestinationBacklog[];
    open?: Alert[];
    resolutions?: Map<string, Date>;
    unannounced?: Alert[];
    circuits?: Set<string> | null;
    settings?: AlertSettings;
    destinations?: { id: string; organizationId: string; name: string }[];
    operational?: Map<string, number>;
    emitFails?: boolean;
  } = {},
) {
  const settings = options.settings ?? { ...DEFAULT_ALERT_SETTINGS, failureRate: null, responseTimeMs: null };
  const mocks = {
    alerts: {
      settingsBounds: jest.fn(async () => ({ widestWindowMs: 900_000, longestCooldownMs: HOUR })),
      attemptMeasures: jest.fn(async (_now: Date, _window: number, _types: readonly string[]) => options.measures ?? []),
      backlogs: jest.fn(async () => options.backlogs ?? []),
      openAlerts: jest.fn(async () => options.open ?? []),
      lastResolutions: jest.fn(async (_since: Date) => options.resolutions ?? new Map<string, Date>()),
      destinations: jest.fn(async (ids: readonly string[]) =>
        (options.destinations ?? [{ id: 'dst_1', organizationId: 'org_1', name: 'orders' }]).filter((destination) => ids.includes(destination.id)),
      ),
      settingsOf: jest.fn(async (ids: readonly string[]) => new Map(ids.map((id) => [id, settings]))),
      operationalBacklogs: jest.fn(async (_organizations: readonly string[], _types: readonly string[]) => options.operational ?? new Map<string, number>()),
      open: jest.fn(async (created: NewAlert) => alert({ ...created, id: 'alr_new', announced: false })),
      resolve: jest.fn(async (id: string, value: number, now: Date) => alert({ id, value, status: 'resolved', resolvedAt: now })),
      escalate: jest.fn(async (id: string, level: number, value: number) => alert({ id, value, escalationLevel: level })),
      updateValue: jest.fn(async (_id: string, _value: number, _message: string) => undefined),
      unannounced: jest.fn(async (_limit: number) => options.unannounced ?? []),
      markAnnounced: jest.fn(async (_alert: Pick<Alert, 'id' | 'status' | 'escalationLevel'>) => undefined),
    },
    events: {
      emit: jest.fn(async () => {
        if (options.emitFails) throw new Error('database unreachable');
        return { created: true, event: { id: 'e', type: 't', priority: 0 }, deliveries: [] };
      }),
    },
    circuits: { read: jest.fn(async () => (options.circuits === undefined ? null : options.circuits)) },
    metrics: new WorkerMetrics({ subscribe: () => undefined } as never),
    warn: jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined),
    log: jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined),
  };
  const sut = new EvaluateAlerts(
    mocks.alerts as unknown as AlertRepository,
    mocks.events as unknown as OperationalEvents,
    mocks.circuits as unknown as OpenCircuits,
    mocks.metrics,
  );
  return { sut, mocks };
}

afterEach(() => jest.restoreAllMocks());

describe('EvaluateAlerts', () => {
  it('opens an alert for a condition that holds, with its value, threshold and message', async () => {
    const { sut, mocks } = setup({ measures: [failing({ consecutiveFailures: 6 })] });
    expect(await sut.run(NOW)).toMatchObject({ opened: 1, escalated: 0, resolved: 0 });
    expect(mocks.alerts.open).toHaveBeenCalledWith({
      organizationId: 'org_1',
      destinationId: 'dst_1',
      condition: 'consecutive_failures',
      openedAt: NOW,
      value: 6,
      threshold: 5,
      message: 'orders: 6 attempts failed in a row (threshold 5)',
    });
    expect(await mocks.metrics.registry.getSingleMetricAsString('dispatch_alert_changes_total')).toContain(
      'dispatch_alert_changes_total{condition="consecutive_failures",change="opened"} 1',
    );
    expect(mocks.alerts.attemptMeasures).toHaveBeenCalledWith(NOW, 900_000, expect.arrayContaining(['dispatch.alert.opened', 'dispatch.destination.disabled']));
    expect(mocks.alerts.attemptMeasures.mock.calls[0][2]).not.toContain('dispatch.presence.disconnected');
  });

  it('opens none within the cooldown after the last alert of that condition resolved', async () => {
    const { sut, mocks } = setup({ measures: [failing()], resolutions: new Map([['dst_1 consecutive_failures', new Date(NOW.getTime() - HOUR / 2)]]) });
    await sut.run(NOW);
    expect(mocks.alerts.open).not.toHaveBeenCalled();
  });

  it('resolves an open alert once a delivered attempt ends the failures, and escalates one that keeps holding', async () => {
    const recovered = setup({ measures: [failing({ consecutiveFailures: 0, deliveredInWindow: true })], open: [alert({})] });
    expect(await recovered.sut.run(NOW)).toMatchObject({ resolved: 1 });
    expect(recovered.mocks.alerts.resolve).toHaveBeenCalledWith('alr_1', 0, NOW);

    const held = setup({ measures: [failing()], open: [alert({ openedAt: new Date(NOW.getTime() - 4 * HOUR), escalationLevel: 1 })] });
    expect(await held.sut.run(NOW)).toMatchObject({ escalated: 1 });
    expect(held.mocks.alerts.escalate).toHaveBeenCalledWith('alr_1', 2, 5, NOW);
  });

  it('keeps an alert open while its destination has no attempts in the window, and resolves those of a deleted destination', async () => {
    const quiet = setup({ open: [alert({})] });
    await quiet.sut.run(NOW);
    expect(quiet.mocks.alerts.resolve).not.toHaveBeenCalled();

    const deleted = setup({ open: [alert({})], destinations: [] });
    expect(await deleted.sut.run(NOW)).toMatchObject({ resolved: 1 });
    expect(deleted.mocks.alerts.resolve).toHaveBeenCalledWith('alr_1', 5, NOW);
  });

  it('resolves the open alert of a condition the settings turned off', async () => {
    const { sut, mocks } = setup({
      measures: [failing()],
      open: [alert({})],
      settings: { ...DEFAULT_ALERT_SETTINGS, failureRate: null, responseTimeMs: null, consecutiveFailures: null },
    });
    expect(await sut.run(NOW)).toMatchObject({ resolved: 1, opened: 0 });
    expect(mocks.alerts.resolve).toHaveBeenCalledWith('alr_1', 5, NOW);
  });

  it("leaves operational events' deliveries out of a backlog, counting them only where a destination is over its threshold", async () => {
    const settings = { ...DEFAULT_ALERT_SETTINGS, failureRate: null, responseTimeMs: null, backlog: 10 };
    const backlogs = [
      { organizationId: 'org_1', destinationId: 'dst_1', backlog: 12 },
      { organizationId: 'org_2', destinationId: 'dst_2', backlog: 3 },
    ];
    const destinations = [
      { id: 'dst_1', organizationId: 'org_1', name: 'orders' },
      { id: 'dst_2', organizationId: 'org_2', name: 'billing' },
    ];
    const { sut, mocks } = setup({ settings, backlogs, destinations, operational: new Map([['dst_1', 4]]) });
    await sut.run(NOW);
    expect(mocks.alerts.operationalBacklogs).toHaveBeenCalledWith(['org_1'], expect.arrayContaining(['dispatch.alert.opened']));
    expect(mocks.alerts.operationalBacklogs.mock.calls[0][1]).not.toContain('dispatch.presence.connected');
    expect(mocks.alerts.open).not.toHaveBeenCalled();

    const over = setup({ settings, backlogs, destinations, operational: new Map([['dst_1', 1]]) });
    await over.sut.run(NOW);
    expect(over.mocks.alerts.open).toHaveBeenCalledWith(expect.objectContaining({ condition: 'backlog', destinationId: 'dst_1', value: 11, threshold: 10 }));
  });

  it('observes open circuits once a circuit source is registered', async () => {
    const { sut, mocks } = setup({ circuits: new Set(['dst_1']) });
    await sut.run(NOW);
    expect(mocks.alerts.open).toHaveBeenCalledWith(expect.objectContaining({ condition: 'circuit_open', value: 1 }));

    const unknown = setup({ circuits: null, open: [alert({ condition: 'circuit_open', value: 1, threshold: 1 })] });
    await unknown.sut.run(NOW);
    expect(unknown.mocks.alerts.resolve).not.toHaveBeenCalled();
  });

  it('announces each unannounced change about its destination, with an id derived from the change, and marks it', async () => {
    const changes = [alert({ id: 'alr_a', announced: false }), alert({ id: 'alr_b', escalationLevel: 2, announced: false })];
    const { sut, mocks } = setup({ unannounced: changes });
    expect(await sut.run(NOW)).toMatchObject({ announced: 2 });
    expect(mocks.events.emit).toHaveBeenCalledWith('org_1', 'dispatch.alert.opened', expect.objectContaining({ id: 'alr_a' }), {
      aboutDestinationId: 'dst_1',
      id: 'alr_a.opened',
    });
    expect(mocks.events.emit).toHaveBeenCalledWith('org_1', 'dispatch.alert.escalated', expect.objectContaining({ id: 'alr_b', escalationLevel: 2 }), {
      aboutDestinationId: 'dst_1',
      id: 'alr_b.escalated.2',
    });
    expect(mocks.alerts.markAnnounced).toHaveBeenCalledTimes(2);
  });

  it('leaves a change whose event could not be written to the next evaluation', async () => {
    const { sut, mocks } = setup({ unannounced: [alert({ announced: false })], emitFails: true });
    expect(await sut.run(NOW)).toMatchObject({ announced: 0 });
    expect(mocks.alerts.markAnnounced).not.toHaveBeenCalled();
    expect(mocks.warn).toHaveBeenCalledWith(expect.stringContaining('waits for the next evaluation'));
  });
});

describe('announcement', () => {
  it('names the event of the latest change', () => {
    expect(announcement({ id: 'alr_1', status: 'open', escalationLevel: 0 })).toEqual({ type: 'dispatch.alert.opened', id: 'alr_1.opened' });
    expect(announcement({ id: 'alr_1', status: 'open', escalationLevel: 3 })).toEqual({ type: 'dispatch.alert.escalated', id: 'alr_1.escalated.3' });
    expect(announcement({ id: 'alr_1', status: 'resolved', escalationLevel: 3 })).toEqual({ type: 'dispatch.alert.resolved', id: 'alr_1.resolved' });
  });
});
