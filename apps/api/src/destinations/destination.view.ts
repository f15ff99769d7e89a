import type { DestinationRecord } from '@dispatch/db';

export type DestinationView = ReturnType<typeof destinationView>;

/** A destination as the API shows it: never with its secret. */
export function destinationView(destination: DestinationRecord) {
  return {
    id: destination.id,
    name: destination.name,
    kind: destination.kind,
    config: destination.config,
    eventTypes: destination.eventTypes,
    enabled: destination.enabled,
    disabledReason: destination.disabledReason,
    paused: destination.paused,
    rateLimit:
      destination.rateLimitMax !== null && destination.rateLimitDurationMs !== null
        ? { max: destination.rateLimitMax, durationMs: destination.rateLimitDurationMs }
        : null,
    retryPolicy: destination.retryPolicy,
    ordering: destination.ordering,
    createdAt: destination.createdAt.toISOString(),
    updatedAt: destination.updatedAt.toISOString(),
  };
}
