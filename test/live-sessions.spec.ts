import WebSocket from 'ws';
import { eventually, LiveClient, uniqueId } from '@dispatch/testing';
import { StreamTokens } from '../apps/api/src/live/stream-tokens';
import { useSystem } from './system';

const PING_MS = 100;
const PONG_WAIT_MS = 400;
const SEND_QUEUE = 16;
/** Large enough that a few dozen frames fill what the kernel buffers for a connection. */
const PAYLOAD = 'x'.repeat(64 * 1024);

/** A test system with short live settings, the websocket destination `{data.user_id}`, and helpers to use it. */
function useLiveSystem(env: Record<string, string>) {
  const system = useSystem({ env: { DISPATCH_WORKER_CONCURRENCY: '8', ...env } });
  const open: LiveClient[] = [];

  beforeAll(async () => {
    const created = await system.client.post('/v1/destinations', { name: 'devices', kind: 'websocket', config: { subject: '{data.user_id}' }, eventTypes: ['live.*'] });
    expect(created.status).toBe(201);
  });

  afterEach(async () => {
    for (const client of open) client.socket.resume();
    await Promise.all(open.splice(0).map((client) => client.close()));
  });

  return {
    async connect(subject: string, options: { lastSeq?: number; autoPong?: boolean } = {}): Promise<LiveClient> {
      const token = new StreamTokens(system.config.encryption).mint({ organizationId: system.organization.organizationId, subject, ttlSeconds: 600 }).token;
      const client = await LiveClient.connect(system.url, token, options);
      open.push(client);
      return client;
    },

    /** Sends `count` events for `subject` in one batch, each carrying `blob`; answers their ids in the order sent. */
    async push(subject: string, count: number, blob = ''): Promise<string[]> {
      const events = Array.from({ length: count }, (_, index) => ({ id: uniqueId('evt_live'), type: 'live.message', data: { user_id: subject, n: index, blob } }));
      const answer = await system.client.post('/v1/events/batch', { events });
      expect(answer.status).toBe(202);
      return events.map((event) => event.id);
    },

    async sessionsOf(subject: string): Promise<{ id: string; subject: string }[]> {
      const answer = await system.client.get(`/v1/stream-sessions?subject=${encodeURIComponent(subject)}`);
      expect(answer.status).toBe(200);
      return answer.body.data as { id: string; subject: string }[];
    },

    async presenceOf(subject: string): Promise<{ subject: string; online: boolean; sessions: number }> {
      const answer = await system.client.get(`/v1/presence/${encodeURIComponent(subject)}`);
      expect(answer.status).toBe(200);
      return answer.body as { subject: string; online: boolean; sessions: number };
    },
  };
}

/** Seqs of a client's event frames must be `from`, `from + 1`, … with no gap and no duplicate. */
function expectContiguous(client: LiveClient, from: number): void {
  const seqs = client.events.map((frame) => frame.seq);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => from + index));
}

/** Heartbeats of live sessions, with a short ping and pong wait: a client that stops answering pings is closed; one that answers goes on. */
describe('live WebSocket sessions: heartbeats', () => {
  const { connect, push, presenceOf } = useLiveSystem({ DISPATCH_WS_PING_MS: String(PING_MS), DISPATCH_WS_PONG_WAIT_MS: String(PONG_WAIT_MS) });

  it('closes a client that stops answering pings with 4000 soon after the pong wait, and clears its presence; a client that answers stays', async () => {
    const subject = uniqueId('user');
    const opened = Date.now();
    const silent = await connect(subject, { autoPong: false });
    const steady = await connect(subject);
    await eventually(async () => ((await presenceOf(subject)).sessions === 2 ? true : undefined), 5_000, 'both sessions present');

    const timeout = await Promise.race([silent.closed, new Promise<undefined>((resolve) => setTimeout(resolve, PONG_WAIT_MS * 6))]);
    expect(timeout).toEqual({ code: 4000, reason: 'pong timeout' });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(PONG_WAIT_MS - 50);
    await eventually(async () => ((await presenceOf(subject)).sessions === 1 ? true : undefined), 5_000, 'the silent session gone from presence');
    expect(await presenceOf(subject)).toEqual({ subject, online: true, sessions: 1 });

    // The client that answers pings outlives several pong waits, and still gets what is pushed.
    await new Promise((resolve) => setTimeout(resolve, PONG_WAIT_MS * 3));
    expect(steady.socket.readyState).toBe(WebSocket.OPEN);
    const ids = await push(subject, 3);
    await steady.waitForEvents(3);
    expect(steady.events.map((frame) => frame.event.id).sort()).toEqual([...ids].sort());
    expectContiguous(steady, 1);
    expect(silent.frames).toEqual([]);

    await steady.close();
    await eventually(async () => ((await presenceOf(subject)).sessions === 0 ? true : undefined), 5_000, 'no session present');
    expect(await presenceOf(subject)).toEqual({ subject, online: false, sessions: 0 });
  });
});

/**
 * Backpressure, with a small send queue. A client that stopped reading answers no ping either: the
 * pong wait is left long here, so that the send queue is what closes it.
 */
describe('live WebSocket sessions: backpressure', () => {
  const { connect, push, sessionsOf } = useLiveSystem({ DISPATCH_WS_SEND_QUEUE: String(SEND_QUEUE) });

  it('closes a client that stopped reading with 4008 once its send queue overflows; another session of the subject gets every frame, and the stalled one catches up with lastSeq', async () => {
    const subject = uniqueId('user');
    const reader = await connect(subject);
    const [readerSession] = await eventually(async () => ((await sessionsOf(subject)).length === 1 ? sessionsOf(subject) : undefined), 5_000, 'the reader listed');
    const stalled = await connect(subject);
    const both = await eventually(async () => ((await sessionsOf(subject)).length === 2 ? sessionsOf(subject) : undefined), 5_000, 'both sessions listed');
    const stalledSession = both.find((session) => session.id !== readerSession.id);
    expect(stalledSession).toBeDefined();
    stalled.socket.pause();

    // Push large frames until the stalled session is closed (the kernel buffers, then the send queue fill up).
    const ids: string[] = [];
    let overflowed = false;
    for (let batch = 0; batch < 40 && !overflowed; batch += 1) {
      ids.push(...(await push(subject, 12, PAYLOAD)));
      await reader.waitForEvents(ids.length, 10_000);
      overflowed = !(await sessionsOf(subject)).some((session) => session.id === stalledSession?.id);
    }
    expect(overflowed).toBe(true);
    ids.push(...(await push(subject, 12, PAYLOAD)));

    // The reading session got every frame, in order, and is still the one listed.
    await reader.waitForEvents(ids.length, 10_000);
    expectContiguous(reader, 1);
    expect(new Set(reader.events.map((frame) => frame.event.id))).toEqual(new Set(ids));
    expect(reader.events[0].event.data.blob).toBe(PAYLOAD);
    expect(reader.socket.readyState).toBe(WebSocket.OPEN);
    expect(await sessionsOf(subject)).toEqual([expect.objectContaining({ id: readerSession.id, subject })]);

    // Reading again, the stalled client finds what was written before the close, then the 4008.
    stalled.socket.resume();
    expect(await stalled.closed).toEqual({ code: 4008, reason: 'backpressure overflow' });
    expect(stalled.frames.every((frame) => frame.type === 'event')).toBe(true);
    expectContiguous(stalled, 1);
    expect(stalled.events.length).toBeLessThan(ids.length);

    // Back with lastSeq, it gets everything it missed, in order.
    const back = await connect(subject, { lastSeq: stalled.lastSeq });
    await back.waitForEvents(ids.length - stalled.lastSeq, 10_000);
    expectContiguous(back, stalled.lastSeq + 1);
    expect(back.frames.every((frame) => frame.type === 'event')).toBe(true);
    expect(back.events.map((frame) => frame.event.id)).toEqual(reader.events.slice(stalled.lastSeq).map((frame) => frame.event.id));

    // So does the reading session, back from the start: everything kept, in the order it read it live.
    await reader.close();
    const again = await connect(subject, { lastSeq: 0 });
    await again.waitForEvents(ids.length, 10_000);
    expect(again.events.map((frame) => frame.event.id)).toEqual(reader.events.map((frame) => frame.event.id));
  });
});
