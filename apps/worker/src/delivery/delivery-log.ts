import type { ClaimedDelivery } from '@dispatch/db';

/**
 * The fields of every log line about a delivery (see README, "Operating it"): its organization,
 * event, delivery and destination, the attempt's number (and id once it is recorded), and the
 * event's correlation id when it has one.
 */
export type DeliveryLogFields = {
  organizationId: string;
  eventId: string;
  deliveryId: string;
  destinationId: string;
  attemptNumber: number;
  attemptId?: string;
  correlationId?: string;
};

/** The log fields of a claimed delivery's attempt. */
export function deliveryFields(claimed: ClaimedDelivery, attemptId?: string): DeliveryLogFields {
  return {
    organizationId: claimed.organizationId,
    eventId: claimed.eventId,
    deliveryId: claimed.id,
    destinationId: claimed.destinationId,
    attemptNumber: claimed.attemptNumber,
    ...(attemptId === undefined ? {} : { attemptId }),
    ...(claimed.correlationId === null ? {} : { correlationId: claimed.correlationId }),
  };
}

/** The log fields of a job not claimed yet: what its destination and its data say. */
export function jobFields(
  destination: { id: string; organizationId: string },
  deliveryId: string,
): Pick<DeliveryLogFields, 'organizationId' | 'deliveryId' | 'destinationId'> {
  return { organizationId: destination.organizationId, deliveryId, destinationId: destination.id };
}
