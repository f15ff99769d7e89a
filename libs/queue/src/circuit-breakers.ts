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

/**
 * Counts attempts (ARGV: successes, failures, now ms, bucket width ms, ms a closed circuit is
 * kept): the successes first, then the failures, so a failure that follows successes starts a
 * new streak. Reads the window's buckets with one HMGET.
 */
const RECORD = `
local key = KEYS[1]
local successes = tonumber(ARGV[1])
local failures = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local width = tonumber(ARGV[4])
local n = ${CIRCUIT_WINDOW_BUCKETS}
local state = redis.call('HMGET', key, 'c', 'g', 'w')
local circuit = state[1] or 'closed'
local generation = tonumber(state[2] or '0')
if state[3] ~= ARGV[4] then
  for i = 0, n - 1 do redis.call('HDEL', key, 'k' .. i, 'a' .. i, 'f' .. i) end
  redis.call('HSET', key, 'w', ARGV[4])
end
local consecutive = 0
if successes > 0 then redis.call('HSET', key, 'cf', failures) consecutive = failures
elseif failures > 0 then consecutive = redis.call('HINCRBY', key, 'cf', failures) end
local bucket = math.floor(now / width)
local slot = bucket % n
if tonumber(redis.call('HGET', key, 'k' .. slot) or '-1') ~= bucket then
  redis.call('HSET', key, 'k' .. slot, bucket, 'a' .. slot, 0, 'f' .. slot, 0)
end
redis.call('HINCRBY', key, 'a' .. slot, successes + failures)
if failures > 0 then redis.call('HINCRBY', key, 'f' .. slot, failures) end
local fields = {}
for i = 0, n - 1 do
  fields[#fields + 1] = 'k' .. i
  fields[#fields + 1] = 'a' .. i
  fields[#fields + 1] = 'f' .. i
end
local values = redis.call('HMGET', key, unpack(fields))
local attempts, failed = 0, 0
for i = 0, n - 1 do
  if tonumber(values[i * 3 + 1] or '-1') > bucket - n then
    attempts = attempts + tonumber(values[i * 3 + 2] or '0')
    failed = failed + tonumber(values[i * 3 + 3] or '0')
  end
end
if circuit == 'closed' then redis.call('PEXPIRE', key, ARGV[5]) end
return { circuit, generation, consecutive, attempts, failed }
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
  dispatchCircuitRecord(key: string, successes: number, failures: number, now: number, width: number, keptMs: number): Promise<[string, number, number, number, number]>;
  dispatchCircuitTransition(key: string, from: string, generation: number, to: string, now: number, keptMs: number): Promise<number>;
  dispatchCircuitProbe(key: string, max: number): Promise<[number, string]>;
};

/**
 * The circuits of every destination, shared by all API and worker processes through Redis.
 * Each destination's circuit is one hash in its queue's hash-tag slot, changed atomically by a
 * small script per step; the decisions (when to open, to half-open, to close) are the pure
 * functions of `CircuitBreaker` in @dispatch/domain. Counting costs one round trip (`record`)
 * for a failed attempt, and one for the successes a worker process counts together (see
 * `DestinationCircuits`); a transition two more, and only the process whose compare-and-set
 * wins acts on it.
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

  /**
   * Counts attempts in the window of `windowMs`: `successes` made before `failures` (throttled
   * attempts are not counted). The state after them comes back.
   */
  async record(destinationId: string, counts: { successes: number; failures: number }, windowMs: number, now = Date.now()): Promise<CircuitSnapshot> {
    const width = Math.max(1, Math.floor(windowMs / CIRCUIT_WINDOW_BUCKETS));
    const [circuit, generation, consecutiveFailures, windowAttempts, windowFailures] = await this.redis.dispatchCircuitRecord(
      this.key(destinationId),
      counts.successes,
      counts.failures,
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
