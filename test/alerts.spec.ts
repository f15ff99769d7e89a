import { ApiClient, createTestOrganization, createWebhook, eventually, Json, ReceivedRequest, sendEvent, uniqueId } from '@dispatch/testing';
import { Webhook } from 'standardwebhooks';
import { EvaluateAlerts } from '../apps/worker/src/alerts/evaluate-alerts';
import { useReceiver, useSystem } from './system';

const DEFAULTS = {
  failureRate: { threshold: 0.1, windowMs: 900000 },
  consecutiveFailures: 5,
  backlog: 1000,
  responseTimeMs: 30000,
  cooldownMs: 3600000,
  escalateAfterMs: [3600000, 14400000, 86400000],
};

/** Settings under which only consecutive failures (3 in a row) raise alerts. */
const THREE_FAILURES = { failureRate: null, consecutiveFailures: 3, backlog: null, responseTimeMs: null, cooldownMs: 0, escalateAfterMs: [] };

describe('alerts', () => {
  const system = useSystem({ env: { DISPATCH_ALERTS_EVALUATE_MS: '200' } });
  const receiver = useReceiver();
  /** Subscribed to Dispatch's own events: where alerts are announced. */
  let ops: Json;
  let opsSecret: string;

  beforeAll(async () => {
    ops = await createWebhook(system.client, `${receiver.url}/ops`, { name: 'ops', eventTypes: ['dispatch.*'] });
    opsSecret = ops.secret;
  });

  const putSettings = async (settings: Record<string, unknown>) => {
    const answer = await system.client.request('PUT', '/v1/alert-settings', settings);
    expect(answer.status).toBe(200);
  };

  /** A webhook whose receiver answers 500 while `failing.on` is true; subscribed to dispatch.* too, so it would get its own alerts if they were sent to it. */
  const failingDestination = async () => {
    const path = `/${uniqueId('failing')}`;
    const destination = await createWebhook(system.client, `${receiver.url}${path}`, { eventTypes: ['order.*', 'dispatch.*'], retryPolicy: { maxAttempts: 1 } });
    return { ...destination, path };
  };

  const answerFailing = (paths: Set<string>) => receiver.answer((request) => (paths.has(request.path) ? { status: 500, body: 'down' } : { status: 200, body: 'ok' }));

  const sendOrders = async (destinationId: string, count: number) => {
    for (let index = 0; index < count; index += 1) {
      const accepted = await sendEvent(system.client, { type: 'order.created', destinations: [destinationId], data: { index } });
      await eventually(async () => {
        const delivery = (await system.client.get(`/v1/deliveries/${accepted.deliveries[0].id}`)).body;
        return ['delivered', 'failed'].includes(delivery.status) ? delivery : undefined;
      });
    }
  };

  const alertsOf = async (destinationId: string, status?: string): Promise<Json[]> =>
    (await system.client.get(`/v1/alerts?destinationId=${destinationId}${status ? `&status=${status}` : ''}`)).body.data;

  const openAlert = (destinationId: string, condition: string) =>
    eventually(
      async () => (await alertsOf(destinationId, 'open')).find((alert) => alert.condition === condition),
      10_000,
      `an open ${condition} alert on ${destinationId}`,
    );

  const evaluate = () => (system.worker as NonNullable<typeof system.worker>).get(EvaluateAlerts).run();

  /** The webhook of event `eventId` that reached `path` (ops by default); other subscribers of dispatch.* get it too. */
  const announcementAt = (eventId: string, path = '/ops', timeoutMs = 10_000) =>
    eventually(async () => receiver.requestsOf(eventId).find((request) => request.path === path), timeoutMs, `event ${eventId} at ${path}`);

  const operationalRequests = (path?: string): ReceivedRequest[] =>
    receiver.requests.filter((request) => String(request.headers['dispatch-event-type']).startsWith('dispatch.') && (!path || request.path === path));

  /** The destinations the operational event of `type` about `destinationId` was routed to (its deliveries, written with it). */
  const routedTo = async (type: string, destinationId: string): Promise<string[]> => {
    const events = (await system.client.get(`/v1/events?type=${type}&limit=200`)).body.data;
    const event = events.find((one: Json) => one.data.destination?.id === destinationId || one.data.destinationId === destinationId);
    return (await system.client.get(`/v1/events/${encodeURIComponent(event.id)}`)).body.deliveries.map((delivery: Json) => delivery.destinationId);
  };

  /** The operational events about `destinationId` that reached `path` (the destination's own receiver must get none). */
  const aboutItself = (path: string, destinationId: string): ReceivedRequest[] =>
    operationalRequests(path).filter((request) => {
      const data = JSON.parse(request.body).data;
      return data.destinationId === destinationId || data.destination?.id === destinationId;
    });

  it('opens an alert after consecutive failures and announces it to the destinations subscribed to dispatch.*, not to the failing one nor to a catch-all', async () => {
    await putSettings(THREE_FAILURES);
    const failing = await failingDestination();
    const catchAll = await createWebhook(system.client, `${receiver.url}/all`, { eventTypes: ['*'] });
    answerFailing(new Set([failing.path]));

    await sendOrders(failing.id, 3);
    const alert = await openAlert(failing.id, 'consecutive_failures');
    expect(alert).toMatchObject({ destinationId: failing.id, status: 'open', resolvedAt: null, escalationLevel: 0, value: 3, threshold: 3 });
    expect(alert.message).toContain('3 attempts failed in a row');

    const announced = await announcementAt(`${alert.id}.opened`);
    expect(announced.headers['dispatch-event-type']).toBe('dispatch.alert.opened');
    const payload = new Webhook(opsSecret).verify(announced.body, announced.headers as Record<string, string>) as Json;
    expect(payload).toMatchObject({ id: `${alert.id}.opened`, type: 'dispatch.alert.opened', data: { ...alert, acknowledgedAt: null } });

    // The event is an event of the organization: listed, with a delivery to ops only.
    const event = (await system.client.get(`/v1/events/${alert.id}.opened`)).body;
    expect(event.deliveries.map((delivery: Json) => delivery.destinationId)).toEqual([ops.id]);
    expect(aboutItself(failing.path, failing.id)).toEqual([]);
    expect(operationalRequests('/all')).toEqual([]);
    expect(catchAll.eventTypes).toEqual(['*']);
  });

  it('resolves the alert when the destination delivers again, announced as dispatch.alert.resolved', async () => {
    await putSettings(THREE_FAILURES);
    const failing = await failingDestination();
    answerFailing(new Set([failing.path]));
    await sendOrders(failing.id, 3);
    const alert = await openAlert(failing.id, 'consecutive_failures');

    answerFailing(new Set());
    await sendOrders(failing.id, 1);
    const resolved = await eventually(async () => (await alertsOf(failing.id, 'resolved')).find((one) => one.id === alert.id), 10_000, 'the alert to resolve');
    expect(resolved).toMatchObject({ status: 'resolved', value: 0 });
    expect(Date.parse(resolved.resolvedAt)).toBeGreaterThanOrEqual(Date.parse(alert.openedAt));
    expect(await alertsOf(failing.id, 'open')).toEqual([]);

    const announced = await announcementAt(`${alert.id}.resolved`);
    expect(JSON.parse(announced.body)).toMatchObject({ type: 'dispatch.alert.resolved', data: { id: alert.id, status: 'resolved' } });
  });

  it('opens no new alert for the same condition within the cooldown after one resolved', async () => {
    await putSettings({ ...THREE_FAILURES, cooldownMs: 3_600_000 });
    const failing = await failingDestination();
    answerFailing(new Set([failing.path]));
    await sendOrders(failing.id, 3);
    const first = await openAlert(failing.id, 'consecutive_failures');
    answerFailing(new Set());
    await sendOrders(failing.id, 1);
    await eventually(async () => ((await alertsOf(failing.id, 'resolved')).length === 1 ? true : undefined), 10_000, 'the alert to resolve');

    answerFailing(new Set([failing.path]));
    await sendOrders(failing.id, 3);
    await evaluate();
    expect((await alertsOf(failing.id)).map((alert) => alert.id)).toEqual([first.id]);

    // Once the cooldown is over (here: set to none), the same condition opens a new alert.
    await putSettings({ ...THREE_FAILURES, cooldownMs: 0 });
    const second = await openAlert(failing.id, 'consecutive_failures');
    expect(second.id).not.toBe(first.id);
  });

  it('escalates an alert left open at each time of escalateAfterMs, announcing each level', async () => {
    await putSettings({ ...THREE_FAILURES, escalateAfterMs: [1000, 2000, 3000] });
    const failing = await failingDestination();
    answerFailing(new Set([failing.path]));
    await sendOrders(failing.id, 3);
    const alert = await openAlert(failing.id, 'consecutive_failures');

    for (const level of [1, 2, 3]) {
      const announced = await announcementAt(`${alert.id}.escalated.${level}`, '/ops', 15_000);
      expect(JSON.parse(announced.body)).toMatchObject({ type: 'dispatch.alert.escalated', data: { id: alert.id, status: 'open', escalationLevel: level } });
    }
    const [escalated] = await alertsOf(failing.id, 'open');
    expect(escalated).toMatchObject({ id: alert.id, escalationLevel: 3 });
    expect(Date.parse(escalated.escalatedAt) - Date.parse(escalated.openedAt)).toBeGreaterThanOrEqual(3000);
  });

  it('stops escalating an acknowledged alert; only an admin acknowledges', async () => {
    await putSettings({ ...THREE_FAILURES, escalateAfterMs: [1000] });
    const failing = await failingDestination();
    answerFailing(new Set([failing.path]));
    await sendOrders(failing.id, 3);
    const alert = await openAlert(failing.id, 'consecutive_failures');

    const viewer = await new ApiClient(system.url, system.organization.viewerKey).post(`/v1/alerts/${alert.id}/acknowledge`, {});
    expect(viewer.status).toBe(403);
    const acknowledged = await system.client.post(`/v1/alerts/${alert.id}/acknowledge`, {});
    expect(acknowledged.status).toBe(200);
    expect(acknowledged.body).toMatchObject({ id: alert.id, status: 'open', escalationLevel: 0, acknowledgedBy: expect.any(String) });
    expect(Date.parse(acknowledged.body.acknowledgedAt)).toBeGreaterThan(0);
    const again = await system.client.post(`/v1/alerts/${alert.id}/acknowledge`, {});
    expect(again.body.acknowledgedAt).toBe(acknowledged.body.acknowledgedAt);
    expect((await system.client.post('/v1/alerts/alr_unknown/acknowledge', {})).status).toBe(404);

    await new Promise((resolve) => setTimeout(resolve, 1200));
    await evaluate();
    expect(await alertsOf(failing.id, 'open')).toEqual([expect.objectContaining({ id: alert.id, escalationLevel: 0 })]);
    expect(receiver.requestsOf(`${alert.id}.escalated.1`)).toEqual([]);

    const audit = (await system.client.get('/v1/audit-log')).body.data;
    expect(audit.filter((entry: Json) => entry.action === 'alert.acknowledge' && entry.target === alert.id)).toHaveLength(1);
  });

  it('raises no alert about a subscriber of dispatch.* that fails to take the alerts themselves', async () => {
    await putSettings({ ...THREE_FAILURES, consecutiveFailures: 2, escalateAfterMs: [1000, 2000, 3000] });
    const brokenOps = await createWebhook(system.client, `${receiver.url}/broken-ops`, { eventTypes: ['dispatch.*'], retryPolicy: { maxAttempts: 1 } });
    const failing = await failingDestination();
    answerFailing(new Set([failing.path, '/broken-ops']));
    await sendOrders(failing.id, 3);
    const alert = await openAlert(failing.id, 'consecutive_failures');

    // Opened and escalated three times: four announcements, each failing at broken-ops (and taken at ops).
    for (const change of ['opened', 'escalated.1', 'escalated.2', 'escalated.3']) {
      await announcementAt(`${alert.id}.${change}`, '/broken-ops', 15_000);
      await announcementAt(`${alert.id}.${change}`, '/ops', 15_000);
    }
    await eventually(
      async () => {
        const failed = (await system.client.get(`/v1/deliveries?destinationId=${brokenOps.id}&status=failed&limit=200`)).body.data;
        return failed.length >= 4 ? failed : undefined;
      },
      10_000,
      'the failed announcements at broken-ops to be recorded',
    );
    await evaluate();
    expect(await alertsOf(brokenOps.id)).toEqual([]);
  });

  it('opens failure-rate, backlog and response-time alerts over their thresholds, and takes 429 answers for no failures', async () => {
    await putSettings({
      failureRate: { threshold: 0.3, windowMs: 60_000 },
      consecutiveFailures: null,
      backlog: 2,
      responseTimeMs: 200,
      cooldownMs: 0,
      escalateAfterMs: [],
    });
    const hook = (path: string, overrides: Record<string, unknown> = {}) =>
      createWebhook(system.client, `${receiver.url}${path}`, { eventTypes: ['order.*'], retryPolicy: { maxAttempts: 1 }, ...overrides });
    const flaky = await hook('/flaky');
    const slow = await hook('/slow');
    const throttled = await hook('/throttled');
    const held = await hook('/held');
    let flakyCalls = 0;
    receiver.answer((request) => {
      if (request.path === '/flaky') return (flakyCalls += 1) % 2 === 1 && flakyCalls < 4 ? { status: 500 } : { status: 200 };
      if (request.path === '/slow') return { status: 200, delayMs: 400 };
      if (request.path === '/throttled') return { status: 429, headers: { 'retry-after': '1' } };
      return { status: 200 };
    });

    await sendOrders(flaky.id, 5); // failed, delivered, failed, delivered, delivered: 40 %
    await sendOrders(slow.id, 1);
    await sendOrders(throttled.id, 5);
    expect((await system.client.post(`/v1/destinations/${held.id}/pause`, {})).status).toBe(200);
    for (let index = 0; index < 3; index += 1) await sendEvent(system.client, { type: 'order.created', destinations: [held.id], data: { index } });

    expect(await openAlert(flaky.id, 'failure_rate')).toMatchObject({ value: 0.4, threshold: 0.3 });
    expect((await openAlert(slow.id, 'response_time')).value).toBeGreaterThanOrEqual(400);
    expect(await openAlert(held.id, 'backlog')).toMatchObject({ value: 3, threshold: 2 });
    await evaluate();
    expect(await alertsOf(throttled.id)).toEqual([]);

    // The held deliveries flow once the destination is resumed: the backlog alert resolves.
    expect((await system.client.post(`/v1/destinations/${held.id}/resume`, {})).status).toBe(200);
    await eventually(async () => ((await alertsOf(held.id, 'resolved')).length === 1 ? true : undefined), 10_000, 'the backlog alert to resolve');
  });

  it('opens a circuit_open alert while a circuit is open, and the circuit opening reaches the subscribers of dispatch.* but not that destination', async () => {
    await putSettings({ failureRate: null, consecutiveFailures: null, backlog: null, responseTimeMs: null, cooldownMs: 0, escalateAfterMs: [] });
    const broken = await createWebhook(system.client, `${receiver.url}/broken`, {
      eventTypes: ['order.*', 'dispatch.*'],
      retryPolicy: { maxAttempts: 1 },
      circuitBreaker: { failureThreshold: 2, recoveryTimeoutMs: 600_000 },
    });
    receiver.answer((request) => (request.path === '/broken' ? { status: 500 } : { status: 200 }));
    await sendOrders(broken.id, 2);

    expect(await openAlert(broken.id, 'circuit_open')).toMatchObject({ value: 1, threshold: 1, message: expect.stringContaining('circuit breaker open') });
    const opened = await eventually(
      async () =>
        receiver.requests.find(
          (request) =>
            request.path === '/ops' &&
            request.headers['dispatch-event-type'] === 'dispatch.destination.circuit_opened' &&
            JSON.parse(request.body).data.destination.id === broken.id,
        ),
      10_000,
      'the circuit_opened event at ops',
    );
    expect(JSON.parse(opened.body).data.destination).toMatchObject({ id: broken.id, name: broken.name });
    expect(aboutItself('/broken', broken.id)).toEqual([]);
    expect(await routedTo('dispatch.destination.circuit_opened', broken.id)).not.toContain(broken.id);
    expect(await routedTo('dispatch.destination.circuit_opened', broken.id)).toContain(ops.id);
  });

  it('tells the subscribers of dispatch.* when a destination is disabled because its receiver is gone, but not that destination', async () => {
    const gone = await createWebhook(system.client, `${receiver.url}/gone`, { eventTypes: ['order.*', 'dispatch.*'] });
    receiver.answer((request) => (request.path === '/gone' ? { status: 410, body: 'gone' } : { status: 200, body: 'ok' }));
    await sendOrders(gone.id, 1);

    const announced = await eventually(
      async () =>
        receiver.requests.find(
          (request) =>
            request.path === '/ops' &&
            request.headers['dispatch-event-type'] === 'dispatch.destination.disabled' &&
            JSON.parse(request.body).data.destination.id === gone.id,
        ),
      10_000,
      'the disabled event at ops',
    );
    const payload = new Webhook(opsSecret).verify(announced.body, announced.headers as Record<string, string>) as Json;
    expect(payload.data.destination).toMatchObject({ id: gone.id, name: gone.name, kind: 'webhook', enabled: false });
    expect(payload.data.destination.config).toBeUndefined();
    expect((await system.client.get(`/v1/destinations/${gone.id}`)).body.enabled).toBe(false);
    expect(aboutItself('/gone', gone.id)).toEqual([]);
    expect(await routedTo('dispatch.destination.disabled', gone.id)).not.toContain(gone.id);
    expect(await routedTo('dispatch.destination.disabled', gone.id)).toContain(ops.id);
  });

  it("refuses producers' events of the operational types, so subscribers can trust that an alert came from Dispatch", async () => {
    const single = await system.client.post('/v1/events', { type: 'dispatch.alert.opened', data: { id: 'alr_fake' } });
    expect(single.status).toBe(400);
    expect(single.body.details).toEqual([{ path: 'type', message: expect.stringContaining("Dispatch's own events") }]);
    const batch = await system.client.post('/v1/events/batch', {
      events: [
        { type: 'order.created', data: {} },
        { type: 'dispatch.destination.disabled', data: {} },
      ],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.details.map((detail: Json) => detail.path)).toEqual(['events.1.type']);
    expect((await system.client.get('/v1/events?type=dispatch.alert.opened')).body.data.filter((event: Json) => event.data?.id === 'alr_fake')).toEqual([]);
  });

  describe('settings', () => {
    it('are the documented defaults until changed; any role reads them', async () => {
      const fresh = await startOrganizationClients();
      for (const client of [fresh.admin, fresh.viewer]) {
        const answer = await client.get('/v1/alert-settings');
        expect(answer.status).toBe(200);
        expect(answer.body).toEqual(DEFAULTS);
      }
    });

    it('are replaced whole by PUT (left out: the default), audited, and refused by other roles', async () => {
      const answer = await system.client.request('PUT', '/v1/alert-settings', { backlog: 50, failureRate: { threshold: 0.25 }, responseTimeMs: null });
      expect(answer.status).toBe(200);
      const expected = { ...DEFAULTS, backlog: 50, failureRate: { threshold: 0.25, windowMs: 900000 }, responseTimeMs: null };
      expect(answer.body).toEqual(expected);
      expect((await system.client.get('/v1/alert-settings')).body).toEqual(expected);
      const audit = (await system.client.get('/v1/audit-log')).body.data;
      expect(audit[0]).toMatchObject({ action: 'alert-settings.update', target: system.organization.organizationId, details: expected });

      for (const key of [system.organization.viewerKey, system.organization.producerKey]) {
        expect((await new ApiClient(system.url, key).request('PUT', '/v1/alert-settings', { backlog: 1 })).status).toBe(403);
      }
      expect((await system.client.get('/v1/alert-settings')).body).toEqual(expected);
    });

    it('are validated, each error naming its field, and nothing is written', async () => {
      await putSettings(DEFAULTS);
      const cases: [Record<string, unknown>, string][] = [
        [{ failureRate: { threshold: 1.5 } }, 'failureRate.threshold'],
        [{ failureRate: { threshold: 0.1, windowMs: 10 } }, 'failureRate.windowMs'],
        [{ consecutiveFailures: 0 }, 'consecutiveFailures'],
        [{ backlog: -1 }, 'backlog'],
        [{ responseTimeMs: 'slow' }, 'responseTimeMs'],
        [{ cooldownMs: 1.5 }, 'cooldownMs'],
        [{ escalateAfterMs: [60000, 30000] }, 'escalateAfterMs.1'],
        [{ escalate: [1] }, ''],
      ];
      for (const [body, path] of cases) {
        const answer = await system.client.request('PUT', '/v1/alert-settings', body);
        expect(answer.status).toBe(400);
        expect(answer.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
        expect(answer.body.details.map((detail: Json) => detail.path)).toContain(path);
      }
      expect((await system.client.get('/v1/alert-settings')).body).toEqual(DEFAULTS);
    });
  });

  it('are described in the OpenAPI document', async () => {
    const paths = (await system.client.get('/docs-json')).body.paths;
    expect(Object.keys(paths)).toEqual(expect.arrayContaining(['/v1/alerts', '/v1/alerts/{id}/acknowledge', '/v1/alert-settings']));
    expect(Object.keys(paths['/v1/alert-settings'])).toEqual(expect.arrayContaining(['get', 'put']));
    const body = paths['/v1/alert-settings'].put.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties)).toEqual(['failureRate', 'consecutiveFailures', 'backlog', 'responseTimeMs', 'cooldownMs', 'escalateAfterMs']);
    expect(paths['/v1/alerts'].get.parameters.map((parameter: Json) => parameter.name)).toEqual(expect.arrayContaining(['status', 'destinationId']));
    expect(paths['/v1/alerts'].get.responses['200'].content['application/json'].schema.properties.data.items.properties.condition.enum).toContain('circuit_open');
  });

  it('lists alerts by status and destination, refusing an unknown status by name', async () => {
    const bad = await system.client.get('/v1/alerts?status=closed');
    expect(bad.status).toBe(400);
    expect(bad.body.details.map((detail: Json) => detail.path)).toEqual(['query.status']);
    const all = (await system.client.get('/v1/alerts?limit=200')).body.data;
    const open = (await system.client.get('/v1/alerts?status=open&limit=200')).body;
    expect(open.data.every((alert: Json) => alert.status === 'open')).toBe(true);
    expect(open.data.length).toBe(all.filter((alert: Json) => alert.status === 'open').length);
    const one = all[0];
    const ofDestination = (await system.client.get(`/v1/alerts?destinationId=${one.destinationId}&limit=200`)).body.data;
    expect(ofDestination.length).toBeGreaterThan(0);
    expect(ofDestination.every((alert: Json) => alert.destinationId === one.destinationId)).toBe(true);
    const firstPage = (await system.client.get('/v1/alerts?limit=1')).body;
    expect(firstPage.data).toEqual([all[0]]);
    expect((await system.client.get(`/v1/alerts?limit=1&cursor=${firstPage.nextCursor}`)).body.data).toEqual([all[1]]);
  });

  /** API clients of a new organization that never changed its settings. */
  async function startOrganizationClients(): Promise<{ admin: ApiClient; viewer: ApiClient }> {
    const organization = await createTestOrganization(system.config.databaseUrl);
    return { admin: new ApiClient(system.url, organization.adminKey), viewer: new ApiClient(system.url, organization.viewerKey) };
  }
});
