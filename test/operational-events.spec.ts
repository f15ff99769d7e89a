import { ApiClient, createTestOrganization, createWebhook, eventually, Json, sendEvent, uniqueId } from '@dispatch/testing';
import { OperationalEvents, OperationalEventItem } from '@dispatch/ingest';
import { Webhook } from 'standardwebhooks';
import { useReceiver, useSystem } from './system';

const BURST = 60;

describe('operational events emitted in bursts (presence)', () => {
  const system = useSystem();
  const receiver = useReceiver();

  /** The API process's own OperationalEvents: presence is emitted where the live sessions are. */
  // A test's subscribers must not take the next test's events.
  const created: string[] = [];
  afterEach(async () => {
    for (const id of created.splice(0)) await system.client.request('DELETE', `/v1/destinations/${id}`);
  });
  const webhook = async (path: string, eventTypes: string[]): Promise<Json> => {
    const destination = await createWebhook(system.client, `${receiver.url}${path}`, { eventTypes });
    created.push(destination.id);
    return destination;
  };

  const events = (): OperationalEvents => system.api.get(OperationalEvents);

  const presence = (organizationId: string, subject: string, type: OperationalEventItem['type'] = 'dispatch.presence.connected', id = uniqueId('prs')) => ({
    organizationId,
    id,
    type,
    data: { subject, sessionId: uniqueId('ses'), at: new Date().toISOString() },
  });

  const listed = async (client: ApiClient, type: string): Promise<Json[]> => {
    const answer = await client.get(`/v1/events?type=${type}&limit=200`);
    expect(answer.status).toBe(200);
    return answer.body.data;
  };

  it('delivers a burst to a webhook subscribed to dispatch.presence.*, signed like any delivery; not to a catch-all nor to alert subscribers', async () => {
    const subscriber = await webhook('/presence', ['dispatch.presence.*']);
    const catchAll = await webhook('/all', ['*']);
    await webhook('/alerts', ['dispatch.alert.*']);
    const organizationId = system.organization.organizationId;

    const burst = Array.from({ length: BURST }, (_, i) =>
      presence(organizationId, `device-${i}`, i % 3 === 0 ? 'dispatch.presence.disconnected' : 'dispatch.presence.connected'),
    );
    await events().emitMany(burst, { onlyWhenSubscribed: true });

    await eventually(async () => (receiver.requests.filter((request) => request.path === '/presence').length >= BURST ? true : undefined), 20_000, 'the burst');
    const signed = new Webhook(subscriber.secret);
    for (const sent of burst) {
      const [request, ...again] = receiver.requestsOf(sent.id);
      expect(again).toEqual([]);
      expect(request.path).toBe('/presence');
      expect(request.headers['dispatch-event-type']).toBe(sent.type);
      expect(signed.verify(request.body, request.headers as Record<string, string>)).toMatchObject({ id: sent.id, type: sent.type, data: sent.data });
    }
    expect(await listed(system.client, 'dispatch.presence.disconnected')).toHaveLength(BURST / 3);

    // The catch-all and the alert subscriber got none: an ordinary event to the catch-all is the barrier.
    const marker = await sendEvent(system.client, { type: 'order.created', destinations: [catchAll.id] });
    await receiver.waitForEvent(marker.id);
    expect(receiver.requests.filter((request) => request.path !== '/presence').map((request) => request.headers['webhook-id'])).toEqual([marker.id]);
  });

  it('writes an event already written once: emitting it again with new ones delivers only the new ones', async () => {
    await webhook('/again', ['dispatch.presence.connected']);
    const organizationId = system.organization.organizationId;
    const first = [presence(organizationId, 'device-a'), presence(organizationId, 'device-b')];
    await events().emitMany(first);
    for (const sent of first) await receiver.waitForEvent(sent.id);

    const fresh = [presence(organizationId, 'device-c'), presence(organizationId, 'device-d')];
    await expect(events().emitMany([...first, ...fresh])).resolves.toBeUndefined();
    for (const sent of fresh) await receiver.waitForEvent(sent.id);
    for (const sent of first) expect(receiver.requestsOf(sent.id).filter((request) => request.path === '/again')).toHaveLength(1);
    for (const sent of [...first, ...fresh]) expect((await system.client.get(`/v1/events/${sent.id}`)).body.deliveries).toHaveLength(1);
  });

  it('with onlyWhenSubscribed writes nothing in an organization where no destination subscribes to presence (a catch-all does not)', async () => {
    const organization = await createTestOrganization(system.config.databaseUrl);
    const client = new ApiClient(system.url, organization.adminKey);
    await createWebhook(client, `${receiver.url}/other-all`, { eventTypes: ['*'] });
    await createWebhook(client, `${receiver.url}/other-alerts`, { eventTypes: ['dispatch.alert.*', 'dispatch.destination.*'] });

    await events().emitMany(
      Array.from({ length: 20 }, (_, i) => presence(organization.organizationId, `device-${i}`)),
      { onlyWhenSubscribed: true },
    );
    expect(await listed(client, 'dispatch.presence.connected')).toEqual([]);

    // Without it they are written (so the list above would show them), still delivered to nobody.
    const written = presence(organization.organizationId, 'device-x');
    await events().emitMany([written]);
    expect((await listed(client, 'dispatch.presence.connected')).map((event) => event.id)).toEqual([written.id]);
    expect((await client.get(`/v1/events/${written.id}`)).body.deliveries).toEqual([]);
  });

  it('refuses the presence types to producers, writing nothing', async () => {
    const producer = new ApiClient(system.url, system.organization.producerKey);
    for (const type of ['dispatch.presence.connected', 'dispatch.presence.disconnected']) {
      const before = (await listed(system.client, type)).length;
      const id = uniqueId('evt');
      const answer = await producer.post('/v1/events', { id, type, data: {} });
      expect(answer.status).toBe(400);
      expect(answer.body.details).toEqual([{ path: 'type', message: `"${type}" is the type of Dispatch's own events; producers cannot send it` }]);
      expect(await listed(system.client, type)).toHaveLength(before);
    }
  });
});
