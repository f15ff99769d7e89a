import { ApiClient, createTestOrganization, createWebhook, eventually, Json, LiveClient, TestOrganization, uniqueId } from '@dispatch/testing';
import { StreamTokens } from '../apps/api/src/live/stream-tokens';
import { useReceiver, useSystem } from './system';

/** Longer than presence's sweep for due leaves (1 s), so that a leave announced early shows. */
const DEBOUNCE_MS = 1_500;

type PresenceEvent = { id: string; type: string; data: { subject: string; sessionId: string; at: string }; receivedAt: number };

/**
 * Presence of live WebSocket sessions: `GET /v1/presence/:subject` and the debounced events
 * `dispatch.presence.connected|disconnected` a destination subscribed to them gets.
 */
describe('presence of live WebSocket sessions', () => {
  const system = useSystem({ env: { DISPATCH_WS_PRESENCE_DEBOUNCE_MS: String(DEBOUNCE_MS) } });
  const receiver = useReceiver();
  const open: LiveClient[] = [];
  /** A second organization, where no destination subscribes to presence. */
  let other: TestOrganization;
  let otherClient: ApiClient;

  beforeAll(async () => {
    await createWebhook(system.client, `${receiver.url}/presence`, { eventTypes: ['dispatch.presence.*'] });
    other = await createTestOrganization(system.config.databaseUrl);
    otherClient = new ApiClient(system.url, other.adminKey);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
  });

  async function connect(subject: string, organizationId = system.organization.organizationId): Promise<LiveClient> {
    const { token } = new StreamTokens(system.config.encryption).mint({ organizationId, subject, ttlSeconds: 600 });
    const client = await LiveClient.connect(system.url, token);
    open.push(client);
    return client;
  }

  /** The ids of the subject's live sessions, oldest first, once there are `count` of them. */
  async function sessionIds(subject: string, count: number, client: ApiClient = system.client): Promise<string[]> {
    return eventually(
      async () => {
        const answer = await client.get(`/v1/stream-sessions?subject=${encodeURIComponent(subject)}`);
        expect(answer.status).toBe(200);
        const ids = (answer.body.data as Json[]).map((session) => session.id as string);
        return ids.length === count ? ids : undefined;
      },
      5_000,
      `${count} sessions of ${subject}`,
    );
  }

  async function presenceOf(subject: string, client: ApiClient = system.client): Promise<Json> {
    const answer = await client.get(`/v1/presence/${encodeURIComponent(subject)}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  /** The presence events of `subject` the webhook got, in order of arrival. */
  function received(subject: string): PresenceEvent[] {
    return receiver.requests
      .filter((request) => request.path === '/presence')
      .map((request) => ({ ...(JSON.parse(request.body) as Omit<PresenceEvent, 'receivedAt'>), receivedAt: request.receivedAt }))
      .filter((event) => event.data.subject === subject);
  }

  async function waitForEvent(subject: string, type: 'connected' | 'disconnected', sessionId: string): Promise<PresenceEvent> {
    return eventually(
      async () => received(subject).find((event) => event.type === `dispatch.presence.${type}` && event.data.sessionId === sessionId),
      10_000,
      `${type} of ${sessionId}`,
    );
  }

  /** The presence events of `subject` written in the organization (whether or not delivered yet), oldest first. */
  async function written(subject: string, client: ApiClient = system.client): Promise<{ type: string; sessionId: string }[]> {
    const events: Json[] = [];
    for (const type of ['dispatch.presence.connected', 'dispatch.presence.disconnected']) {
      const answer = await client.get(`/v1/events?type=${type}&limit=200`);
      expect(answer.status).toBe(200);
      events.push(...(answer.body.data as Json[]));
    }
    return events
      .filter((event) => event.data.subject === subject)
      .sort((a, b) => String(a.data.at).localeCompare(String(b.data.at)))
      .map((event) => ({ type: event.type as string, sessionId: event.data.sessionId as string }));
  }

  /** Closes `client` and waits until its session is gone from the subject's list (its leave recorded). */
  async function leave(client: LiveClient, subject: string, remaining: number, api: ApiClient = system.client): Promise<number> {
    await client.close();
    const closedAt = Date.now();
    await sessionIds(subject, remaining, api);
    return closedAt;
  }

  it('announces a device that connects, and after the debounce that it left; GET /v1/presence follows', async () => {
    const subject = uniqueId('user');
    expect(await presenceOf(subject)).toEqual({ subject, online: false, sessions: 0 });

    const before = Date.now();
    const device = await connect(subject);
    const [sessionId] = await sessionIds(subject, 1);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });
    const connected = await waitForEvent(subject, 'connected', sessionId);
    expect(connected).toMatchObject({ type: 'dispatch.presence.connected', data: { subject, sessionId, at: expect.any(String) } });
    expect(Object.keys(connected.data).sort()).toEqual(['at', 'sessionId', 'subject']);
    expect(Date.parse(connected.data.at)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(connected.data.at)).toBeLessThanOrEqual(Date.now());

    const closedAt = await leave(device, subject, 0);
    expect(await presenceOf(subject)).toEqual({ subject, online: false, sessions: 0 });
    const disconnected = await waitForEvent(subject, 'disconnected', sessionId);
    expect(disconnected.data).toEqual({ subject, sessionId, at: expect.any(String) });
    // `at` is when the device left; the event waits the debounce before it is written.
    expect(Math.abs(Date.parse(disconnected.data.at) - closedAt)).toBeLessThan(1_000);
    expect(disconnected.receivedAt - Date.parse(disconnected.data.at)).toBeGreaterThanOrEqual(DEBOUNCE_MS);
    expect(received(subject).map((event) => event.type)).toEqual(['dispatch.presence.connected', 'dispatch.presence.disconnected']);
  });

  it('announces nothing for a device that drops and comes back within the debounce, several times; one leave when it goes', async () => {
    const subject = uniqueId('user');
    let device = await connect(subject);
    const [first] = await sessionIds(subject, 1);
    await waitForEvent(subject, 'connected', first);

    let last = first;
    for (let flap = 0; flap < 4; flap++) {
      const closedAt = await leave(device, subject, 0);
      // Once away for a while: longer than the sweep of due leaves, shorter than the debounce.
      if (flap === 1) await new Promise((resolve) => setTimeout(resolve, closedAt + 1_100 - Date.now()));
      device = await connect(subject);
      [last] = await sessionIds(subject, 1);
    }
    expect(last).not.toBe(first);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });

    await leave(device, subject, 0);
    await waitForEvent(subject, 'disconnected', last);
    // The leaves of the earlier sessions would have been due before this one, so written by now:
    // what is written is what will be delivered, and the leave of the last session is the only one.
    expect(await written(subject)).toEqual([
      { type: 'dispatch.presence.connected', sessionId: first },
      { type: 'dispatch.presence.disconnected', sessionId: last },
    ]);
    expect(received(subject).map((event) => [event.type, event.data.sessionId])).toEqual([
      ['dispatch.presence.connected', first],
      ['dispatch.presence.disconnected', last],
    ]);
  });

  it('announces each session of a subject with two devices, and the leave of one while the other stays', async () => {
    const subject = uniqueId('user');
    const phone = await connect(subject);
    const [phoneId] = await sessionIds(subject, 1);
    const laptop = await connect(subject);
    const [, laptopId] = await sessionIds(subject, 2);
    await waitForEvent(subject, 'connected', phoneId);
    await waitForEvent(subject, 'connected', laptopId);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 2 });

    await leave(laptop, subject, 1);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });
    const laptopLeft = await waitForEvent(subject, 'disconnected', laptopId);
    expect(laptopLeft.receivedAt - Date.parse(laptopLeft.data.at)).toBeGreaterThanOrEqual(DEBOUNCE_MS);
    expect(await sessionIds(subject, 1)).toEqual([phoneId]);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });
    expect(await written(subject)).toEqual([
      { type: 'dispatch.presence.connected', sessionId: phoneId },
      { type: 'dispatch.presence.connected', sessionId: laptopId },
      { type: 'dispatch.presence.disconnected', sessionId: laptopId },
    ]);
    expect(phone.socket.readyState).toBe(phone.socket.OPEN);
  });

  it('keeps organizations apart: the same subject in another organization is another subject', async () => {
    const subject = uniqueId('user');
    await connect(subject, other.organizationId);
    const [theirs] = await sessionIds(subject, 1, otherClient);
    expect(await presenceOf(subject, otherClient)).toEqual({ subject, online: true, sessions: 1 });
    expect(await presenceOf(subject)).toEqual({ subject, online: false, sessions: 0 });
    expect((await system.client.get(`/v1/stream-sessions?subject=${subject}`)).body).toEqual({ data: [] });

    await connect(subject);
    const [ours] = await sessionIds(subject, 1);
    expect(ours).not.toBe(theirs);
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });
    expect(await presenceOf(subject, otherClient)).toEqual({ subject, online: true, sessions: 1 });
    expect(await sessionIds(subject, 1, otherClient)).toEqual([theirs]);
    // The other organization's device is not announced to this organization's subscriber.
    await waitForEvent(subject, 'connected', ours);
    expect(received(subject).map((event) => event.data.sessionId)).toEqual([ours]);
  });

  it('writes no presence event in an organization where no destination subscribes to it', async () => {
    const subject = uniqueId('user');
    await connect(subject, other.organizationId);
    await sessionIds(subject, 1, otherClient);
    expect(await presenceOf(subject, otherClient)).toEqual({ subject, online: true, sessions: 1 });

    // A device of the subscribed organization that connects after it is the barrier: once its
    // arrival is delivered, the other organization's (announced before it) would have been written.
    const marker = uniqueId('marker');
    await connect(marker);
    const [markerId] = await sessionIds(marker, 1);
    await waitForEvent(marker, 'connected', markerId);

    const answer = await otherClient.get('/v1/events?type=dispatch.presence.connected');
    expect(answer.status).toBe(200);
    expect(answer.body.data).toEqual([]);
  });

  it('answers presence to any role, and a 400 naming subject for a subject that is not one', async () => {
    const subject = uniqueId('user');
    await connect(subject);
    await sessionIds(subject, 1);
    for (const key of [system.organization.viewerKey, system.organization.producerKey]) {
      expect((await new ApiClient(system.url, key).get(`/v1/presence/${subject}`)).body).toEqual({ subject, online: true, sessions: 1 });
    }

    const longest = 'a'.repeat(200);
    expect(await presenceOf(longest)).toEqual({ subject: longest, online: false, sessions: 0 });
    for (const bad of ['two words', 'a'.repeat(201), '{data.user_id}']) {
      const answer = await system.client.get(`/v1/presence/${encodeURIComponent(bad)}`);
      expect(answer.status).toBe(400);
      expect(answer.body.details).toEqual([{ path: 'subject', message: expect.stringContaining('1 to 200 characters') }]);
    }
  });
});
