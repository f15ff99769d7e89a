/**
 * Every destination has its own BullMQ queue. Its name is the destination id in braces, a
 * Redis Cluster hash tag, so all keys of one queue live in one slot:
 * `<prefix>:{<destination id>}:wait`, `…:delayed`, `…:failed`, and so on.
 */
export function destinationQueueName(destinationId: string): string {
  return `{${destinationId}}`;
}

/** Pub/sub channel on which enqueuers tell workers that a destination has new work. */
export function wakeChannel(prefix: string): string {
  return `${prefix}:wake`;
}

/** Pub/sub channel on which the API tells workers that a destination's settings changed. */
export function changedChannel(prefix: string): string {
  return `${prefix}:destination-changed`;
}

/** The queue of Dispatch's own periodic work (the reconciler). */
export const MAINTENANCE_QUEUE = '{maintenance}';

/**
 * A key of a destination's queue, named as BullMQ names its own (`meta`, `limiter`), or one of
 * Dispatch's beside them: in the queue's hash-tag slot, so one script may use them together.
 */
export function destinationKey(prefix: string, destinationId: string, suffix: string): string {
  return `${prefix}:${destinationQueueName(destinationId)}:${suffix}`;
}

/** A destination's circuit breaker state (`CircuitBreakers`): in its queue's hash-tag slot. */
export function circuitKey(prefix: string, destinationId: string): string {
  return destinationKey(prefix, destinationId, 'circuit');
}

/** The destinations whose circuit is not closed (a hash: destination id → circuit). */
export function circuitsKey(prefix: string): string {
  return `${prefix}:circuits`;
}

/** Pub/sub channel on which a circuit's transition is announced to every process (`<destination id> <circuit>`). */
export function circuitChannel(prefix: string): string {
  return `${prefix}:circuit`;
}
