/** A delivery job carries ids only; the processor reads everything else from the database. */
export type DeliveryJobData = { deliveryId: string };

export const DELIVERY_JOB_NAME = 'deliver';

/** Thrown by the processor to retry after a delay chosen by the retry policy. */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/**
 * The backoff strategy of every delivery worker: the delay the processor chose, or for an
 * unexpected error 1 s doubling per attempt, at most a minute.
 */
export function deliveryBackoff(attemptsMade: number, _type?: string, error?: Error): number {
  if (error instanceof RetryLaterError) return error.delayMs;
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
}
