import { adaptiveRateAt, AdaptiveRateState, RateLimitSettings, slowedDown } from '@dispatch/domain';
import type { RedisConnection } from './connection';
import { destinationKey } from './names';

/*
 * An adaptive destination's lowered rate is enforced by BullMQ itself: its queue's meta hash
 * (`<prefix>:{<destination id>}:meta`) gets `max` (and `duration`), the queue's global rate
 * limit, which BullMQ's Lua scripts use instead of the Worker's `limiter.max` whenever they
 * fetch a job, in every worker process. A job over the rate is never fetched, so it uses up no
 * attempt; it waits in the queue. Back at `max`, the fields are removed and the Worker's own
 * limiter applies again. The state (`rate`, `changedAt`) is a hash beside it,
 * `<prefix>:{<destination id>}:adaptive-rate`: both in the queue's Redis Cluster slot.
 */

/**
 * Changes the state only if nobody changed it since it was read (ARGV[1]: `changedAt` read, ''
 * for none), so two processes never undo each other's step. ARGV[2]: 'lower' (ARGV[3] rate,
 * ARGV[4] changedAt, ARGV[5] duration), 'climb' (ARGV[3] the rate now, ARGV[5] duration), or
 * 'clear'. Returns 1 when applied.
 */
const APPLY = `
local stored = redis.call('HGET', KEYS[1], 'changedAt') or ''
if stored ~= ARGV[1] then return 0 end
if ARGV[2] == 'clear' then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], 'max', 'duration')
elseif ARGV[2] == 'lower' then
  redis.call('HSET', KEYS[1], 'rate', ARGV[3], 'changedAt', ARGV[4])
  redis.call('HSET', KEYS[2], 'max', ARGV[3], 'duration', ARGV[5])
else
  redis.call('HSET', KEYS[2], 'max', ARGV[3], 'duration', ARGV[5])
end
return 1
`;

/**
 * Counts one test send against the destination's limit, the same counter BullMQ's limiter
 * keeps for its worker (`<prefix>:{<destination id>}:limiter`, with the lowered `max` of an
 * adaptive rate when there is one). Returns 0 when counted, else the ms until the window ends.
 * ARGV: max, duration.
 */
const TAKE = `
local max = tonumber(redis.call('HGET', KEYS[2], 'max') or ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= max then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  redis.call('DEL', KEYS[1])
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

type Limit = Pick<RateLimitSettings, 'max' | 'durationMs'>;

/**
 * The shared rate of adaptive destinations (AIMD, see `slowedDown` and `adaptiveRateAt` in
 * @dispatch/domain), and the test sends that count against a destination's rate limit.
 */
export class AdaptiveRates {
  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
  ) {}

  /**
   * The rate the destination is sent at now, in attempts per `rateLimit.durationMs`; null when
   * it has no rate limit or its limit is not adaptive. For the health view.
   */
  async currentRate(destinationId: string, rateLimit: RateLimitSettings | null, now: number = Date.now()): Promise<number | null> {
    if (!rateLimit?.adaptive) return null;
    return adaptiveRateAt(await this.read(destinationId), rateLimit, now);
  }

  /** The receiver asked to slow down: halves the rate (once per window). Returns the rate now. */
  async slowDown(destinationId: string, rateLimit: Limit, now: number = Date.now()): Promise<number> {
    const state = await this.read(destinationId);
    const lowered = slowedDown(state, rateLimit, now);
    if (!lowered) return adaptiveRateAt(state, rateLimit, now);
    const applied = await this.apply(destinationId, state, ['lower', lowered.rate, lowered.changedAt, rateLimit.durationMs]);
    return applied ? lowered.rate : adaptiveRateAt(await this.read(destinationId), rateLimit, now);
  }

  /**
   * The receiver keeps up: gives BullMQ the rate it has climbed back to, and forgets the state
   * once it is back at `max`. Returns the rate now.
   */
  async climb(destinationId: string, rateLimit: Limit, now: number = Date.now()): Promise<number> {
    const state = await this.read(destinationId);
    if (!state) return rateLimit.max;
    const rate = adaptiveRateAt(state, rateLimit, now);
    await this.apply(destinationId, state, rate >= rateLimit.max ? ['clear'] : ['climb', rate, '', rateLimit.durationMs]);
    return rate;
  }

  /** Forgets a lowered rate: the destination's rate limit changed or it was deleted. */
  async reset(destinationId: string): Promise<void> {
    await this.redis.eval(APPLY, 2, this.stateKey(destinationId), this.key(destinationId, 'meta'), (await this.read(destinationId))?.changedAt ?? '', 'clear');
  }

  /**
   * Counts a test send against the destination's rate limit (the counter its workers use).
   * Returns 0 when it may go now, else how many ms until the limit allows one.
   */
  async takeTestSend(destinationId: string, rateLimit: Limit): Promise<number> {
    const wait = await this.redis.eval(TAKE, 2, this.key(destinationId, 'limiter'), this.key(destinationId, 'meta'), rateLimit.max, rateLimit.durationMs);
    return Number(wait);
  }

  private async read(destinationId: string): Promise<AdaptiveRateState | null> {
    const [rate, changedAt] = await this.redis.hmget(this.stateKey(destinationId), 'rate', 'changedAt');
    return rate === null || changedAt === null ? null : { rate: Number(rate), changedAt: Number(changedAt) };
  }

  private async apply(destinationId: string, read: AdaptiveRateState | null, change: (string | number)[]): Promise<boolean> {
    const keys = [this.stateKey(destinationId), this.key(destinationId, 'meta')];
    return (await this.redis.eval(APPLY, 2, ...keys, read?.changedAt ?? '', ...change)) === 1;
  }

  private stateKey(destinationId: string): string {
    return this.key(destinationId, 'adaptive-rate');
  }

  private key(destinationId: string, suffix: string): string {
    return destinationKey(this.prefix, destinationId, suffix);
  }
}
