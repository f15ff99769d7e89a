import { Injectable, Logger } from '@nestjs/common';
import { AttemptObserver, AttemptObservers, AttemptReport } from './attempt-observers';
import { deliveryFields } from './delivery-log';

/**
 * A log line for each attempt, with the delivery's ids (`deliveryFields`): a dead letter (failed
 * for good, or the receiver is gone) at `warn`, an attempt to be retried at `log`, a delivered
 * one at `debug` (metrics count those; a line each would only be noise).
 */
@Injectable()
export class AttemptLog implements AttemptObserver {
  private readonly logger = new Logger('Attempt');

  constructor(observers: AttemptObservers) {
    observers.subscribe(this);
  }

  attempted({ delivery, result, outcome, attemptId }: AttemptReport): void {
    const fields = {
      ...deliveryFields(delivery, attemptId),
      outcome: outcome.kind,
      ...(result.statusCode === undefined ? {} : { statusCode: result.statusCode }),
      durationMs: result.durationMs,
    };
    const attempt = `Attempt ${delivery.attemptNumber}`;
    switch (outcome.kind) {
      case 'delivered':
        this.logger.debug({ ...fields, msg: `${attempt} delivered` });
        return;
      case 'retry':
        this.logger.log({ ...fields, retryInMs: outcome.delayMs, msg: `${attempt} failed, retried in ${formatDelay(outcome.delayMs)}: ${outcome.reason}` });
        return;
      case 'failed':
        this.logger.warn({ ...fields, msg: `${attempt} failed; the delivery is a dead letter: ${outcome.reason}` });
        return;
      case 'gone':
        this.logger.warn({ ...fields, msg: `${attempt}: the receiver is gone; the delivery is a dead letter and the destination disabled: ${outcome.reason}` });
        return;
    }
  }
}

/** 850 ms, 4 s, 2 min. */
function formatDelay(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
