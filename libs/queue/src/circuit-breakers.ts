import type { Circuit } from '@dispatch/domain';
import { CIRCUIT_WINDOW_BUCKETS } from '@dispatch/domain';
import type { RedisConnection } from './connection';
import { circuitChannel, circuitKey, circuitsKey } from './names';

/** A destination's circuit as the health view shows it: `openedAt` while open or half-open. */
export type CircuitReading = { circuit: Circuit; openedAt: Date | null };

/** What the breaker counted for a destination right after an attempt; `generation` changes with every transition. */
export type CircuitSnapshot = {
  circuit: Circuit;
  generation: number;
  consecutiveFailures: number;
  windowAttempts: number;
  windowFailures: number;
};

/** The stored circuit of a destination: `since` is when it last changed circuit. */
export type StoredCircuit = { circuit: Circuit; since: number; generation: number; openedAt: number | null; probesTaken: number };

/** How long a closed circuit's counts are kept after its last attempt (a destination sent nothing for a week starts afresh). */
const CLOSED_KEPT_MS = 7 * 24 * 3_600_000;

/*
 * One hash per destination, `<prefix>:{<destination id>}:circuit`, in its queue's slot:
 * c circuit, s since (ms), o opened at (ms), g generation, cf consecutive failures, p probes
 * taken while half-open, w bucket width (ms), and per window bucket i (0..9): k<i> its number,
 * a<i> attempts, f<i> failures.
 */

/** Counts one attempt (ARGV: 'success'|'failure', now ms, bucket width ms, ms a closed circuit is kept). */
const RECORD = `
local key = KEYS[1]
local now = tonumber(ARGV[2])
local width = tonumber(ARGV[3])
local n = ${CIRCUIT_WINDOW_BUCKETS}
local circuit = redis.call('HGET', key, 'c') or 'closed'
local generation = tonumber(redis.call('HGET', key, 'g') or '0')
if redis.call('HGET', key, 'w') ~= ARGV[3] then
  for i = 0, n - 1 do redis.call('HDEL', key, 'k' .. i, 'a' .. i, 'f' .. i) end
  redis.call('HSET', key, 'w', ARGV[3])
end
local failed = ARGV[1] == 'failure'
local consecutive = 0
if failed then consecutive = redis.call('HINCRBY', key, 'cf', 1) else redis.call('HSET', key, 'cf', 0) end
local bucket = math.floor(now / width)
local slot = bucket % n
if tonumber(redis.call('HGET', key, 'k' .. slot) or '-1') ~= bucket then
  redis.call('HSET', key, 'k' .. slot, bucket, 'a' .. slot, 0, 'f' .. slot, 0)
end
redis.call('HINCRBY', key, 'a' .. slot, 1)
if failed then redis.call('HINCRBY', key, 'f' .. slot, 1) end
local attempts, failures = 0, 0
for i = 0, n - 1 do
  if tonumber(redis.call('HGET', key, 'k' .. i) or '-1') > bucket - n then
    attempts = attempts + tonumber(redis.call('HGET', key, 'a' .. i) or '0')
    failures = failures + tonumber(redis.call('HGET', key, 'f' .. i) or '0')
  end
end
if circuit == 'closed' then redis.call('PEXPIRE', key, ARGV[4]) end
return { circuit, generation, consecutive, attempts, failures }
`;

/**
 * Changes the circuit if it is still `from` at `generation` (ARGV: from, generation, to, now ms,
 * ms a closed circuit is kept): of several processes that saw the same reason, one makes the
 * transition. Counts start afresh. Returns 1 when this call made it.
 */
const TRANSITION = `
local key = KEYS[1]
local circuit = redis.call('HGET', key, 'c') or 'closed'
local generation = tonumber(redis.call('HGET', key, 'g') or '0')
if circuit ~= ARGV[1] or generation ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', key, 'c', ARGV[3], 's', ARGV[4], 'g', generation + 1, 'cf', 0, 'p', 0)
for i = 0, ${CIRCUIT_WINDOW_BUCKETS} - 1 do redis.call('HDEL', key, 'k' .. i, 'a' .. i, 'f' .. i) end
if ARGV[3] == 'open' then redis.call('HSET', key, 'o', ARGV[4]) end
if ARGV[3] == 'closed' then
  redis.call('HDEL', key, 'o')
  redis.call('PEXPIRE', key, ARGV[5])
else
  redis.call('PERSIST', key)
end
return 1
`;

/** Takes one probe of a half-open circuit (ARGV: halfOpenMaxCalls). Returns { 1|0, circuit }. */
const PROBE = `
local key = KEYS[1]
local circuit = redis.call('HGET', key, 'c') or 'closed'
if circuit == 'closed' then return { 1, circuit } end
if circuit == 'half-open' and tonumber(redis.call('HGET', key, 'p') or '0') < tonumber(ARGV[1]) then
  redis.call('HINCRBY', key, 'p', 1)
  return { 1, circuit }
end
return { 0, circuit }
`;

type CircuitCommands = {
  dispatchCircuitRecord(key: string, signal: string, now: number, width: number, keptMs: number): Promise<[string, number, number, number, number]>;
  dispatchCircuitTransition(key: string, from: string, generation: number, to: string, now: number, keptMs: number): Promise<number>;
  dispatchCircuitProbe(key: string, max: number): Promise<[number, string]>;
};

/**
 * The circuits of every destination, shared by all API and worker processes through Redis.
 * Each destination's circuit is one hash in its queue's hash-tag slot, changed atomically by a
 * small script per step; the decisions (when to open, to half-open, to close) are the pure
 * functions of `CircuitBreaker` in @dispatch/domain. An attempt costs one round trip (`record`);
 * a transition two more, and only the process whose compare-and-set wins acts on it.
 *
 * Besides, `<prefix>:circuits` (a hash: destination id → circuit) lists the circuits that are
 * not closed, for the periodic scan (recovery timeouts, the metric) and for telling every
 * process. It sits in another slot, so it is written next to each transition, not with it:
 * before one that leaves `closed`, after one that returns to it, so a circuit that is not closed
 * is always listed (a listed one that is closed is dropped by the next scan).
 */
export class CircuitBreakers {
  private readonly redis: RedisConnection & CircuitCommands;

  constructor(
    redis: RedisConnection,
    private readonly prefix: string,
  ) {
    const commands = redis as RedisConnection & Partial<CircuitCommands>;
    if (!commands.dispatchCircuitRecord) {
      redis.defineCommand('dispatchCircuitRecord', { numberOfKeys: 1, lua: RECORD });
      redis.defineCommand('dispatchCircuitTransition', { numberOfKeys: 1, lua: TRANSITION });
      redis.defineCommand('dispatchCircuitProbe', { numberOfKeys: 1, lua: PROBE });
    }
    this.redis = redis as RedisConnection & CircuitCommands;
  }

  /** A destination's circuit now, and when it opened (null when closed): what its health shows. */
  async state(destinationId: string): Promise<CircuitReading> {
    const stored = await this.read(destinationId);
    return { circuit: stored.circuit, openedAt: stored.circuit === 'closed' || stored.openedAt === null ? null : new Date(stored.openedAt) };
  }

  async read(destinationId: string): Promise<StoredCircuit> {
    const [circuit, since, generation, openedAt, probes] = await this.redis.hmget(this.key(destinationId), 'c', 's', 'g', 'o', 'p');
    return {
      circuit: (circuit as Circuit | null) ?? 'closed',
      since: Number(since ?? 0),
      generation: Number(generation ?? 0),
      openedAt: openedAt === null ? null : Number(openedAt),
      probesTaken: Number(probes ?? 0),
    };
  }

  /** Counts a successful or failed attempt (throttled ones are not counted) in the window of `windowMs`. */
  async record(destinationId: string, signal: 'success' | 'failure', windowMs: number, now = Date.now()): Promise<CircuitSnapshot> {
    const width = Math.max(1, Math.floor(windowMs / CIRCUIT_WINDOW_BUCKETS));
    const [circuit, generation, consecutiveFailures, windowAttempts, windowFailures] = await this.redis.dispatchCircuitRecord(
      this.key(destinationId),
      signal,
      now,
      width,
      CLOSED_KEPT_MS,
    );
    return { circuit: circuit as Circuit, generation: Number(generation), consecutiveFailures, windowAttempts, windowFailures };
  }

  /** Moves the circuit from `from` (as read at `generation`) to `to`; false when another process changed it first. */
  async transition(destinationId: string, from: { circuit: Circuit; generation: number }, to: Circuit, now = Date.now()): Promise<boolean> {
    if (to !== 'closed') await this.redis.hset(this.registry, destinationId, to);
    const made = (await this.redis.dispatchCircuitTransition(this.key(destinationId), from.circuit, from.generation, to, now, CLOSED_KEPT_MS)) === 1;
    if (to === 'closed' && made) await this.redis.hdel(this.registry, destinationId);
    if (made) await this.redis.publish(circuitChannel(this.prefix), `${destinationId} ${to}`);
    return made;
  }

  /**
   * The circuits of several destinations (a page of them, for their health): one read of the
   * list of circuits that are not closed, then the state of each one listed (it may have closed
   * since); the others are closed.
   */
  async states(destinationIds: readonly string[]): Promise<Map<string, CircuitReading>> {
    const readings = new Map<string, CircuitReading>(destinationIds.map((id) => [id, { circuit: 'closed', openedAt: null }]));
    if (destinationIds.length === 0) return readings;
    const listed = await this.redis.hmget(this.registry, ...destinationIds);
    const notClosed = destinationIds.filter((_id, index) => listed[index] !== null);
    const states = await Promise.all(notClosed.map((id) => this.state(id)));
    notClosed.forEach((id, index) => readings.set(id, states[index]));
    return readings;
  }

  /** Lets an attempt through a half-open circuit if it has probes left (always through a closed one). */
  async probe(destinationId: string, halfOpenMaxCalls: number): Promise<{ admitted: boolean; circuit: Circuit }> {
    const [admitted, circuit] = await this.redis.dispatchCircuitProbe(this.key(destinationId), halfOpenMaxCalls);
    return { admitted: admitted === 1, circuit: circuit as Circuit };
  }

  /** The circuits listed as not closed (destination id → circuit); one may have closed since. */
  async notClosed(): Promise<Map<string, Circuit>> {
    const listed = await this.redis.hgetall(this.registry);
    return new Map(Object.entries(listed) as [string, Circuit][]);
  }

  /** Drops a listed circuit that is closed (or whose destination is gone) from the list. */
  async unlist(destinationId: string): Promise<void> {
    await this.redis.hdel(this.registry, destinationId);
  }

  /** Forgets a deleted destination's circuit. */
  async remove(destinationId: string): Promise<void> {
    await this.redis.del(this.key(destinationId));
    await this.unlist(destinationId);
  }

  private key(destinationId: string): string {
    return circuitKey(this.prefix, destinationId);
  }

  private get registry(): string {
    return circuitsKey(this.prefix);
  }
}

/** Reads a circuit notice (`<destination id> <circuit>`) published on `circuitChannel`. */
export function parseCircuitNotice(message: string): { destinationId: string; circuit: Circuit } | null {
  const [destinationId, circuit] = message.split(' ');
  if (!destinationId || (circuit !== 'closed' && circuit !== 'open' && circuit !== 'half-open')) return null;
  return { destinationId, circuit };
}
