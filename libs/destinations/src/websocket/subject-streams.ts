import type { Cluster, Redis } from 'ioredis';
import type { LiveEvent, LivePush } from '../kind';

/** A frame kept for replay: its seq and its JSON, as sessions write it. */
export type KeptFrame = { seq: number; frame: string };

/** What is kept of a subject: the last seq given, and kept frames from a point on. */
export type SubjectReading = { latestSeq: number; frames: KeptFrame[] };

/** What the deployment keeps for replay: the last `replay` frames of a subject, for `replayTtlSeconds`. */
export type ReplaySettings = { replay: number; replayTtlSeconds: number };

/** The seq counter outlives the frames kept, so that a device back after a quiet day is told to resync rather than given seq 1 again. */
const SEQ_TTL_SECONDS = 30 * 24 * 3600;

/**
 * KEYS: seq, replay. ARGV: channel, event JSON, now (ms), frames kept, their TTL (s), the seq's TTL (s).
 * Gives the next seq, keeps the frame (the stream's entry id is `<seq>-0`; frames past the count
 * or older than the TTL are dropped) and publishes it, in one step: the channel's subscribers
 * see frames in seq order. Answers { seq, processes that received it }.
 */
const PUSH = `
local seq = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
local frame = '{"type":"event","seq":' .. seq .. ',"event":' .. ARGV[2] .. '}'
local keep = tonumber(ARGV[4])
if keep > 0 then
  local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', keep, seq .. '-0', 'frame', frame, 'at', ARGV[3])
  if type(added) == 'table' and added.err then
    -- The counter was lost while frames of an earlier count are kept: those cannot be replayed in order.
    redis.call('DEL', KEYS[2])
    redis.call('XADD', KEYS[2], 'MAXLEN', keep, seq .. '-0', 'frame', frame, 'at', ARGV[3])
  end
  local oldest = tonumber(ARGV[3]) - tonumber(ARGV[5]) * 1000
  for _ = 1, 100 do
    local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
    if #first == 0 or tonumber(first[1][2][4]) >= oldest then break end
    redis.call('XDEL', KEYS[2], first[1][1])
  end
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
return {seq, redis.call('PUBLISH', ARGV[1], frame)}
`;

type StreamCommands = {
  dispatchLivePush(seqKey: string, replayKey: string, channel: string, event: string, now: number, keep: number, ttl: number, seqTtl: number): Promise<[number, number]>;
};

/**
 * The subjects of live WebSocket push, in Redis. For a subject of an organization, in one hash
 * slot (`{<org>:<subject>}`):
 * - `<prefix>:live:{<org>:<subject>}:seq`: the last seq given (seq starts at 1, one more per frame);
 * - `<prefix>:live:{<org>:<subject>}:replay`: a stream of the last frames (entry id `<seq>-0`,
 *   fields `frame` and `at`), capped by count and age;
 * - the channel `<prefix>:live:{<org>:<subject>}`: every frame, published as it is given its seq.
 * The `websocket` kind pushes with it; the API's session hub reads and subscribes with it.
 */
export class SubjectStreams implements LivePush {
  private readonly redis: (Redis | Cluster) & StreamCommands;

  constructor(
    redis: Redis | Cluster,
    private readonly prefix: string,
    private readonly settings: ReplaySettings,
  ) {
    if (!(redis as Partial<StreamCommands>).dispatchLivePush) redis.defineCommand('dispatchLivePush', { numberOfKeys: 2, lua: PUSH });
    this.redis = redis as (Redis | Cluster) & StreamCommands;
  }

  /** The channel the frames of a subject are published on. */
  channelOf(organizationId: string, subject: string): string {
    return `${this.prefix}:live:{${organizationId}:${subject}}`;
  }

  async push(organizationId: string, subject: string, event: LiveEvent, now = Date.now()): Promise<{ seq: number; processes: number }> {
    const channel = this.channelOf(organizationId, subject);
    const [seq, processes] = await this.redis.dispatchLivePush(
      `${channel}:seq`,
      `${channel}:replay`,
      channel,
      JSON.stringify(event),
      now,
      this.settings.replay,
      this.settings.replayTtlSeconds,
      Math.max(SEQ_TTL_SECONDS, 2 * this.settings.replayTtlSeconds),
    );
    return { seq: Number(seq), processes: Number(processes) };
  }

  async processesHolding(organizationId: string, subject: string): Promise<number> {
    const channel = this.channelOf(organizationId, subject);
    const counts = (await this.redis.pubsub('NUMSUB', channel)) as (string | number)[];
    return Number(counts[1] ?? 0);
  }

  /** The last seq given to the subject (0: none yet, or none for longer than its frames are kept). */
  async latestSeq(organizationId: string, subject: string): Promise<number> {
    return Number((await this.redis.get(`${this.channelOf(organizationId, subject)}:seq`)) ?? 0);
  }

  /**
   * The last seq given, and up to `count` kept frames with a seq above `afterSeq`, oldest first
   * (frames past their time are not kept, even where Redis has not dropped them yet).
   */
  async read(organizationId: string, subject: string, afterSeq: number, count: number, now = Date.now()): Promise<SubjectReading> {
    const channel = this.channelOf(organizationId, subject);
    const oldest = now - this.settings.replayTtlSeconds * 1000;
    const latest = this.redis.get(`${channel}:seq`);
    const frames: KeptFrame[] = [];
    let after = afterSeq;
    for (;;) {
      const entries = await this.redis.xrange(`${channel}:replay`, `${after + 1}-0`, '+', 'COUNT', count);
      for (const [id, fields] of entries) {
        after = Number(id.slice(0, id.indexOf('-')));
        if (Number(fields[3]) >= oldest) frames.push({ seq: after, frame: fields[1] });
      }
      // A page of nothing but frames past their time: the kept ones may follow.
      if (frames.length > 0 || entries.length < count) break;
    }
    return { latestSeq: Number((await latest) ?? 0), frames };
  }

  /** How much of a subject is kept: the last seq given, how many frames, and the oldest one's seq. */
  async kept(organizationId: string, subject: string, now = Date.now()): Promise<{ latestSeq: number; kept: number; oldestKeptSeq: number | null }> {
    const channel = this.channelOf(organizationId, subject);
    const [latest, length] = await Promise.all([this.redis.get(`${channel}:seq`), this.redis.xlen(`${channel}:replay`)]);
    const first = (await this.read(organizationId, subject, 0, 100, now)).frames[0];
    const latestSeq = Number(latest ?? 0);
    // Frames past their time but not yet dropped are not counted.
    return { latestSeq, kept: first ? Math.min(length, latestSeq - first.seq + 1) : 0, oldestKeptSeq: first?.seq ?? null };
  }
}

/** The seq of a frame as `SubjectStreams` publishes it, read without parsing the whole frame. */
export function seqOfFrame(frame: string): number {
  const start = frame.indexOf('"seq":') + 6;
  return Number.parseInt(frame.slice(start, frame.indexOf(',', start)), 10);
}
