import type { DestinationRecord } from '@dispatch/db';
import { findKind, maskedConfig } from '@dispatch/destinations';
import { storedCircuitBreaker, storedRateLimit } from '@dispatch/domain';
import type { HealthSummary } from './destination-health';

export type DestinationView = ReturnType<typeof destinationView>;

/**
 * A destination as the API shows it, to every role: never with its signing secrets, every credential of its config `"********"`;
 * with `health` (`{ status, circuit }`) where the answer carries it (the list and a single destination).
 */
export function destinationView(destination: DestinationRecord, health?: HealthSummary) {
  return {
    id: destination.id,
    name: destination.name,
    kind: destination.kind,
    config: maskedConfig(findKind(destination.kind), destination.config),
    eventTypes: destination.eventTypes,
    enabled: destination.enabled,
    disabledReason: destination.disabledReason,
    disabledAt: destination.disabledAt?.toISOString() ?? null,
    paused: destination.paused,
    rateLimit: storedRateLimit(destination),
    circuitBreaker: storedCircuitBreaker(destination.circuitBreaker),
    retryPolicy: destination.retryPolicy,
    ordering: destination.ordering,
    createdAt: destination.createdAt.toISOString(),
    updatedAt: destination.updatedAt.toISOString(),
    ...(health ? { health } : {}),
  };
}
