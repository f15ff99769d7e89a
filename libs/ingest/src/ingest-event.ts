import { Injectable, Logger } from '@nestjs/common';
import { Batcher, DestinationRepository, EventRepository, FileRepository, Ingest, IngestResult, Prisma, RoutableDestination } from '@dispatch/db';
import { FieldProblem, matchesAnyEventType, newId } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';
import {
  Context,
  contextWith,
  currentContext,
  DispatchAttributes,
  endSpan,
  inSpan,
  ROOT_CONTEXT,
  sharedSpan,
  Span,
  SpanKind,
  spanIn,
  startSpan,
  traceIdOf,
} from '@dispatch/telemetry';
import type { IngestEventInput } from './event-schema';
import { InvalidEvent } from './invalid-event';
import { RoutingTable } from './routing-table';

const ENQUEUE_TIMEOUT_MS = 2_000;

/** One event to accept for an organization, its id already chosen. */
export type IngestRequest = { organizationId: string; id: string; input: IngestEventInput };

/** One accepted request on its way to the database and the queues; `trace`: the context of its `ingest event` span. */
type PendingIngest = Ingest & { targets: RoutableDestination[]; trace: Context };

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
 *
 * When tracing, each event has an `ingest event` span whose trace id the event keeps
 * (`traceId`): the child of the request's span for `POST /v1/events`, a trace of its own
 * (linked to the request's span) for each event of a batch or of the ingest stream, so that
 * its deliveries' attempts are its own. The statement is an `INSERT events` span: the child of
 * the event's span when it writes that event alone, else linked to each event's span (and the
 * child of the batch's request, or of nothing for events of several requests).
 */
@Injectable()
export class IngestEvent {
  private readonly logger = new Logger(IngestEvent.name);
  /** Set while Redis is unreachable, so the outage is logged once rather than per event. */
  private redisDown = false;
  private readonly pending = new Batcher<PendingIngest, IngestResult>((batch, callers) => this.write(batch, callers));

  constructor(
    private readonly destinations: DestinationRepository,
    private readonly routing: RoutingTable,
    private readonly events: EventRepository,
    private readonly queues: DeliveryQueues,
    private readonly files: FileRepository,
  ) {}

  /** Accepts one event; its id is the body's, else `idempotencyKey`, else a new one. Throws InvalidEvent naming `destinations.N` for an unknown destination. */
  async execute(organizationId: string, input: IngestEventInput, idempotencyKey: string | undefined): Promise<IngestResult> {
    const id = input.id ?? idempotencyKey ?? newId('evt');
    return inSpan(INGEST_SPAN, { attributes: eventAttributes(organizationId, id, input.type) }, async (span) => {
      const [route] = await this.route(organizationId, [input], () => '');
      if (route instanceof InvalidEvent) throw route;
      return this.pending.submit(this.prepare({ organizationId, id, input }, route, span));
    });
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
    const requests = inputs.map((input) => ({ organizationId, id: input.id ?? newId('evt'), input }));
    const spans = requests.map(startEventTrace);
    try {
      const batch = requests.map((request, index) => this.prepare(request, routes[index] as RoutableDestination[], spans[index]));
      const results = await sharedSpan(
        WRITE_SPAN,
        batch.map(({ trace }) => trace),
        { kind: SpanKind.CLIENT, parent: currentContext(), attributes: writeAttributes(batch.length) },
        () => this.events.ingestAll(batch),
      );
      await this.enqueueCreated(batch, results);
      spans.forEach((span) => endSpan(span));
      return results;
    } catch (error) {
      spans.forEach((span) => endSpan(span, error));
      throw error;
    }
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
      return route instanceof InvalidEvent ? [] : [{ index, ingest: this.prepare(request, route, startEventTrace(request)) }];
    });
    if (writable.length === 0) return answers;
    const batch = writable.map(({ ingest }) => ingest);
    try {
      const results = await this.write(
        batch,
        batch.map(({ trace }) => trace),
      );
      writable.forEach(({ index }, position) => (answers[index] = results[position]));
      results.forEach((result, position) => endSpan(spanIn(batch[position].trace), result instanceof Error ? result : undefined));
      return answers;
    } catch (error) {
      batch.forEach((ingest) => endSpan(spanIn(ingest.trace), error));
      throw error;
    }
  }

  /** `span`: the event's `ingest event` span, whose trace the event keeps. */
  private prepare({ organizationId, id, input }: IngestRequest, targets: RoutableDestination[], span: Span): PendingIngest {
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
        traceId: traceIdOf(span),
      },
      planned: targets.map((destination) => ({ id: newId('dlv'), destinationId: destination.id, ordered: destination.ordering === 'key' })),
      targets,
      trace: contextWith(span, ROOT_CONTEXT),
    };
  }

  /** Writes events each on its own in one statement (see `sharedSpan` for its span), then enqueues the deliveries of those that were new. */
  private async write(batch: readonly PendingIngest[], callers: readonly Context[]): Promise<(IngestResult | Error)[]> {
    const results = await sharedSpan(WRITE_SPAN, callers, { kind: SpanKind.CLIENT, attributes: writeAttributes(batch.length) }, () => this.events.ingestMany(batch));
    await this.enqueueCreated(batch, results);
    return results;
  }

  /** Queues the deliveries of the events of a write that were new. */
  private async enqueueCreated(batch: readonly PendingIngest[], results: readonly (IngestResult | Error)[]): Promise<void> {
    const created = batch.flatMap(({ targets, trace }, index) => {
      const result = results[index];
      return result instanceof Error || !result.created ? [] : [{ result, targets, trace }];
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

  private async enqueue(created: { result: IngestResult; targets: RoutableDestination[]; trace: Context }[]): Promise<void> {
    if (!this.queues.connected) {
      if (!this.redisDown) this.logger.warn('Redis is unreachable: events are accepted and the reconciler will enqueue their deliveries');
      this.redisDown = true;
      return;
    }
    this.redisDown = false;
    const requests = created.flatMap(({ result, targets, trace }) => {
      const byId = new Map(targets.map((destination) => [destination.id, destination]));
      return result.deliveries.flatMap((delivery) => {
        const destination = byId.get(delivery.destinationId);
        if (!destination?.enabled) return [];
        return [{ deliveryId: delivery.id, destinationId: destination.id, attempts: destination.maxAttempts, priority: result.event.priority, trace }];
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

/** The span of an event's ingest, whose trace the event keeps. */
const INGEST_SPAN = 'ingest event';
/** The span of the statement that writes events and their deliveries. */
const WRITE_SPAN = 'INSERT events';

function eventAttributes(organizationId: string, id: string, type: string) {
  return { [DispatchAttributes.organizationId]: organizationId, [DispatchAttributes.eventId]: id, [DispatchAttributes.eventType]: type };
}

/** What a trace says of the statement writing `count` events (and their deliveries). */
function writeAttributes(count: number) {
  return {
    'db.system.name': 'postgresql',
    'db.operation.name': 'INSERT',
    'db.collection.name': 'events',
    ...(count > 1 ? { 'db.operation.batch.size': count } : {}),
    [DispatchAttributes.eventCount]: count,
  };
}

/** An `ingest event` span starting a trace of the event's own, linked to the span active now (a batch's request), if any. */
function startEventTrace({ organizationId, id, input }: IngestRequest): Span {
  return startSpan(INGEST_SPAN, { newTrace: true, attributes: eventAttributes(organizationId, id, input.type) });
}

/** The uploaded file an event's data names (`data.fileId`), which file kinds deliver. */
function fileIdOf(data: unknown): string | undefined {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const fileId = (data as { fileId?: unknown }).fileId;
  return typeof fileId === 'string' ? fileId : undefined;
}
