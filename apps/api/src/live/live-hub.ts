import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import WebSocket, { WebSocketServer } from 'ws';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { seqOfFrame, SubjectStreams } from '@dispatch/destinations';
import { newId } from '@dispatch/domain';
import { duplicateConnection, REDIS, RedisConnection } from '@dispatch/queue';
import { Metrics } from '../operations/metrics';
import { CLOSE, LiveSession } from './live-session';
import { Presence } from './presence';
import { StreamGrant, StreamTokens } from './stream-tokens';

/** Where devices open live sessions. */
export const STREAM_PATH = '/v1/stream';
/** Devices send nothing Dispatch reads: a larger message than this closes the session. */
const MAX_CLIENT_MESSAGE_BYTES = 4096;
/** At shutdown, sessions whose clients have not closed by then are cut. */
const SHUTDOWN_GRACE_MS = 2_000;

/**
 * The session hub of one API process: it takes WebSocket upgrades at `/v1/stream?token=&lastSeq=`
 * (the token checked before the upgrade: a 401 otherwise), keeps the sessions of each subject,
 * subscribes to a subject's channel while it holds a session of it and hands each frame to
 * them (`LiveSession` keeps the order, the replay and the send queue), pings every session
 * and closes one whose pong is late, and keeps presence. At shutdown it closes every session
 * with 1001 ("going away"), so devices reconnect to another process; what they missed is kept
 * for replay.
 */
@Injectable()
export class LiveHub implements BeforeApplicationShutdown {
  private readonly logger = new Logger('live');
  /** Sessions by the channel of their subject. */
  private readonly sessions = new Map<string, Set<LiveSession>>();
  /** Channels subscribed to (or being). */
  private readonly subscriptions = new Map<string, Promise<unknown>>();
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });
  /** Presence being cleared for sessions that ended: waited for at shutdown. */
  private readonly clearing = new Set<Promise<void>>();
  private subscriber: RedisConnection | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    @Inject(REDIS) private readonly redis: RedisConnection,
    private readonly streams: SubjectStreams,
    private readonly tokens: StreamTokens,
    private readonly presence: Presence,
    private readonly metrics: Metrics,
  ) {}

  /** Takes the WebSocket upgrades of the API's HTTP server; call once, before it listens. */
  attach(server: Server): void {
    const subscriber = duplicateConnection(this.redis, { connectionName: 'dispatch-live' });
    subscriber.on('error', () => undefined); // the shared connection logs Redis being down
    subscriber.on('message', (channel: string, frame: string) => this.deliver(channel, frame));
    // Frames published while the subscription was down are kept: every session looks for them.
    let wasReady = false;
    subscriber.on('ready', () => {
      if (wasReady) for (const session of this.allSessions()) session.catchUpSoon();
      wasReady = true;
    });
    this.subscriber = subscriber;
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    const { pingMs, pongWaitMs } = this.config.live;
    this.sweepTimer = setInterval(() => this.sweep(), Math.min(1_000, Math.max(20, Math.floor(Math.min(pingMs, pongWaitMs) / 4))));
    this.sweepTimer.unref();
    this.presence.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.subscriber || this.closing) return;
    this.closing = true;
    clearInterval(this.sweepTimer);
    const sessions = [...this.allSessions()];
    const closed = sessions.map((session) => session.whenClosed);
    for (const session of sessions) session.end(CLOSE.goingAway);
    await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref())]);
    for (const session of sessions) session.cut();
    await Promise.all(this.clearing);
    await this.presence.stop();
    this.subscriber.disconnect();
    if (sessions.length > 0) this.logger.log(`Closed ${sessions.length} live sessions (going away)`);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== STREAM_PATH) return this.refuse(socket, 404, 'Not Found', `no WebSocket endpoint at ${url.pathname}; live sessions open at ${STREAM_PATH}`);
    if (this.closing) return this.refuse(socket, 503, 'Service Unavailable', 'this API process is shutting down; connect again');
    const grant = this.tokens.verify(url.searchParams.get('token') ?? '');
    if (!grant)
      return this.refuse(socket, 401, 'Unauthorized', 'token: a valid stream token is required (from POST /v1/stream-tokens); it is missing, changed or expired');
    const lastSeqText = url.searchParams.get('lastSeq');
    if (lastSeqText !== null && !/^\d{1,15}$/.test(lastSeqText)) return this.refuse(socket, 400, 'Bad Request', 'lastSeq: must be a whole number, 0 or more');
    const lastSeq = lastSeqText === null ? undefined : Number(lastSeqText);
    this.server.handleUpgrade(request, socket, head, (ws) => void this.open(ws, grant, lastSeq, request.socket.remoteAddress ?? ''));
  }

  private refuse(socket: Duplex, statusCode: number, error: string, message: string): void {
    this.metrics.liveRefusals.inc({ status: String(statusCode) });
    refuse(socket, statusCode, error, message);
  }

  private async open(ws: WebSocket, grant: StreamGrant, lastSeq: number | undefined, remoteAddress: string): Promise<void> {
    const { organizationId, subject } = grant;
    const channel = this.streams.channelOf(organizationId, subject);
    const reader = {
      read: (afterSeq: number, count: number) => this.streams.read(organizationId, subject, afterSeq, count),
      latestSeq: () => this.streams.latestSeq(organizationId, subject),
    };
    const session = new LiveSession(
      newId('wss'),
      organizationId,
      subject,
      remoteAddress,
      ws,
      reader,
      this.config.live,
      (ended) => this.ended(channel, ended),
      (source) => this.metrics.liveFrames.inc({ source }),
    );
    session.nextPingAt = Date.now() + this.config.live.pingMs;
    ws.on('pong', () => {
      session.lastPongAt = Date.now();
    });
    ws.on('close', () => session.closed());
    ws.on('error', () => session.cut());
    let sessions = this.sessions.get(channel);
    if (!sessions) {
      sessions = new Set();
      this.sessions.set(channel, sessions);
    }
    sessions.add(session);
    this.metrics.liveSessions.inc();
    try {
      await this.subscribe(channel);
      if (session.isEnded) return;
      session.presence = this.presence.arrived(session).catch((error: Error) => this.logger.warn(`Presence of a session of "${subject}" not recorded: ${error.message}`));
      await session.start(lastSeq);
    } catch (error) {
      this.logger.warn(`A live session of "${subject}" could not start: ${(error as Error).message}`);
      session.end(CLOSE.unavailable);
    }
  }

  private ended(channel: string, session: LiveSession): void {
    const sessions = this.sessions.get(channel);
    if (!sessions?.delete(session)) return;
    this.metrics.liveSessions.dec();
    this.metrics.liveCloses.inc({ reason: session.endReason ?? 'error' });
    if (session.presence) {
      const clearing = session.presence
        .then(() => this.presence.left(session))
        .catch((error: Error) => this.logger.warn(`Presence of a session of "${session.subject}" not cleared: ${error.message}`))
        .finally(() => this.clearing.delete(clearing));
      this.clearing.add(clearing);
    }
    if (sessions.size > 0) return;
    this.sessions.delete(channel);
    this.subscriptions.delete(channel);
    void this.subscriber?.unsubscribe(channel).catch(() => undefined);
  }

  private subscribe(channel: string): Promise<unknown> {
    let subscribed = this.subscriptions.get(channel);
    if (!subscribed) {
      subscribed = (this.subscriber as RedisConnection).subscribe(channel);
      subscribed.catch(() => this.subscriptions.delete(channel));
      this.subscriptions.set(channel, subscribed);
    }
    return subscribed;
  }

  private deliver(channel: string, frame: string): void {
    const sessions = this.sessions.get(channel);
    if (!sessions) return;
    const seq = seqOfFrame(frame);
    for (const session of sessions) session.offer(seq, frame);
  }

  /** Pings the sessions due a ping, and closes those whose pong is late. */
  private sweep(): void {
    const now = Date.now();
    const { pingMs, pongWaitMs } = this.config.live;
    for (const session of this.allSessions()) {
      if (now - session.lastPongAt > pongWaitMs) session.end(CLOSE.pongTimeout);
      else if (now >= session.nextPingAt) {
        session.nextPingAt = now + pingMs;
        session.ping();
      }
    }
  }

  private *allSessions(): Iterable<LiveSession> {
    for (const sessions of this.sessions.values()) yield* sessions;
  }
}

/** Answers an upgrade request with an HTTP error, in the API's error shape, and closes the connection. */
function refuse(socket: Duplex, statusCode: number, error: string, message: string): void {
  socket.on('error', () => undefined);
  const body = JSON.stringify({ statusCode, error, message });
  socket.end(
    `HTTP/1.1 ${statusCode} ${error}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
