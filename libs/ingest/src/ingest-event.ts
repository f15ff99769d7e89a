import { Injectable, Logger } from '@nestjs/common';
import { Batcher, DestinationRepository, EventRepository, FileRepository, Ingest, IngestResult, Prisma, RoutableDestination } from '@dispatch/db';
import { FieldProblem, matchesAnyEventType, newId } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';
import type { IngestEventInput } from './event-schema';
import { InvalidEvent } from './invalid-event';
import { RoutingTable } from './routing-table';

const ENQUEUE_TIMEOUT_MS = 2_000;

/** One event to accept for an organization, its id already chosen. */
export type IngestRequest = { organizationId: string; id: string; input: IngestEventInput };

/** One accepted request on its way to the database and the queues. */
type PendingIngest = Ingest & { targets: RoutableDestination[] };

/** Where an event goes, or what about it is wrong. */
type Route = RoutableDestination[] | InvalidEvent;

/**
 * Accepts events, however they arrive (`POST /v1/events`, a batch, the ingest stream): one
 * transaction writes each event and a pending delivery per destination; after the commit each
 * delivery is enqueued on its destination's queue. The same id again returns what was accepted
 * the first time. If Redis cannot take the jobs now, the event is still accepted: the worker's
 * reconciler enqueues its deliveries when Redis is back.
 *
 * Events that arrive while earlier ones are being written are written together, in one
 * statement, and their jobs added in one Redis round trip: under load many requests share a
 * commit; a lone request goes at once. A batch is written in one statement of its own.
 */
@Injectable()
export class IngestEvent {
  private readonly logger = new Logger(IngestEvent.name);
  /** Set while Redis is unreachable, so the outage is logged once rather than per event. */
  private redisDown = false;
  private readonly pending = new Batcher<PendingIngest, IngestResult>((batch) => this.write(batch));

  constructor(
    private readonly destinations: DestinationRepository,
    private readonly routing: RoutingTable,
    private readonly events: EventRepository,
    private readonly queues: DeliveryQueues,
    private readonly files: FileRepository,
  ) {}

  /** Accepts one event; its id is the body's, else `idempotencyKey`, else a new one. Throws InvalidEvent naming `destinations.N` for an unknown destination. */
  async execute(organizationId: string, input: IngestEventInput, idempotencyKey: string | undefined): Promise<IngestResult> {
    const [route] = await this.route(organizationId, [input], () => '');
    if (route instanceof InvalidEvent) throw route;
    return this.pending.submit(this.prepare({ organizationId, id: input.id ?? idempotencyKey ?? newId('evt'), input }, route));
  }

  /**
   * Accepts the events of a batch, in one transaction: all of them or none. Routing is checked
   * for all before anything is written (an unknown destination is an InvalidEvent naming
   * `events.N.destinations.M`). An event without an id gets one made; an id that comes again
   * in the batch, or was accepted before, answers the event as first accepted. One result per
   * event, in order.
   */
  async executeBatch(organizationId: string, inputs: readonly IngestEventInput[]): Promise<IngestResult[]> {
    const routes = await this.route(organizationId, inputs, (index) => `events.${index}.`);
    const problems = routes.flatMap((route) => (route instanceof InvalidEvent ? route.problems : []));
    if (problems.length > 0) throw new InvalidEvent(problems);
    const batch = inputs.map((input, index) => this.prepare({ organizationId, id: input.id ?? newId('evt'), input }, routes[index] as RoutableDestination[]));
    const results = await this.events.ingestAll(batch);
    await this.enqueueCreated(batch, results);
    return results;
  }

  /**
   * Accepts events of any organizations each on its own, in one statement, in the order given
   * (deliveries ordered by key are numbered in that order). One answer per request, in order: the
   * result, an InvalidEvent (an unknown destination: never acceptable as sent), or the error
   * the database gave for that event alone. Throws, having written nothing, when the database
   * cannot be reached.
   */
  async executeEach(requests: readonly IngestRequest[]): Promise<(IngestResult | Error)[]> {
    const routes: Route[] = new Array(requests.length);
    const byOrganization = new Map<string, number[]>();
    requests.forEach((request, index) => byOrganization.set(request.organizationId, [...(byOrganization.get(request.organizationId) ?? []), index]));
    for (const [organizationId, indexes] of byOrganization) {
      const found = await this.route(
        organizationId,
        indexes.map((index) => requests[index].input),
        () => '',
      );
      indexes.forEach((index, position) => (routes[index] = found[position]));
    }
    const answers: (IngestResult | Error)[] = routes.map((route) => (route instanceof InvalidEvent ? route : new Error('not written')));
    const writable = requests.flatMap((request, index) => {
      const route = routes[index];
      return route instanceof InvalidEvent ? [] : [{ index, ingest: this.prepare(request, route) }];
    });
    if (writable.length === 0) return answers;
    const batch = writable.map(({ ingest }) => ingest);
    const results = await this.events.ingestMany(batch);
    await this.enqueueCreated(batch, results);
    writable.forEach(({ index }, position) => (answers[index] = results[position]));
    return answers;
  }

  private prepare({ organizationId, id, input }: IngestRequest, targets: RoutableDestination[]): PendingIngest {
    return {
      event: {
        organizationId,
        id,
        type: input.type,
        source: input.source ?? null,
        data: input.data as Prisma.InputJsonValue,
        orderingKey: input.orderingKey ?? null,
        priority: input.priority,
        correlationId: input.correlationId ?? null,
        tags: input.tags,
      },
      planned: targets.map((destination) => ({ id: newId('dlv'), destinationId: destination.id, ordered: destination.ordering === 'key' })),
      targets,
    };
  }

  private async write(batch: PendingIngest[]): Promise<(IngestResult | Error)[]> {
    const results = await this.events.ingestMany(batch);
    await this.enqueueCreated(batch, results);
    return results;
  }

  /** Queues the deliveries of the events of a write that were new. */
  private async enqueueCreated(batch: readonly PendingIngest[], results: readonly (IngestResult | Error)[]): Promise<void> {
    const created = batch.flatMap(({ targets }, index) => {
      const result = results[index];
      return result instanceof Error || !result.created ? [] : [{ result, targets }];
    });
    if (created.length > 0) await this.enqueue(created);
  }

  /**
   * The destinations of each event: those it names in `destinations` (read in one query for all
   * the events), else the enabled destinations whose event types match. An event naming an
   * unknown destination gets an InvalidEvent naming `<at(index)>destinations.N` instead, and one
   * whose `data.fileId` names no file the organization uploaded, one naming `<at(index)>data.fileId`.
   */
  private async route(organizationId: string, inputs: readonly IngestEventInput[], at: (index: number) => string): Promise<Route[]> {
    const enabled = inputs.some((input) => !input.destinations) ? await this.routing.enabled(organizationId) : [];
    const named = [...new Set(inputs.flatMap((input) => input.destinations ?? []))];
    const found = named.length > 0 ? await this.destinations.findRoutable(organizationId, named) : [];
    const byId = new Map(found.map((destination) => [destination.id, destination]));
    const fileIds = inputs.map((input) => fileIdOf(input.data));
    const missingFiles = await this.files.missing(
      organizationId,
      fileIds.filter((id) => id !== undefined),
    );
    return inputs.map((input, index) => {
      const fileId = fileIds[index];
      const problems: FieldProblem[] =
        fileId !== undefined && missingFiles.has(fileId)
          ? [{ path: `${at(index)}data.fileId`, message: `unknown file "${fileId}": upload it first (POST /v1/files)` }]
          : [];
      if (!input.destinations) {
        if (problems.length > 0) return new InvalidEvent(problems);
        return enabled.filter((destination) => matchesAnyEventType(destination.eventTypes, input.type));
      }
      input.destinations.forEach((id, position) => {
        if (!byId.has(id)) problems.push({ path: `${at(index)}destinations.${position}`, message: `unknown destination "${id}"` });
      });
      if (problems.length > 0) return new InvalidEvent(problems);
      return [...new Set(input.destinations)].map((id) => byId.get(id) as RoutableDestination);
    });
  }

  private async enqueue(created: { result: IngestResult; targets: RoutableDestination[] }[]): Promise<void> {
    if (!this.queues.connected) {
      if (!this.redisDown) this.logger.warn('Redis is unreachable: events are accepted and the reconciler will enqueue their deliveries');
      this.redisDown = true;
      return;
    }
    this.redisDown = false;
    const requests = created.flatMap(({ result, targets }) => {
      const byId = new Map(targets.map((destination) => [destination.id, destination]));
      return result.deliveries.flatMap((delivery) => {
        const destination = byId.get(delivery.destinationId);
        if (!destination?.enabled) return [];
        return [{ deliveryId: delivery.id, destinationId: destination.id, attempts: destination.maxAttempts, priority: result.event.priority }];
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.queues.enqueue(requests), timeout]);
    } catch (error) {
      const events = created.map(({ result }) => result.event.id);
      this.logger.warn(
        `Events ${events.slice(0, 5).join(', ')}${events.length > 5 ? ` and ${events.length - 5} more` : ''} accepted; their deliveries wait for the reconciler: ${(error as Error).message}`,
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The uploaded file an event's data names (`data.fileId`), which file kinds deliver. */
function fileIdOf(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const fileId = (data as { fileId?: unknown }).fileId;
  return typeof fileId === 'string' ? fileId : undefined;
}
