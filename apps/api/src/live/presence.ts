import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { OperationalEventItem, OperationalEvents } from '@dispatch/ingest';
import { REDIS, RedisConnection } from '@dispatch/queue';

/** A session as presence knows it. */
export type PresentSession = { id: string; organizationId: string; subject: string; connectedAt: Date; remoteAddress: string };

/** A live session as `GET /v1/stream-sessions` lists it. */
export type SessionView = { id: string; subject: string; process: string; connectedAt: string; remoteAddress: string };

/** An API process that has not said it is alive for this long is gone: its sessions are not counted, and are cleared. */
const PROCESS_GONE_MS = 30_000;
const HEARTBEAT_MS = 5_000;
const SWEEP_MS = 1_000;
/** Presence events are written a burst at a time. */
const ANNOUNCE_MS = 200;
/** Announcements kept while the database cannot take them; past that, the oldest are dropped. */
const ANNOUNCE_BACKLOG = 10_000;

type Commands = {
  dispatchPresenceArrive(leaving: string, due: string): Promise<number>;
  dispatchPresenceLeave(leaving: string, due: string, member: string, dueAt: number, ttlMs: number): Promise<number>;
  dispatchPresenceDue(due: string, now: number, limit: number, leavingPrefix: string): Promise<string[]>;
};

/** KEYS: the subject's pending leaves, every pending leave. A session arrives: a leave of its subject still pending is dropped (1), and nothing is announced. */
const ARRIVE = `
local member = redis.call('LPOP', KEYS[1])
if member then
  redis.call('ZREM', KEYS[2], member)
  return 1
end
return 0
`;

/** KEYS: the subject's pending leaves, every pending leave. ARGV: the leave, when it is due, how long to keep the list. */
const LEAVE = `
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
`;

/** KEYS: every pending leave. ARGV: now, how many, the prefix of subjects' lists. Takes the leaves now due (each one once, whoever asks). */
const DUE = `
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(members) do
  redis.call('ZREM', KEYS[1], member)
  local leave = cjson.decode(member)
  redis.call('LREM', ARGV[3] .. leave.o .. ':' .. leave.s, 1, member)
end
return members
`;

/**
 * Who is connected, in Redis, for every API process to read:
 * - `<prefix>:live:{<org>:<subject>}:sessions`: a hash of the subject's sessions (id → process, since, address);
 * - `<prefix>:live:{presence}:processes`: API processes holding sessions → when each last said it is alive;
 * - `<prefix>:live:{presence}:process:<id>`: a process's sessions, to clear them when the process is gone;
 * - `<prefix>:live:{presence}:leaving` and `…:leaving:<org>:<subject>`: leaves not yet announced.
 *
 * A session that arrives or leaves is announced as the event `dispatch.presence.connected` or
 * `dispatch.presence.disconnected` (`{ subject, sessionId, at }`) of its organization, written
 * only when a destination subscribes to it. A leave is announced after the debounce: if a
 * session of the same subject arrives first (a device that dropped and came back, to this
 * process or another), neither is announced. The sessions of a process that died are cleared
 * by the others, and their leaves announced the same way.
 */
@Injectable()
export class Presence {
  readonly processId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly logger = new Logger('presence');
  private readonly redis: RedisConnection & Commands;
  private readonly announcements: OperationalEventItem[] = [];
  private timers: NodeJS.Timeout[] = [];
  private lastDeadSweep = 0;
  private announcing: Promise<void> = Promise.resolve();

  constructor(
    @Inject(REDIS) redis: RedisConnection,
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    private readonly events: OperationalEvents,
  ) {
    const commands = redis as RedisConnection & Partial<Commands>;
    if (!commands.dispatchPresenceArrive) {
      redis.defineCommand('dispatchPresenceArrive', { numberOfKeys: 2, lua: ARRIVE });
      redis.defineCommand('dispatchPresenceLeave', { numberOfKeys: 2, lua: LEAVE });
      redis.defineCommand('dispatchPresenceDue', { numberOfKeys: 1, lua: DUE });
    }
    this.redis = redis as RedisConnection & Commands;
  }

  /** Says this process is alive, announces due leaves and clears gone processes, until `stop`. */
  start(): void {
    if (this.timers.length > 0) return;
    const run = (task: () => Promise<unknown>, everyMs: number) => {
      const timer = setInterval(() => void task().catch((error: Error) => this.logger.warn(`Presence upkeep failed: ${error.message}`)), everyMs);
      timer.unref();
      this.timers.push(timer);
    };
    run(() => this.heartbeat(), HEARTBEAT_MS);
    run(() => this.sweep(), SWEEP_MS);
    run(() => this.announce(), ANNOUNCE_MS);
  }

  /** Stops the upkeep and writes the announcements still waiting. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.announce().catch((error: Error) => this.logger.warn(`Presence events not written: ${error.message}`));
    await this.redis.zrem(this.key('processes'), this.processId).catch(() => undefined);
  }

  async arrived(session: PresentSession): Promise<void> {
    const now = Date.now();
    await Promise.all([
      this.redis.zadd(this.key('processes'), now, this.processId),
      this.redis.hset(
        this.sessionsKey(session.organizationId, session.subject),
        session.id,
        JSON.stringify({ process: this.processId, connectedAt: session.connectedAt.toISOString(), remoteAddress: session.remoteAddress }),
      ),
      this.redis.hset(this.processKey(this.processId), session.id, JSON.stringify({ o: session.organizationId, s: session.subject })),
    ]);
    const cameBack = await this.redis.dispatchPresenceArrive(this.leavingKey(session.organizationId, session.subject), this.key('leaving'));
    if (cameBack === 0) this.queue(session.organizationId, 'dispatch.presence.connected', session.subject, session.id, new Date(now));
  }

  async left(session: PresentSession): Promise<void> {
    const at = new Date();
    await Promise.all([
      this.redis.hdel(this.sessionsKey(session.organizationId, session.subject), session.id),
      this.redis.hdel(this.processKey(this.processId), session.id),
    ]);
    await this.leave(session.organizationId, session.subject, session.id, at);
  }

  /** The live sessions of a subject, on processes still alive. */
  async sessionsOf(organizationId: string, subject: string): Promise<SessionView[]> {
    const [stored, alive] = await Promise.all([this.redis.hgetall(this.sessionsKey(organizationId, subject)), this.aliveProcesses()]);
    const sessions: SessionView[] = [];
    for (const [id, text] of Object.entries(stored)) {
      const session = JSON.parse(text) as { process: string; connectedAt: string; remoteAddress: string };
      if (alive.has(session.process)) sessions.push({ id, subject, ...session });
    }
    return sessions.sort((a, b) => a.connectedAt.localeCompare(b.connectedAt) || a.id.localeCompare(b.id));
  }

  private async leave(organizationId: string, subject: string, sessionId: string, at: Date): Promise<void> {
    const debounceMs = this.config.live.presenceDebounceMs;
    if (debounceMs === 0) return this.queue(organizationId, 'dispatch.presence.disconnected', subject, sessionId, at);
    const member = JSON.stringify({ o: organizationId, s: subject, id: sessionId, at: at.toISOString() });
    await this.redis.dispatchPresenceLeave(this.leavingKey(organizationId, subject), this.key('leaving'), member, at.getTime() + debounceMs, debounceMs * 2 + 60_000);
  }

  private async heartbeat(): Promise<void> {
    await this.redis.zadd(this.key('processes'), Date.now(), this.processId);
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const due = await this.redis.dispatchPresenceDue(this.key('leaving'), now, 500, `${this.key('leaving')}:`);
    for (const member of due) {
      const leave = JSON.parse(member) as { o: string; s: string; id: string; at: string };
      this.queue(leave.o, 'dispatch.presence.disconnected', leave.s, leave.id, new Date(leave.at));
    }
    if (now - this.lastDeadSweep >= HEARTBEAT_MS) {
      this.lastDeadSweep = now;
      await this.clearGoneProcesses(now);
    }
  }

  /** The sessions of processes that stopped saying they are alive (killed): cleared once, by whichever process gets there first. */
  private async clearGoneProcesses(now: number): Promise<void> {
    const gone = await this.redis.zrangebyscore(this.key('processes'), '-inf', now - PROCESS_GONE_MS);
    for (const processId of gone) {
      if ((await this.redis.zrem(this.key('processes'), processId)) === 0) continue;
      const sessions = await this.redis.hgetall(this.processKey(processId));
      for (const [sessionId, text] of Object.entries(sessions)) {
        const { o, s } = JSON.parse(text) as { o: string; s: string };
        await this.redis.hdel(this.sessionsKey(o, s), sessionId);
        await this.leave(o, s, sessionId, new Date(now));
      }
      await this.redis.del(this.processKey(processId));
      this.logger.log(`Cleared ${Object.keys(sessions).length} live sessions of API process ${processId}, gone since ${new Date(now - PROCESS_GONE_MS).toISOString()}`);
    }
  }

  private async aliveProcesses(): Promise<Set<string>> {
    return new Set(await this.redis.zrangebyscore(this.key('processes'), Date.now() - PROCESS_GONE_MS, '+inf'));
  }

  private queue(organizationId: string, type: 'dispatch.presence.connected' | 'dispatch.presence.disconnected', subject: string, sessionId: string, at: Date): void {
    if (this.announcements.length >= ANNOUNCE_BACKLOG) this.announcements.shift();
    const change = type === 'dispatch.presence.connected' ? 'connected' : 'disconnected';
    this.announcements.push({ organizationId, type, id: `prs_${sessionId}.${change}`, data: { subject, sessionId, at: at.toISOString() } });
  }

  /** Writes the waiting announcements, one burst at a time; kept for the next try when the database cannot take them. */
  private announce(): Promise<void> {
    const next = this.announcing.then(() => this.writeAnnouncements());
    this.announcing = next.catch(() => undefined);
    return next;
  }

  private async writeAnnouncements(): Promise<void> {
    if (this.announcements.length === 0) return;
    const burst = this.announcements.splice(0, this.announcements.length);
    try {
      await this.events.emitMany(burst, { onlyWhenSubscribed: true });
    } catch (error) {
      this.announcements.unshift(...burst.slice(-(ANNOUNCE_BACKLOG - this.announcements.length)));
      throw error;
    }
  }

  private key(name: string): string {
    return `${this.config.queuePrefix}:live:{presence}:${name}`;
  }

  private processKey(processId: string): string {
    return this.key(`process:${processId}`);
  }

  private leavingKey(organizationId: string, subject: string): string {
    return `${this.key('leaving')}:${organizationId}:${subject}`;
  }

  private sessionsKey(organizationId: string, subject: string): string {
    return `${this.config.queuePrefix}:live:{${organizationId}:${subject}}:sessions`;
  }
}
