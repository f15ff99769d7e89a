export const DELIVERY_STATUSES = ['pending', 'delivering', 'retrying', 'delivered', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * The moves a delivery may make. `pending` waits for its first attempt (or for a paused
 * destination), `delivering` is an attempt in flight, `retrying` waits for the next scheduled
 * attempt, `failed` is a dead letter, `cancelled` will never be sent.
 * - delivering → delivering: the attempt is made again after its worker died mid-way;
 * - failed → delivering: the dead letter's job was retried from Bull Board;
 * - → pending from a settled status: an operator asked for a new attempt (retry, replay).
 */
const TRANSITIONS: Readonly<Record<DeliveryStatus, readonly DeliveryStatus[]>> = {
  pending: ['delivering', 'cancelled'],
  delivering: ['delivering', 'delivered', 'retrying', 'failed'],
  retrying: ['delivering', 'pending', 'cancelled'],
  delivered: ['pending'],
  failed: ['delivering', 'pending', 'cancelled'],
  cancelled: ['pending'],
};

export function canTransition(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The statuses from which a delivery may move to `to`. */
export function statusesThatCanBecome(to: DeliveryStatus): DeliveryStatus[] {
  return DELIVERY_STATUSES.filter((from) => canTransition(from, to));
}

/** An operator may ask for a new attempt unless one is in flight. */
export function manualRetryAllowed(status: DeliveryStatus): boolean {
  return status === 'pending' || canTransition(status, 'pending');
}
