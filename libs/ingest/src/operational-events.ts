import { Injectable, Logger } from '@nestjs/common';
import { DestinationRepository, EventRepository, Ingest, IngestResult, NewDelivery, NewEvent, Prisma, RoutableDestination } from '@dispatch/db';
import { matchesEventType, newId, OperationalEventType } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';

export type OperationalEventOptions = {
  /** The destination the event is about: it never receives the event, whatever its event types. */
  aboutDestinationId?: string | null;
  /**
   * The event id. Give one derived from what happened (`<alert id>.opened`) so that emitting
   * the same thing twice (a job run again after a crash) writes it once; without it, a new id.
   */
  id?: string;
};

/** One event of a burst given to `OperationalEvents.emitMany`. */
export type OperationalEventItem = {
  organizationId: string;
  type: OperationalEventType;
  data: unknown;
  /** As `OperationalEventOptions.id`: the same id emitted again is written once. */
  id?: string;
};

export type EmitManyOptions = {
  /**
   * Write an event only when an enabled destination of its organization subscribes to its type:
   * for events that come by the thousand (presence) and would fill the events table for nobody.
   */
  onlyWhenSubscribed?: boolean;
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
 * `dispatch.destination.disabled`, `dispatch.destination.circuit_opened`,
 * `dispatch.presence.connected|disconnected`) as ordinary events of
 * that organization: one transaction writes the event and a pending delivery to each enabled
 * destination subscribed to it (see `subscribesToOperational`), except the destination the
 * event is about; after the commit the deliveries are enqueued. They are then delivered, signed
 * and retried like any other; if Redis cannot take the jobs now, the reconciler enqueues them
 * later. The event is written even when no destination takes it, so it shows in
 * `GET /v1/events?type=dispatch.alert.opened`.
 *
 * Usage (inject `OperationalEvents`; `IngestModule` provides it, in the worker and the API):
 * ```ts
 * await operationalEvents.emit(organizationId, 'dispatch.destination.circuit_opened',
 *   { destination: destinationSummary(destination), openedAt }, { aboutDestinationId: destination.id });
 * await operationalEvents.emitMany(
 *   changes.map((change) => ({ organizationId: change.organizationId, type: 'dispatch.presence.connected', data: change.data })),
 *   { onlyWhenSubscribed: true },
 * );
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
    const result = await this.events.ingest(operationalEvent(organizationId, type, data, options.id), plan(targets));
    if (result.created) await this.enqueue([result], targets);
    return result;
  }

  /**
   * Emits a burst of events (presence: thousands of devices reconnecting) as `emit` does each,
   * with one read of the enabled destinations per organization, one statement writing every
   * event and its deliveries, and one enqueue of all the deliveries. An event whose id is
   * already written is not written again and does not fail the others; when one event cannot be
   * written, the others are, their deliveries enqueued, and then the first error is thrown.
   * With `onlyWhenSubscribed`, an event no enabled destination of its organization subscribes
   * to is left out: not written at all.
   */
  async emitMany(items: readonly OperationalEventItem[], options: EmitManyOptions = {}): Promise<void> {
    if (items.length === 0) return;
    const organizations = [...new Set(items.map((item) => item.organizationId))];
    const enabled = new Map(
      await Promise.all(organizations.map(async (organizationId) => [organizationId, await this.destinations.listEnabled(organizationId)] as const)),
    );
    const ingests: Ingest[] = [];
    const targets = new Map<string, RoutableDestination>();
    for (const item of items) {
      const subscribed = (enabled.get(item.organizationId) ?? []).filter((destination) => subscribesToOperational(destination.eventTypes, item.type));
      if (options.onlyWhenSubscribed && subscribed.length === 0) continue;
      for (const destination of subscribed) targets.set(destination.id, destination);
      ingests.push({ event: operationalEvent(item.organizationId, item.type, item.data, item.id), planned: plan(subscribed) });
    }
    if (ingests.length === 0) return;
    const results = await this.events.ingestMany(ingests);
    const created = results.filter((result): result is IngestResult => !(result instanceof Error) && result.created);
    await this.enqueue(created, [...targets.values()]);
    const failed = results.find((result): result is Error => result instanceof Error);
    if (failed) throw failed;
  }

  private async enqueue(results: readonly IngestResult[], targets: readonly RoutableDestination[]): Promise<void> {
    const deliveries = results.flatMap((result) => result.deliveries);
    if (!this.queues.connected || deliveries.length === 0) return;
    const byId = new Map(targets.map((destination) => [destination.id, destination]));
    try {
      await this.queues.enqueue(
        deliveries.map((delivery) => ({
          deliveryId: delivery.id,
          destinationId: delivery.destinationId,
          attempts: byId.get(delivery.destinationId)?.maxAttempts ?? 1,
          priority: 0,
        })),
      );
    } catch (error) {
      const accepted = results.length === 1 ? `Event ${results[0].event.id} (${results[0].event.type}) accepted; its` : `${results.length} events accepted; their`;
      this.logger.warn(`${accepted} deliveries wait for the reconciler: ${(error as Error).message}`);
    }
  }
}

/** An operational event as the repository writes it: from Dispatch, no ordering key, priority 0. */
function operationalEvent(organizationId: string, type: OperationalEventType, data: unknown, id: string | undefined): NewEvent {
  return {
    organizationId,
    id: id ?? newId('evt'),
    type,
    source: 'dispatch',
    data: JSON.parse(JSON.stringify(data ?? null)) as Prisma.InputJsonValue,
    orderingKey: null,
    priority: 0,
    correlationId: null,
    tags: [],
  };
}

/** A pending delivery to each destination. */
function plan(destinations: readonly RoutableDestination[]): NewDelivery[] {
  return destinations.map((destination) => ({ id: newId('dlv'), destinationId: destination.id, ordered: destination.ordering === 'key' }));
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
