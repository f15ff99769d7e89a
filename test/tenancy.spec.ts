import { ApiClient, createTestOrganization, createWebhook, sendEvent, TestOrganization, uniqueId, webhookDestination } from '@dispatch/testing';
import { generateApiKey, roleAllows } from '@dispatch/domain';
import { useReceiver, useSystem } from './system';
import { openTestAlert } from './alert-fixtures';

/**
 * The tenancy matrix: every `/v1` route the API serves, called by every kind of caller, on an
 * object of the caller's own organization or of another one, answers what docs/api.md says:
 * no key or an unknown key 401, a role that may not 403, another organization's object 404,
 * else the route's success status. The routes come from the API's own route table, so a new
 * route without a row here fails the first test.
 */

type Needs = 'read' | 'produce' | 'admin' | 'operator';

/** The objects of organization A the rows act on. */
type Objects = { destinationId: string; pausedId: string; eventId: string; deliveryId: string; replayId: string; alertId: string };

type Row = {
  /** What the route needs: a role (`read` any, `produce` producer or admin, `admin`), or `operator`: an admin of the `default` organization. */
  needs: Needs;
  /** The route acts on one object of organization A, which another organization must not reach (404). */
  object: boolean;
  /** Its answer when allowed. */
  ok: number;
  /** The request, made fresh for each caller (a row that deletes gets a new object each time). */
  request: (objects: Objects, make: Makers) => Promise<Request> | Request;
};

type Request = { path: string; body?: unknown; headers?: Record<string, string> };

type Makers = { destination: () => Promise<string>; delivery: () => Promise<string>; apiKey: () => Promise<string> };

const matrix: Record<string, Row> = {
  'GET /v1/destination-kinds': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/destination-kinds' }) },
  'POST /v1/destinations': { needs: 'admin', object: false, ok: 201, request: () => ({ path: '/v1/destinations', body: unroutedWebhook() }) },
  'GET /v1/destinations': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/destinations' }) },
  'GET /v1/destinations/:id': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/destinations/${o.destinationId}` }) },
  'PATCH /v1/destinations/:id': {
    needs: 'admin',
    object: true,
    ok: 200,
    request: (o) => ({ path: `/v1/destinations/${o.destinationId}`, body: { name: uniqueId('renamed') } }),
  },
  'DELETE /v1/destinations/:id': { needs: 'admin', object: true, ok: 204, request: async (_o, make) => ({ path: `/v1/destinations/${await make.destination()}` }) },
  'POST /v1/destinations/:id/test': { needs: 'admin', object: true, ok: 200, request: (o) => ({ path: `/v1/destinations/${o.destinationId}/test`, body: {} }) },
  'POST /v1/destinations/:id/rotate-secret': {
    needs: 'admin',
    object: true,
    ok: 200,
    request: (o) => ({ path: `/v1/destinations/${o.destinationId}/rotate-secret`, body: { previousValidForSeconds: 0 } }),
  },
  'POST /v1/destinations/:id/pause': { needs: 'admin', object: true, ok: 200, request: (o) => ({ path: `/v1/destinations/${o.pausedId}/pause`, body: {} }) },
  'POST /v1/destinations/:id/resume': { needs: 'admin', object: true, ok: 200, request: (o) => ({ path: `/v1/destinations/${o.pausedId}/resume`, body: {} }) },
  'GET /v1/destinations/:id/health': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/destinations/${o.destinationId}/health` }) },
  'POST /v1/events': {
    needs: 'produce',
    object: false,
    ok: 202,
    request: () => ({ path: '/v1/events', body: { id: uniqueId('evt_matrix'), type: 'nobody.wants', data: {} } }),
  },
  'GET /v1/deliveries/:id/downloads': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/deliveries/${o.deliveryId}/downloads` }) },
  'POST /v1/files': {
    needs: 'produce',
    object: false,
    ok: 201,
    request: () => ({ path: '/v1/files', body: Buffer.from('a,b\n1,2\n'), headers: { 'content-type': 'application/octet-stream' } }),
  },
  'POST /v1/stream-tokens': { needs: 'produce', object: false, ok: 201, request: () => ({ path: '/v1/stream-tokens', body: { subject: 'user_123' } }) },
  // Subjects belong to the caller's organization: another organization's caller reads its own subject of that name.
  'GET /v1/presence/:subject': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/presence/user_123' }) },
  'GET /v1/stream-sessions': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/stream-sessions?subject=user_123' }) },
  'GET /v1/stream-subjects/:subject': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/stream-subjects/user_123' }) },
  'POST /v1/events/batch': {
    needs: 'produce',
    object: false,
    ok: 202,
    request: () => ({ path: '/v1/events/batch', body: { events: [{ id: uniqueId('evt_matrix'), type: 'nobody.wants', data: {} }] } }),
  },
  'GET /v1/events': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/events' }) },
  'GET /v1/events/:id': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/events/${o.eventId}` }) },
  'GET /v1/deliveries': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/deliveries' }) },
  'GET /v1/deliveries/:id': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/deliveries/${o.deliveryId}` }) },
  'POST /v1/deliveries/:id/retry': { needs: 'admin', object: true, ok: 202, request: (o) => ({ path: `/v1/deliveries/${o.deliveryId}/retry`, body: {} }) },
  'POST /v1/deliveries/:id/cancel': {
    needs: 'admin',
    object: true,
    ok: 200,
    request: async (_o, make) => ({ path: `/v1/deliveries/${await make.delivery()}/cancel`, body: {} }),
  },
  'POST /v1/deliveries/retry': {
    needs: 'admin',
    object: false,
    ok: 200,
    request: (o) => ({ path: '/v1/deliveries/retry', body: { destinationId: o.destinationId, status: 'pending', dryRun: true } }),
  },
  'POST /v1/deliveries/cancel': {
    needs: 'admin',
    object: false,
    ok: 200,
    request: (o) => ({ path: '/v1/deliveries/cancel', body: { destinationId: o.destinationId, dryRun: true } }),
  },
  'GET /v1/dead-letters/categories': {
    needs: 'read',
    object: true,
    ok: 200,
    request: (o) => ({ path: `/v1/dead-letters/categories?destinationId=${o.destinationId}` }),
  },
  'GET /v1/replays': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/replays' }) },
  'GET /v1/replays/:id': { needs: 'read', object: true, ok: 200, request: (o) => ({ path: `/v1/replays/${o.replayId}` }) },
  'GET /v1/metrics/deliveries': {
    needs: 'read',
    object: true,
    ok: 200,
    request: (o) => ({ path: `/v1/metrics/deliveries?destinationId=${o.destinationId}&bucket=minute` }),
  },
  'GET /v1/alerts': { needs: 'read', object: false, ok: 200, request: (o) => ({ path: `/v1/alerts?status=open&destinationId=${o.destinationId}` }) },
  'POST /v1/alerts/:id/acknowledge': { needs: 'admin', object: true, ok: 200, request: (o) => ({ path: `/v1/alerts/${o.alertId}/acknowledge`, body: {} }) },
  'GET /v1/alert-settings': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/alert-settings' }) },
  'PUT /v1/alert-settings': { needs: 'admin', object: false, ok: 200, request: () => ({ path: '/v1/alert-settings', body: { backlog: 2000 } }) },
  'GET /v1/audit-log': { needs: 'admin', object: false, ok: 200, request: () => ({ path: '/v1/audit-log' }) },
  'GET /v1/ingest/rejected': { needs: 'admin', object: false, ok: 200, request: () => ({ path: '/v1/ingest/rejected' }) },
  'POST /v1/api-keys': { needs: 'admin', object: false, ok: 201, request: () => ({ path: '/v1/api-keys', body: { name: uniqueId('ci'), role: 'viewer' } }) },
  'GET /v1/api-keys': { needs: 'admin', object: false, ok: 200, request: () => ({ path: '/v1/api-keys' }) },
  'DELETE /v1/api-keys/:id': { needs: 'admin', object: true, ok: 204, request: async (_o, make) => ({ path: `/v1/api-keys/${await make.apiKey()}` }) },
  'POST /v1/organizations': { needs: 'operator', object: false, ok: 201, request: () => ({ path: '/v1/organizations', body: { name: uniqueId('acme') } }) },
  'GET /v1/organization': { needs: 'read', object: false, ok: 200, request: () => ({ path: '/v1/organization' }) },
};

/** A webhook that no event of these tests routes to. */
function unroutedWebhook(): Record<string, unknown> {
  return webhookDestination('http://127.0.0.1:9/unused', { eventTypes: ['nobody.*'] });
}

type Caller = { name: string; key: () => string | undefined; role?: 'admin' | 'producer' | 'viewer'; own?: boolean; operator?: boolean };

const OPERATOR_KEY = generateApiKey();

describe('tenancy matrix: every /v1 route × caller × own or other organization', () => {
  const system = useSystem({ worker: false, env: { DISPATCH_BOOTSTRAP_KEY: OPERATOR_KEY } });
  const receiver = useReceiver();
  let other: TestOrganization;
  let objects: Objects;
  let make: Makers;

  const callers: Caller[] = [
    { name: 'no key', key: () => undefined },
    { name: 'unknown key', key: () => generateApiKey() },
    ...(['viewer', 'producer', 'admin'] as const).flatMap((role): Caller[] => [
      { name: `own ${role}`, role, own: true, key: () => keyOf(system.organization, role) },
      { name: `other ${role}`, role, own: false, key: () => keyOf(other, role) },
    ]),
    { name: 'operator (admin of default)', role: 'admin', own: false, operator: true, key: () => OPERATOR_KEY },
  ];

  beforeAll(async () => {
    other = await createTestOrganization(system.config.databaseUrl);
    const admin = system.client;
    const destination = await createWebhook(admin, `${receiver.url}/hook`, { eventTypes: ['tenancy.*'] });
    const paused = await createWebhook(admin, `${receiver.url}/hook`, { eventTypes: ['nobody.*'] });
    const accepted = await sendEvent(admin, { id: uniqueId('evt_tenancy'), type: 'tenancy.checked', data: {} });
    const replay = await admin.post('/v1/deliveries/retry', { destinationId: destination.id, status: 'pending' });
    expect(replay.status).toBe(202);
    objects = {
      destinationId: destination.id,
      pausedId: paused.id,
      eventId: accepted.id,
      deliveryId: accepted.deliveries[0].id,
      replayId: replay.body.replayId,
      alertId: await openTestAlert(system.config.databaseUrl, system.organization.organizationId, destination.id),
    };
    make = {
      destination: async () => (await createWebhook(admin, 'http://127.0.0.1:9/unused', { eventTypes: ['nobody.*'] })).id,
      delivery: async () => (await sendEvent(admin, { id: uniqueId('evt_tenancy'), type: 'tenancy.cancelled', data: {} })).deliveries[0].id,
      apiKey: async () => {
        const created = await admin.post('/v1/api-keys', { name: uniqueId('revoked'), role: 'viewer' });
        expect(created.status).toBe(201);
        return created.body.id;
      },
    };
  });

  it('has a row for every /v1 route the API serves, and every row is a route', () => {
    const served = system.routes.filter((route) => route.split(' ')[1].startsWith('/v1/')).sort();
    expect(served).toEqual(Object.keys(matrix).sort());
  });

  it.each(Object.entries(matrix))('%s answers each caller as its role and organization allow', async (route, row) => {
    const method = route.split(' ')[0];
    const expected: Record<string, number> = {};
    const actual: Record<string, number> = {};
    for (const caller of callers) {
      expected[caller.name] = expectedStatus(row, caller);
      const { path, body, headers } = await row.request(objects, make);
      const answer = await new ApiClient(system.url, caller.key()).request(method, path, body, headers);
      actual[caller.name] = answer.status;
    }
    expect(actual).toEqual(expected);
  });
});

function keyOf(organization: TestOrganization, role: 'admin' | 'producer' | 'viewer'): string {
  return { admin: organization.adminKey, producer: organization.producerKey, viewer: organization.viewerKey }[role];
}

function expectedStatus(row: Row, caller: Caller): number {
  if (!caller.role) return 401;
  const allowed = row.needs === 'operator' ? caller.role === 'admin' && caller.operator === true : roleAllows(caller.role, row.needs);
  if (!allowed) return 403;
  if (row.object && !caller.own) return 404;
  return row.ok;
}
