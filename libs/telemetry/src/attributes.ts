/** The attributes Dispatch adds to its spans, besides the standard ones (http, db, messaging). */
export const DispatchAttributes = {
  organizationId: 'dispatch.organization_id',
  eventId: 'dispatch.event_id',
  eventType: 'dispatch.event_type',
  deliveryId: 'dispatch.delivery_id',
  destinationId: 'dispatch.destination_id',
  destinationKind: 'dispatch.destination_kind',
  /** The attempt's number (1 for the first). */
  attempt: 'dispatch.attempt',
  /** What the attempt meant: delivered, retry, failed, gone. */
  outcome: 'dispatch.outcome',
  /** How many events one statement wrote. */
  eventCount: 'dispatch.event_count',
} as const;
