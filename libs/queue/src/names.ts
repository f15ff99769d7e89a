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
