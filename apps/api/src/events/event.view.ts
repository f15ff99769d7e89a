import type { Event, IngestResult } from '@dispatch/db';

export function eventView(event: Event) {
  return {
    id: event.id,
    type: event.type,
    source: event.source,
    data: event.data,
    orderingKey: event.orderingKey,
    priority: event.priority,
    correlationId: event.correlationId,
    tags: event.tags,
    receivedAt: event.receivedAt.toISOString(),
  };
}

/** The answer to an ingest: the event id and its deliveries (the same for a repeated id). */
export function acceptedView({ event, deliveries }: IngestResult) {
  return { id: event.id, type: event.type, deliveries };
}
