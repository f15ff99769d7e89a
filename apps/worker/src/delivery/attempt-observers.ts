import { Injectable, Logger } from '@nestjs/common';
import type { ClaimedDelivery } from '@dispatch/db';
import type { DestinationSettings, SendResult } from '@dispatch/destinations';
import type { AttemptOutcome } from '@dispatch/domain';

/** One attempt and its outcome (recorded by then, except a delivered attempt of an unordered destination, whose record is written behind it). */
export type AttemptReport = {
  destination: DestinationSettings;
  delivery: ClaimedDelivery;
  /** The id of the attempt's record. */
  attemptId: string;
  result: SendResult;
  outcome: AttemptOutcome;
};

/** Something that wants to know about every attempt (metrics, the supervisor, breakers, alerts, the attempt's log line). */
export interface AttemptObserver {
  attempted(report: AttemptReport): void;
}

/** Where observers subscribe; the processor tells them about each attempt and never changes for them. */
@Injectable()
export class AttemptObservers {
  private readonly logger = new Logger(AttemptObservers.name);
  private readonly observers: AttemptObserver[] = [];

  subscribe(observer: AttemptObserver): void {
    this.observers.push(observer);
  }

  /** Tells every observer; one that throws is logged and does not stop the others or the job. */
  notify(report: AttemptReport): void {
    for (const observer of this.observers) {
      try {
        observer.attempted(report);
      } catch (error) {
        this.logger.error(`An attempt observer failed: ${(error as Error).message}`);
      }
    }
  }
}
