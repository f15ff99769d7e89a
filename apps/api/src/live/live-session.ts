import type { SubjectReading } from '@dispatch/destinations';

/** What a session writes to: a WebSocket of `ws`. */
export interface SessionSocket {
  send(data: string, callback: (error?: Error) => void): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
}

/** What is kept of the session's subject (`SubjectStreams`, bound to the subject). */
export interface SubjectReader {
  /** The last seq given and up to `count` kept frames after `afterSeq`, oldest first. */
  read(afterSeq: number, count: number): Promise<SubjectReading>;
  latestSeq(): Promise<number>;
}

export type SessionLimits = {
  /** Live frames that may wait to be written (held back or not yet taken by the socket) before the session is closed with 4008. */
  sendQueue: number;
  /** The longest a frame waits for the one before it before the session looks for it among the kept frames. */
  reorderWaitMs: number;
};

/** Close codes a session ends with. */
export const CLOSE = {
  goingAway: { code: 1001, reason: 'going away' },
  backpressure: { code: 4008, reason: 'backpressure overflow' },
  pongTimeout: { code: 4000, reason: 'pong timeout' },
  unavailable: { code: 1011, reason: 'live push is unavailable; connect again' },
} as const;

/** Why a session ended, as metrics count it. */
export type EndReason = 'client' | 'pong_timeout' | 'backpressure' | 'going_away' | 'error';

const END_REASONS: Record<number, EndReason> = { 1001: 'going_away', 4008: 'backpressure', 4000: 'pong_timeout', 1011: 'error' };

/** Told of the frames a session writes (metrics). */
export type FramesWritten = (source: 'live' | 'replay' | 'resync') => void;

/** Kept frames are read and written this many at a time, each batch once the socket took the one before. */
const REPLAY_PAGE = 100;
/** A session that was asked to close and has not closed by then is cut. */
const CLOSE_GRACE_MS = 10_000;

/**
 * One live WebSocket session of a subject. It writes frames in `seq` order with no gap and no
 * duplicate:
 * - live frames come from the subject's channel (`offer`); one that comes before the frame it
 *   follows is held back at most `reorderWaitMs`, then the missing ones are read from the kept
 *   frames; a frame no longer kept is announced by `resync_required` (`fromSeq`: the next one
 *   written);
 * - a session opened with `lastSeq` first gets the kept frames after it (replay), written at the
 *   pace the socket takes them, then the live ones;
 * - when more than `sendQueue` live frames wait (a client that stopped reading), it closes
 *   with 4008.
 */
export class LiveSession {
  readonly connectedAt = new Date();
  lastPongAt = Date.now();
  nextPingAt = 0;
  /** Its presence being recorded (once it started): what clearing it waits for. */
  presence: Promise<void> | undefined;
  /** Resolves once the connection is closed. */
  readonly whenClosed: Promise<void>;
  private connectionClosed!: () => void;
  /** The seq of the next event frame this session writes (0 until started). */
  private nextSeq = 0;
  /** Live frames that came before the one they follow, by seq. */
  private readonly held = new Map<number, string>();
  /** Live frames handed to the socket and not yet written out. */
  private writing = 0;
  private catchingUp: Promise<void> | null = null;
  /** Frames held while catching up were dropped (too many): the kept frames are read again. */
  private droppedWhileCatchingUp = false;
  private started = false;
  /** The client's `lastSeq` is ahead of the subject (from an earlier life of it): it must resync. */
  private mustResync = false;
  private holdTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Why it ended (once it has). */
  endReason: EndReason | undefined;

  constructor(
    readonly id: string,
    readonly organizationId: string,
    readonly subject: string,
    readonly remoteAddress: string,
    private readonly socket: SessionSocket,
    private readonly reader: SubjectReader,
    private readonly limits: SessionLimits,
    /** Told once, when the session ends, whoever ends it. */
    private readonly onEnd: (session: LiveSession) => void,
    private readonly written: FramesWritten = () => undefined,
  ) {
    this.whenClosed = new Promise((resolve) => {
      this.connectionClosed = resolve;
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Starts writing: after `lastSeq` (what the client missed first), or from the next frame given. */
  async start(lastSeq: number | undefined): Promise<void> {
    const latest = await this.reader.latestSeq();
    if (lastSeq === undefined) this.nextSeq = latest + 1;
    else if (lastSeq > latest) {
      this.nextSeq = 0;
      this.mustResync = true;
    } else this.nextSeq = lastSeq + 1;
    this.started = true;
    // Frames held while the last seq was read were dropped (too many): they are kept, read them there.
    if (lastSeq === undefined && !this.droppedWhileCatchingUp) this.flushHeld();
    else await this.catchUp();
  }

  /** A live frame of the subject, as published. */
  offer(seq: number, frame: string): void {
    if (this.ended || (this.started && seq < this.nextSeq)) return;
    if (!this.started || this.catchingUp) {
      this.held.set(seq, frame);
      if (this.held.size > this.limits.sendQueue) {
        // Kept for replay: read again once this catch-up is through.
        this.held.clear();
        this.droppedWhileCatchingUp = true;
      }
      return;
    }
    if (seq === this.nextSeq && this.held.size === 0) {
      this.writeLive(frame);
      this.nextSeq += 1;
    } else {
      this.held.set(seq, frame);
      this.flushHeld();
    }
    this.checkQueue();
  }

  /** Looks among the kept frames for anything missed (after the subject's channel was lost a while). */
  catchUpSoon(): void {
    if (this.started && !this.ended) void this.catchUp();
  }

  /** Closes the session with `code` (cut after a grace period if the client does not answer). */
  end(close: { code: number; reason: string }): void {
    if (this.ended) return;
    this.finish(END_REASONS[close.code] ?? 'error');
    try {
      this.socket.close(close.code, close.reason);
    } catch {
      this.socket.terminate();
      return;
    }
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Ends the session without a close handshake (the client is gone). */
  cut(): void {
    if (!this.ended) this.finish('error');
    this.socket.terminate();
  }

  /** The connection closed (the client closed it, it dropped, or a close this side began is through). */
  closed(): void {
    if (!this.ended) this.finish('client');
    this.connectionClosed();
  }

  ping(): void {
    try {
      this.socket.ping();
    } catch {
      this.cut();
    }
  }

  private finish(reason: EndReason): void {
    this.ended = true;
    this.endReason = reason;
    clearTimeout(this.holdTimer);
    this.held.clear();
    this.onEnd(this);
  }

  private catchUp(): Promise<void> {
    if (!this.catchingUp) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
      this.catchingUp = this.writeKept()
        .catch(() => this.end(CLOSE.unavailable))
        .finally(() => {
          this.catchingUp = null;
          this.flushHeld();
          this.checkQueue();
        });
    }
    return this.catchingUp;
  }

  /** Writes the kept frames from `nextSeq` on, a page at a time, until none is left. */
  private async writeKept(): Promise<void> {
    for (;;) {
      this.droppedWhileCatchingUp = false;
      const { latestSeq, frames } = await this.reader.read(Math.max(0, this.nextSeq - 1), REPLAY_PAGE);
      if (this.ended) return;
      if (this.mustResync || (frames.length === 0 && latestSeq >= this.nextSeq)) {
        this.mustResync = false;
        // Nothing kept after the gap: the next frame is the first one held, if any came live.
        await this.writeResync(frames[0]?.seq ?? Math.min(latestSeq + 1, ...this.held.keys()));
      }
      const written: Promise<void>[] = [];
      for (const { seq, frame } of frames) {
        if (seq < this.nextSeq) continue;
        if (seq > this.nextSeq) written.push(this.writePaced(resyncFrame(seq), 'resync'));
        written.push(this.writePaced(frame, 'replay'));
        this.nextSeq = seq + 1;
      }
      for (const seq of this.held.keys()) if (seq < this.nextSeq) this.held.delete(seq);
      await Promise.all(written);
      if (this.ended) return;
      if (frames.length < REPLAY_PAGE && !this.droppedWhileCatchingUp) return;
    }
  }

  /** Writes the held frames that follow on; if some are still missing, waits for them a while. */
  private flushHeld(): void {
    if (this.ended) return;
    for (const seq of this.held.keys()) if (seq < this.nextSeq) this.held.delete(seq);
    let frame = this.held.get(this.nextSeq);
    while (frame !== undefined) {
      this.held.delete(this.nextSeq);
      this.writeLive(frame);
      this.nextSeq += 1;
      frame = this.held.get(this.nextSeq);
    }
    if (this.held.size > 0 && !this.holdTimer && !this.catchingUp) {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        void this.catchUp();
      }, this.limits.reorderWaitMs);
      this.holdTimer.unref();
    } else if (this.held.size === 0) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  private writeLive(frame: string): void {
    this.written('live');
    this.writing += 1;
    this.socket.send(frame, () => {
      this.writing -= 1;
    });
  }

  private writePaced(frame: string, source: 'replay' | 'resync'): Promise<void> {
    this.written(source);
    return new Promise((resolve) => this.socket.send(frame, () => resolve()));
  }

  private async writeResync(fromSeq: number): Promise<void> {
    await this.writePaced(resyncFrame(fromSeq), 'resync');
    this.nextSeq = fromSeq;
  }

  private checkQueue(): void {
    if (!this.ended && this.writing + this.held.size > this.limits.sendQueue) this.end(CLOSE.backpressure);
  }
}

function resyncFrame(fromSeq: number): string {
  return `{"type":"resync_required","fromSeq":${fromSeq}}`;
}
