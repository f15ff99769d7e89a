import { eventually, Json, LiveClient, sendEvent, uniqueId, waitForDelivery } from '@dispatch/testing';
import { StreamTokens } from '../apps/api/src/live/stream-tokens';
import { useSystem } from './system';

/** Live WebSocket push with one API process and one worker: order, replay, resync, and what a delivery says. */
describe('live WebSocket push', () => {
  const system = useSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '8', DISPATCH_WS_REPLAY: '20' } });
  const open: LiveClient[] = [];

  beforeAll(async () => {
    const created = await system.client.post('/v1/destinations', { name: 'devices', kind: 'websocket', config: { subject: '{data.user_id}' }, eventTypes: ['live.*'] });
    expect(created.status).toBe(201);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((client) => client.close()));
  });

  function tokenFor(subject: string): string {
    return new StreamTokens(system.config.encryption).mint({ organizationId: system.organization.organizationId, subject, ttlSeconds: 600 }).token;
  }

  async function connect(subject: string, lastSeq?: number): Promise<LiveClient> {
    const client = await LiveClient.connect(system.url, tokenFor(subject), { lastSeq });
    open.push(client);
    return client;
  }

  /** Sends `count` events for `subject` in one batch; answers their ids in the order sent. */
  async function push(subject: string, count: number, type = 'live.message'): Promise<string[]> {
    const events = Array.from({ length: count }, (_, index) => ({ id: uniqueId('evt_live'), type, data: { user_id: subject, n: index } }));
    const answer = await system.client.post('/v1/events/batch', { events });
    expect(answer.status).toBe(202);
    return events.map((event) => event.id);
  }

  /** Seqs of a client's event frames must be `from`, `from + 1`, … with no gap and no duplicate. */
  function expectContiguous(client: LiveClient, from: number): void {
    const seqs = client.events.map((frame) => frame.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => from + index));
  }

  it('writes every frame of a subject in seq order to each of its sessions, under concurrent deliveries', async () => {
    const subject = uniqueId('user');
    const [phone, laptop] = [await connect(subject), await connect(subject)];
    const ids = await push(subject, 120);
    await Promise.all([phone.waitForEvents(120, 30_000), laptop.waitForEvents(120, 30_000)]);
    for (const client of [phone, laptop]) {
      expectContiguous(client, 1);
      expect(new Set(client.events.map((frame) => frame.event.id))).toEqual(new Set(ids));
      expect(client.frames).toHaveLength(120);
    }
    expect(phone.events.map((frame) => frame.event.id)).toEqual(laptop.events.map((frame) => frame.event.id));
    const first = phone.events[0].event;
    expect(first).toEqual({ id: expect.any(String), type: 'live.message', timestamp: expect.any(String), data: { user_id: subject, n: expect.any(Number) } });
    expect(Number.isNaN(Date.parse(first.timestamp))).toBe(false);
  });

  it('says in the delivery whether the frame was pushed or only kept for replay', async () => {
    const subject = uniqueId('user');
    const kept = await sendEvent(system.client, { type: 'live.message', data: { user_id: subject } });
    const keptDelivery = await waitForDelivery(system.client, kept.deliveries[0].id, 'delivered');
    expect(keptDelivery.attempts[0].responseBody).toBe(`no session of "${subject}" is connected; kept for replay (seq 1)`);

    const device = await connect(subject);
    const pushed = await sendEvent(system.client, { type: 'live.message', data: { user_id: subject } });
    const pushedDelivery = await waitForDelivery(system.client, pushed.deliveries[0].id, 'delivered');
    expect(pushedDelivery.attempts[0].responseBody).toBe(`pushed to the sessions of "${subject}" on 1 API process (seq 2)`);
    await device.waitForEvents(1);
    expect(device.events.map((frame) => [frame.seq, frame.event.id])).toEqual([[2, pushed.id]]);
  });

  it('fails a delivery at once when its event cannot name a subject', async () => {
    const missing = await sendEvent(system.client, { type: 'live.message', data: {} });
    const failed = await waitForDelivery(system.client, missing.deliveries[0].id, 'failed');
    expect(failed.lastError).toContain('{data.user_id}');
    const bad = await sendEvent(system.client, { type: 'live.message', data: { user_id: 'two words' } });
    expect((await waitForDelivery(system.client, bad.deliveries[0].id, 'failed')).lastError).toContain('"two words"');
  });

  it('replays what a device missed, in order, before anything new, when it reconnects with lastSeq', async () => {
    const subject = uniqueId('user');
    const device = await connect(subject);
    await push(subject, 5);
    await device.waitForEvents(5);
    await device.close();
    const missed = await push(subject, 7);
    await eventually(async () => ((await system.client.get(`/v1/stream-subjects/${subject}`)).body.latestSeq === 12 ? true : undefined));

    const back = await connect(subject, 5);
    const live = await push(subject, 3);
    await back.waitForEvents(10);
    expectContiguous(back, 6);
    expect(back.frames.every((frame) => frame.type === 'event')).toBe(true);
    expect(new Set(back.events.slice(0, 7).map((frame) => frame.event.id))).toEqual(new Set(missed));
    expect(new Set(back.events.slice(7).map((frame) => frame.event.id))).toEqual(new Set(live));
  });

  it('sends resync_required first when what a device missed is older than what is kept, then what is kept', async () => {
    const subject = uniqueId('user');
    await push(subject, 25); // 20 kept: 6 to 25
    await eventually(async () => ((await system.client.get(`/v1/stream-subjects/${subject}`)).body.latestSeq === 25 ? true : undefined));
    expect((await system.client.get(`/v1/stream-subjects/${subject}`)).body).toEqual({ subject, latestSeq: 25, kept: 20, oldestKeptSeq: 6 });

    const back = await connect(subject, 2);
    await back.waitForEvents(20);
    expect(back.frames[0]).toEqual({ type: 'resync_required', fromSeq: 6 });
    expectContiguous(back, 6);

    // A device that has seen everything kept gets nothing but what comes next.
    const current = await connect(subject, 25);
    await push(subject, 1);
    await current.waitForEvents(1);
    expect(current.frames).toEqual([expect.objectContaining({ type: 'event', seq: 26 })]);

    // A device ahead of the subject (its numbering from an earlier life of it) is told to resync to what is kept.
    const ahead = await connect(subject, 900);
    await ahead.waitForEvents(20);
    expect(ahead.frames[0]).toEqual({ type: 'resync_required', fromSeq: 7 });
    expectContiguous(ahead, 7);
  });

  it('counts sessions, frames by source, closes and refused upgrades in the API metrics', async () => {
    const metric = async (name: string): Promise<number> => {
      const text = (await system.client.get('/metrics')).body as string;
      const line = text.split('\n').find((entry) => entry.startsWith(`${name} `));
      return line ? Number(line.slice(name.length + 1)) : 0;
    };
    const before = {
      live: await metric('dispatch_live_frames_total{source="live"}'),
      replay: await metric('dispatch_live_frames_total{source="replay"}'),
      closes: await metric('dispatch_live_session_closes_total{reason="client"}'),
      refused: await metric('dispatch_live_upgrades_refused_total{status="401"}'),
    };
    const subject = uniqueId('user');
    const device = await connect(subject);
    expect(await metric('dispatch_live_sessions')).toBe(1);
    await push(subject, 3);
    await device.waitForEvents(3);
    await device.close();
    const back = await connect(subject, 1);
    await back.waitForEvents(2);
    await back.close();
    await expect(LiveClient.connect(system.url, 'nonsense')).rejects.toMatchObject({ status: 401 });
    await eventually(async () => ((await metric('dispatch_live_sessions')) === 0 ? true : undefined));
    expect(await metric('dispatch_live_frames_total{source="live"}')).toBe(before.live + 3);
    expect(await metric('dispatch_live_frames_total{source="replay"}')).toBe(before.replay + 2);
    expect(await metric('dispatch_live_session_closes_total{reason="client"}')).toBe(before.closes + 2);
    expect(await metric('dispatch_live_upgrades_refused_total{status="401"}')).toBe(before.refused + 1);
  });

  it('refuses a missing, changed, expired or foreign token before the upgrade, and a bad lastSeq', async () => {
    /** How the API answers an upgrade to `/v1/stream` with `token` (and `lastSeq`). */
    const refusal = async (token: string, lastSeq?: number) => {
      const error = (await LiveClient.connect(system.url, token, { lastSeq }).then(
        () => ({ status: 101, body: '' }),
        (failure: { status: number; body: string }) => failure,
      )) as { status: number; body: string };
      return { status: error.status, body: error.body ? (JSON.parse(error.body) as Json) : {} };
    };
    const token = tokenFor('user_1');
    const expired = new StreamTokens(system.config.encryption).mint(
      { organizationId: system.organization.organizationId, subject: 'user_1', ttlSeconds: 60 },
      new Date(Date.now() - 120_000),
    ).token;
    const foreign = new StreamTokens({ current: Buffer.alloc(32, 7) }).mint({
      organizationId: system.organization.organizationId,
      subject: 'user_1',
      ttlSeconds: 600,
    }).token;
    const [payload, signature] = token.split('.');
    const changed = `${Buffer.from(Buffer.from(payload, 'base64url').toString().replace('user_1', 'user_2')).toString('base64url')}.${signature}`;
    for (const refused of ['', expired, foreign, changed, 'nonsense']) {
      const answer = await refusal(refused);
      expect(answer.status).toBe(401);
      expect(answer.body.message).toContain('stream token');
    }
    const badSeq = await refusal(token, -1);
    expect(badSeq).toEqual({ status: 400, body: expect.objectContaining({ message: expect.stringContaining('lastSeq') }) });
    expect((await refusal(token)).status).toBe(101);
  });
});
