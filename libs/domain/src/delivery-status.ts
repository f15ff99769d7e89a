export const DELIVERY_STATUSES = ['pending', 'delivering', 'retrying', 'delivered', 'failed', 'cancelled'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * The moves a delivery may make. `pending` waits for its first attempt (or for a paused
 * destination), `delivering` is an attempt in flight, `retrying` waits for the next scheduled
 * attempt, `failed` is a dead letter. Any settled delivery may be sent again by an operator.
 */
const TRANSITIONS: Readonly<Record<DeliveryStatus, readonly DeliveryStatus[]>> = {
  pending: ['delivering', 'cancelled'],
  delivering: ['delivered', 'retrying', 'failed', 'pending'],
  retrying: ['delivering', 'pending', 'cancelled'],
  delivered: ['pending', 'delivering'],
  failed: ['pending', 'delivering', 'cancelled'],
  cancelled: ['pending', 'delivering'],
};

export function canTransition(from: DeliveryStatus, to: DeliveryStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses from which a delivery is waiting for (more) attempts. */
export const OPEN_DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivering', 'retrying'];

/** Statuses a manual retry may start from: all but an attempt already in flight. */
export function manualRetryAllowed(status: DeliveryStatus): boolean {
  return status !== 'delivering';
}
