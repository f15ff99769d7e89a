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

/** The backoff strategy of every delivery worker: the delay the processor chose. */
export function deliveryBackoff(_attemptsMade: number, _type?: string, error?: Error): number {
  return error instanceof RetryLaterError ? error.delayMs : 1000;
}
