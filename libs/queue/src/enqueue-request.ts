import { attemptsLeft } from '@dispatch/domain';
import type { EnqueueRequest } from './delivery-queues';

/**
 * The job of a delivery: it may make the attempts its destination's retry policy has left
 * (the policy decides within them), is due at `nextAttemptAt` (now when absent), and goes by
 * its event's priority, behind the destination's first attempts when the delivery was
 * attempted before (its next attempt is a retry).
 */
export function enqueueRequest(
  delivery: { id: string; destinationId: string; attemptCount: number; priority: number; nextAttemptAt?: Date | null },
  retryPolicy: unknown,
): EnqueueRequest {
  return {
    deliveryId: delivery.id,
    destinationId: delivery.destinationId,
    attempts: attemptsLeft(retryPolicy, delivery.attemptCount),
    dueAt: delivery.nextAttemptAt ?? null,
    priority: delivery.priority,
    retry: delivery.attemptCount > 0,
  };
}
