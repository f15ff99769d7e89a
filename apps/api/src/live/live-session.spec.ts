import type { SubjectReading } from '@dispatch/destinations';
import { CLOSE, LiveSession, SessionLimits, SessionSocket } from './live-session';

/** A socket that records what is written; each write is taken at once, or only when the test says so (`takeWrites`). */
class FakeSocket implements SessionSocket {
  readonly sent: string[] = [];
  /** Written frames the socket has not taken yet. */
  readonly untaken: (() => void)[] = [];
  takesAtOnce = true;
  closedWith: { code: number; reason: string; afterWrites: number } | undefined;
  readonly terminate = jest.fn();
  readonly ping = jest.fn();

  send(data: string, callback: (error?: Error) => void): void {
    this.sent.push(data);
    if (this.takesAtOnce) void Promise.resolve().then(() => callback());
    else this.untaken.push(() => callback());
  }

  close(code: number, reason: string): void {
    this.closedWith = { code, reason, afterWrites: this.sent.length };
  }

  /** The socket takes the first `count` frames waiting (all by default). */
  takeWrites(count = this.untaken.length): void {
    for (const take of this.untaken.splice(0, count)) take();
  }

  /** What was written, as `seq` for an event frame and `resync:<fromSeq>` for resync_required. */
  get written(): (number | string)[] {
    return this.sent.map((text) => {
      const frame = JSON.parse(text) as { type: string; seq?: number; fromSeq?: number };
      return frame.type === 'event' ? (frame.seq as number) : `${frame.type === 'resync_required' ? 'resync' : frame.type}:${frame.fromSeq}`;
    });
  }
}

/** The kept frames of a subject: `latest` is the last seq given, `kept` what is still kept. */
class FakeSubject {
  latest = 0;
  readonly kept = new Map<number, string>();
  readonly read = jest.fn(async (afterSeq: number, count: number): Promise<SubjectReading> => this.reading(afterSeq, count));
  readonly latestSeq = jest.fn(async (): Promise<number> => this.latest);

  /** Gives `count` new seqs, each kept. Answers the frames, as published. */
  publish(count: number): string[] {
    return Array.from({ length: count }, () => {
      this.latest += 1;
      this.kept.set(this.latest, frameOf(this.latest));
      return frameOf(this.latest);
    });
  }

  /** Drops kept frames (as the replay cap or TTL would). */
  forget(...seqs: number[]): void {
    for (const seq of seqs) this.kept.delete(seq);
  }

  private reading(afterSeq: number, count: number): SubjectReading {
    const frames = [...this.kept.entries()]
      .filter(([seq]) => seq > afterSeq)
      .sort(([a], [b]) => a - b)
      .slice(0, count)
      .map(([seq, frame]) => ({ seq, frame }));
    return { latestSeq: this.latest, frames };
  }
}

function frameOf(seq: number): string {
  return JSON.stringify({ type: 'event', seq, event: { id: `evt_${seq}`, type: 'chat.message', timestamp: '2026-12-01T12:00:00.000Z', data: { n: seq } } });
}

const LIMITS: SessionLimits = { sendQueue: 8, reorderWaitMs: 250 };

function setup(limits: Partial<SessionLimits> = {}) {
  const mocks = { socket: new FakeSocket(), subject: new FakeSubject(), onEnd: jest.fn() };
  const sut = new LiveSession('wss_1', 'org_1', 'user_1', '127.0.0.1', mocks.socket, mocks.subject, { ...LIMITS, ...limits }, mocks.onEnd);
  return { sut, mocks };
}

/** Lets pending promise work (socket callbacks, reads) run, without moving the clock. */
async function settle(): Promise<void> {
  await jest.advanceTimersByTimeAsync(0);
}

describe('LiveSession', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('writes live frames offered out of order in seq order, without reading the kept frames when the gap fills in time', async () => {
    const { sut, mocks } = setup();
    await sut.start(undefined);
    const [one, two, three, four] = mocks.subject.publish(4);
    sut.offer(3, three);
    sut.offer(1, one);
    expect(mocks.socket.written).toEqual([1]);
    sut.offer(4, four);
    sut.offer(2, two);
    expect(mocks.socket.written).toEqual([1, 2, 3, 4]);

    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs * 4);
    expect(mocks.socket.written).toEqual([1, 2, 3, 4]);
    expect(mocks.subject.read).not.toHaveBeenCalled();
  });

  it('drops a frame offered twice, whether already written or still held back', async () => {
    const { sut, mocks } = setup();
    await sut.start(undefined);
    const frames = mocks.subject.publish(5);
    for (const seq of [1, 2, 2, 1, 5, 5, 4, 3, 3, 4, 5]) sut.offer(seq, frames[seq - 1]);
    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs * 2);
    expect(mocks.socket.written).toEqual([1, 2, 3, 4, 5]);
  });

  it('fills a gap from the kept frames once the reorder wait is over, in order, then goes on live', async () => {
    const { sut, mocks } = setup();
    await sut.start(undefined);
    const frames = mocks.subject.publish(4); // seq 2 never comes live
    for (const seq of [1, 3, 4]) sut.offer(seq, frames[seq - 1]);
    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs - 1);
    expect(mocks.socket.written).toEqual([1]);
    expect(mocks.subject.read).not.toHaveBeenCalled();

    await jest.advanceTimersByTimeAsync(1);
    expect(mocks.socket.written).toEqual([1, 2, 3, 4]);
    const [five] = mocks.subject.publish(1);
    sut.offer(5, five);
    expect(mocks.socket.written).toEqual([1, 2, 3, 4, 5]);
  });

  it('sends resync_required from the next frame it writes when the missing frames are no longer kept, then goes on', async () => {
    const { sut, mocks } = setup();
    await sut.start(undefined);
    const frames = mocks.subject.publish(5);
    mocks.subject.forget(1, 2, 3); // 2 and 3 never come live and are gone
    for (const seq of [1, 4, 5]) sut.offer(seq, frames[seq - 1]);
    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs);
    expect(mocks.socket.written).toEqual([1, 'resync:4', 4, 5]);

    const [six, seven] = mocks.subject.publish(2);
    sut.offer(7, seven);
    sut.offer(6, six);
    expect(mocks.socket.written).toEqual([1, 'resync:4', 4, 5, 6, 7]);
    expect(mocks.socket.closedWith).toBeUndefined();
  });

  it('goes on from the frames it holds when nothing at all is kept (no replay): resync_required names the first of them', async () => {
    const { sut, mocks } = setup();
    await sut.start(undefined);
    const frames = mocks.subject.publish(4);
    mocks.subject.forget(1, 2, 3, 4);
    for (const seq of [1, 3, 4]) sut.offer(seq, frames[seq - 1]);
    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs);
    expect(mocks.socket.written).toEqual([1, 'resync:3', 3, 4]);
  });

  it('started with lastSeq, writes the kept frames after it first, then the live ones that came meanwhile, none twice', async () => {
    const { sut, mocks } = setup();
    mocks.socket.takesAtOnce = false;
    mocks.subject.publish(5);
    const starting = sut.start(2);
    // Seq 6 is given while the session starts: it is both kept and offered live.
    const [six] = mocks.subject.publish(1);
    sut.offer(6, six);
    await settle();
    expect(mocks.socket.written).toEqual([3, 4, 5, 6]);

    // While the socket has not taken the replay yet, more comes live (and 6 again).
    const [seven, eight] = mocks.subject.publish(2);
    sut.offer(8, eight);
    sut.offer(6, six);
    sut.offer(7, seven);
    await settle();
    expect(mocks.socket.written).toEqual([3, 4, 5, 6]);

    mocks.socket.takeWrites();
    await starting;
    mocks.socket.takeWrites();
    const [nine] = mocks.subject.publish(1);
    sut.offer(9, nine);
    expect(mocks.socket.written).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });

  it('replays at the pace the socket takes frames: the next page is read only once the previous one was taken', async () => {
    const { sut, mocks } = setup();
    mocks.socket.takesAtOnce = false;
    mocks.subject.publish(250);
    const starting = sut.start(0);
    await settle();
    expect(mocks.subject.read).toHaveBeenCalledTimes(1);
    expect(mocks.socket.written).toEqual(range(1, 100));

    mocks.socket.takeWrites(99);
    await settle();
    expect(mocks.subject.read).toHaveBeenCalledTimes(1);
    expect(mocks.socket.sent).toHaveLength(100);

    mocks.socket.takeWrites();
    await settle();
    expect(mocks.subject.read).toHaveBeenCalledTimes(2);
    expect(mocks.socket.written).toEqual(range(1, 200));

    mocks.socket.takeWrites();
    await settle();
    expect(mocks.socket.written).toEqual(range(1, 250));
    mocks.socket.takeWrites();
    await starting;
    expect(mocks.socket.closedWith).toBeUndefined();
  });

  it('closes with 4008 once more than sendQueue live frames wait for the socket, and writes nothing after', async () => {
    const { sut, mocks } = setup({ sendQueue: 4 });
    mocks.socket.takesAtOnce = false;
    await sut.start(undefined);
    const frames = mocks.subject.publish(8);
    for (const seq of [1, 2, 3, 4]) sut.offer(seq, frames[seq - 1]);
    expect(mocks.socket.closedWith).toBeUndefined();

    sut.offer(5, frames[4]);
    expect(mocks.socket.closedWith).toEqual({ ...CLOSE.backpressure, afterWrites: expect.any(Number) });
    expect(CLOSE.backpressure).toEqual({ code: 4008, reason: 'backpressure overflow' });
    expect(mocks.onEnd).toHaveBeenCalledWith(sut);
    expect(sut.isEnded).toBe(true);

    const writtenAtClose = mocks.socket.closedWith?.afterWrites;
    for (const seq of [6, 7, 8]) sut.offer(seq, frames[seq - 1]);
    mocks.socket.takeWrites();
    await jest.advanceTimersByTimeAsync(LIMITS.reorderWaitMs * 2);
    expect(mocks.socket.sent).toHaveLength(writtenAtClose as number);
    expect(mocks.onEnd).toHaveBeenCalledTimes(1);
  });

  it('counts frames held back for a gap in the send queue', async () => {
    const { sut, mocks } = setup({ sendQueue: 4 });
    mocks.socket.takesAtOnce = false;
    await sut.start(undefined);
    const frames = mocks.subject.publish(7);
    sut.offer(1, frames[0]);
    for (const seq of [3, 4, 5]) sut.offer(seq, frames[seq - 1]);
    expect(mocks.socket.closedWith).toBeUndefined();
    sut.offer(6, frames[5]);
    expect(mocks.socket.closedWith).toMatchObject(CLOSE.backpressure);
    expect(mocks.socket.written).toEqual([1]);
  });

  it('never closes a session whose socket takes what it is given, however much comes', async () => {
    const { sut, mocks } = setup({ sendQueue: 4 });
    await sut.start(undefined);
    for (const [index, frame] of mocks.subject.publish(100).entries()) {
      sut.offer(index + 1, frame);
      await settle();
    }
    expect(mocks.socket.written).toEqual(range(1, 100));
    expect(mocks.socket.closedWith).toBeUndefined();
  });

  it('sends resync_required first to a client whose lastSeq is ahead of the subject, then what is kept', async () => {
    const { sut, mocks } = setup();
    const frames = mocks.subject.publish(5);
    mocks.subject.forget(1, 2);
    await sut.start(900);
    expect(mocks.socket.written).toEqual(['resync:3', 3, 4, 5]);
    const [six] = mocks.subject.publish(1);
    sut.offer(5, frames[4]);
    sut.offer(6, six);
    expect(mocks.socket.written).toEqual(['resync:3', 3, 4, 5, 6]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}
