import { Injectable, Logger } from '@nestjs/common';
import { DestinationRepository, EventRepository, IngestResult, Prisma, RoutableDestination } from '@dispatch/db';
import { matchesEventType, newId, OperationalEventType } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';

export { OPERATIONAL_EVENT_TYPES } from '@dispatch/domain';
export type { OperationalEventType } from '@dispatch/domain';

export type OperationalEventOptions = {
  /** The destination the event is about: it never receives the event, whatever its event types. */
  aboutDestinationId?: string | null;
  /**
   * The event id. Give one derived from what happened (`<alert id>.opened`) so that emitting
   * the same thing twice (a job run again after a crash) writes it once; without it, a new id.
   */
  id?: string;
};

/**
 * Whether a destination subscribed to `patterns` receives operational events of `type`. Only a
 * pattern that names them does (`dispatch.*`, `dispatch.alert.*`, `dispatch.alert.opened`):
 * the catch-all `*` does not, so a destination that takes every event of its producers does
 * not get Dispatch's own alerts mixed in unless it asks for them.
 */
export function subscribesToOperational(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => pattern !== '*' && matchesEventType(pattern, type));
}

/**
 * Emits Dispatch's own events about an organization (`dispatch.alert.opened|escalated|resolved`,
 * `dispatch.destination.disabled`, `dispatch.destination.circuit_opened`) as ordinary events of
 * that organization: one transaction writes the event and a pending delivery to each enabled
 * destination subscribed to it (see `subscribesToOperational`), except the destination the
 * event is about; after the commit the deliveries are enqueued. They are then delivered, signed
 * and retried like any other; if Redis cannot take the jobs now, the reconciler enqueues them
 * later. The event is written even when no destination takes it, so it shows in
 * `GET /v1/events?type=dispatch.alert.opened`.
 *
 * Usage (inject `OperationalEvents` in the worker):
 * ```ts
 * await operationalEvents.emit(organizationId, 'dispatch.destination.circuit_opened',
 *   { destination: destinationSummary(destination), openedAt }, { aboutDestinationId: destination.id });
 * ```
 * Throws when the database cannot write the event (the caller decides whether to try again);
 * never throws because Redis is down.
 */
@Injectable()
export class OperationalEvents {
  private readonly logger = new Logger(OperationalEvents.name);

  constructor(
    private readonly destinations: DestinationRepository,
    private readonly events: EventRepository,
    private readonly queues: DeliveryQueues,
  ) {}

  async emit(organizationId: string, type: OperationalEventType, data: unknown, options: OperationalEventOptions = {}): Promise<IngestResult> {
    const targets = (await this.destinations.listEnabled(organizationId)).filter(
      (destination) => destination.id !== options.aboutDestinationId && subscribesToOperational(destination.eventTypes, type),
    );
    const result = await this.events.ingest(
      {
        organizationId,
        id: options.id ?? newId('evt'),
        type,
        source: 'dispatch',
        data: JSON.parse(JSON.stringify(data ?? null)) as Prisma.InputJsonValue,
        orderingKey: null,
        priority: 0,
        correlationId: null,
        tags: [],
      },
      targets.map((destination) => ({ id: newId('dlv'), destinationId: destination.id, ordered: destination.ordering === 'key' })),
    );
    if (result.created) await this.enqueue(result, targets);
    return result;
  }

  private async enqueue(result: IngestResult, targets: readonly RoutableDestination[]): Promise<void> {
    if (!this.queues.connected || result.deliveries.length === 0) return;
    const byId = new Map(targets.map((destination) => [destination.id, destination]));
    try {
      await this.queues.enqueue(
        result.deliveries.map((delivery) => ({
          deliveryId: delivery.id,
          destinationId: delivery.destinationId,
          attempts: byId.get(delivery.destinationId)?.maxAttempts ?? 1,
          priority: 0,
        })),
      );
    } catch (error) {
      this.logger.warn(`Event ${result.event.id} (${result.event.type}) accepted; its deliveries wait for the reconciler: ${(error as Error).message}`);
    }
  }
}

/** What an operational event says of a destination: who it is, never its configuration or secrets. */
export function destinationSummary(destination: {
  id: string;
  name: string;
  kind: string;
  enabled: boolean;
  paused?: boolean;
  eventTypes: readonly string[];
  disabledReason?: string | null;
}): Record<string, unknown> {
  return {
    id: destination.id,
    name: destination.name,
    kind: destination.kind,
    enabled: destination.enabled,
    ...(destination.paused === undefined ? {} : { paused: destination.paused }),
    eventTypes: [...destination.eventTypes],
    ...(destination.disabledReason === undefined ? {} : { disabledReason: destination.disabledReason }),
  };
}
