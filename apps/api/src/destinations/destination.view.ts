import type { DestinationRecord } from '@dispatch/db';
import { findKind, maskedConfig } from '@dispatch/destinations';
import { storedCircuitBreaker, storedRateLimit } from '@dispatch/domain';

export type DestinationView = ReturnType<typeof destinationView>;

/** A destination as the API shows it, to every role: never with its signing secrets, every credential of its config `"********"`. */
export function destinationView(destination: DestinationRecord) {
  return {
    id: destination.id,
    name: destination.name,
    kind: destination.kind,
    config: maskedConfig(findKind(destination.kind), destination.config),
    eventTypes: destination.eventTypes,
    enabled: destination.enabled,
    disabledReason: destination.disabledReason,
    paused: destination.paused,
    rateLimit: storedRateLimit(destination),
    circuitBreaker: storedCircuitBreaker(destination.circuitBreaker),
    retryPolicy: destination.retryPolicy,
    ordering: destination.ordering,
    createdAt: destination.createdAt.toISOString(),
    updatedAt: destination.updatedAt.toISOString(),
  };
}
