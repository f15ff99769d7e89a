import type { Attempt, Delivery } from '@dispatch/db';

export function deliveryView(delivery: Delivery) {
  return {
    id: delivery.id,
    eventId: delivery.eventId,
    destinationId: delivery.destinationId,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
    lastError: delivery.lastError,
    lastStatusCode: delivery.lastStatusCode,
    failureCategory: delivery.failureCategory,
    createdAt: delivery.createdAt.toISOString(),
    updatedAt: delivery.updatedAt.toISOString(),
  };
}

export function attemptView(attempt: Attempt) {
  return {
    number: attempt.number,
    trigger: attempt.trigger,
    startedAt: attempt.startedAt.toISOString(),
    durationMs: attempt.durationMs,
    outcome: attempt.outcome,
    statusCode: attempt.statusCode,
    responseBody: attempt.responseBody,
    error: attempt.error,
  };
}
