import { Injectable, Logger } from '@nestjs/common';
import { DestinationRepository } from '@dispatch/db';
import { AttemptObserver, AttemptObservers, AttemptReport } from '../delivery/attempt-observers';
import { destinationSummary, OperationalEvents } from '@dispatch/ingest';

/** A destination whose receiver said gone is announced once in this time by one process (its attempts in flight may all answer 410). */
const ANNOUNCED_FOR_MS = 60_000;

/**
 * Tells the organization, as a `dispatch.destination.disabled` event, that a destination was
 * disabled because its receiver answered gone (`410 Gone`): the attempt that learned it disabled
 * the destination in the same commit as its record, and this observer hears of the attempt
 * after that. The event goes to the destinations subscribed to it, never to the one disabled.
 */
@Injectable()
export class GoneDestinations implements AttemptObserver {
  private readonly logger = new Logger(GoneDestinations.name);
  private readonly announced = new Map<string, number>();

  constructor(
    private readonly destinations: DestinationRepository,
    private readonly events: OperationalEvents,
    observers: AttemptObservers,
  ) {
    observers.subscribe(this);
  }

  attempted(report: AttemptReport): void {
    if (report.outcome.kind !== 'gone') return;
    const now = Date.now();
    const destinationId = report.destination.id;
    if ((this.announced.get(destinationId) ?? 0) > now - ANNOUNCED_FOR_MS) return;
    this.announced.set(destinationId, now);
    for (const [id, at] of this.announced) if (at <= now - ANNOUNCED_FOR_MS) this.announced.delete(id);
    void this.announce(destinationId, report.delivery.id, report.delivery.attemptNumber).catch((error: Error) =>
      this.logger.warn(`Destination ${destinationId} was disabled (gone); its dispatch.destination.disabled event could not be written: ${error.message}`),
    );
  }

  /** Emits the event, if the destination is still disabled; its id is that of the attempt that learned it. */
  async announce(destinationId: string, deliveryId: string, attemptNumber: number): Promise<void> {
    const destination = await this.destinations.findById(destinationId);
    if (!destination || destination.enabled) return;
    await this.events.emit(
      destination.organizationId,
      'dispatch.destination.disabled',
      { destination: destinationSummary(destination), disabledAt: destination.updatedAt.toISOString(), reason: destination.disabledReason },
      { aboutDestinationId: destination.id, id: `${destination.id}.disabled.${deliveryId}.${attemptNumber}` },
    );
  }
}
