import { Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { Batcher, DestinationRepository, EventRepository, Ingest, IngestResult, Prisma, RoutableDestination } from '@dispatch/db';
import { eventTypeProblem, matchesAnyEventType, newId, reservedEventTypeProblem } from '@dispatch/domain';
import { DeliveryQueues } from '@dispatch/queue';
import { badRequest } from '../http/errors';
import { Metrics } from '../operations/metrics';
import { RoutingTable } from './routing-table';

const ENQUEUE_TIMEOUT_MS = 2_000;

export const ingestEventSchema = z
  .object({
    id: z.string().trim().min(1).max(255).optional(),
    type: z
      .string()
      .min(1)
      .max(255)
      .superRefine((type, ctx) => {
        const problem = eventTypeProblem(type) ?? reservedEventTypeProblem(type);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    source: z.string().max(255).optional(),
    // Any JSON value (the body was parsed as JSON), but it must be there.
    data: z.unknown().refine((value) => value !== undefined, 'is required'),
    destinations: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
    orderingKey: z.string().min(1).max(255).optional(),
    priority: z.number().int().min(0).max(10).default(0),
    correlationId: z.string().max(255).optional(),
    tags: z.array(z.string().min(1).max(100)).max(20).default([]),
  })
  .strict();

export type IngestEventInput = z.output<typeof ingestEventSchema>;

/** The most events one `POST /v1/events/batch` may carry. */
export const MAX_BATCH_EVENTS = 500;

export const ingestBatchSchema = z.object({ events: z.array(ingestEventSchema).min(1).max(MAX_BATCH_EVENTS) }).strict();

/** One accepted request on its way to the database and the queues. */
type PendingIngest = Ingest & { targets: RoutableDestination[] };

/**
 * Accepts an event: one transaction writes it and a pending delivery per destination; after
 * the commit each delivery is enqueued on its destination's queue. The same id again returns
 * what was accepted the first time. If Redis cannot take the jobs now, the event is still
 * accepted: the worker's reconciler enqueues its deliveries when Redis is back.
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
    private readonly metrics: Metrics,
  ) {}

  async execute(organizationId: string, input: IngestEventInput, idempotencyKey: string | undefined): Promise<IngestResult> {
    const [targets] = await this.route(organizationId, [input], () => '');
    const result = await this.pending.submit(this.prepare(organizationId, input.id ?? idempotencyKey ?? newId('evt'), input, targets));
    this.metrics.eventsReceived.inc();
    return result;
  }

  /**
   * Accepts the events of a batch, in one transaction: all of them or none. Routing is checked
   * for all before anything is written (an unknown destination is a 400 naming
   * `events.N.destinations.M`). An event without an id gets one made; an id that comes again
   * in the batch, or was accepted before, answers the event as first accepted. One result per
   * event, in order.
   */
  async executeBatch(organizationId: string, inputs: readonly IngestEventInput[]): Promise<IngestResult[]> {
    const routes = await this.route(organizationId, inputs, (index) => `events.${index}.`);
    const batch = inputs.map((input, index) => this.prepare(organizationId, input.id ?? newId('evt'), input, routes[index]));
    const results = await this.events.ingestAll(batch);
    this.metrics.eventsReceived.inc(results.length);
    await this.enqueueCreated(batch, results);
    return results;
  }

  private prepare(organizationId: string, id: string, input: IngestEventInput, targets: RoutableDestination[]): PendingIngest {
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

  /** Counts the events of a write that were new and queues their deliveries. */
  private async enqueueCreated(batch: readonly PendingIngest[], results: readonly (IngestResult | Error)[]): Promise<void> {
    const created = batch.flatMap(({ targets }, index) => {
      const result = results[index];
      return result instanceof Error || !result.created ? [] : [{ result, targets }];
    });
    if (created.length > 0) {
      this.metrics.eventsAccepted.inc(created.length);
      await this.enqueue(created);
    }
  }

  /**
   * The destinations of each event: those it names in `destinations` (read in one query for all
   * the events), else the enabled destinations whose event types match. An unknown destination
   * is a 400 naming `<at(index)>destinations.N`; nothing is written.
   */
  private async route(organizationId: string, inputs: readonly IngestEventInput[], at: (index: number) => string): Promise<RoutableDestination[][]> {
    const enabled = inputs.some((input) => !input.destinations) ? await this.routing.enabled(organizationId) : [];
    const named = [...new Set(inputs.flatMap((input) => input.destinations ?? []))];
    const found = named.length > 0 ? await this.destinations.findRoutable(organizationId, named) : [];
    const byId = new Map(found.map((destination) => [destination.id, destination]));
    const missing = inputs.flatMap((input, index) =>
      (input.destinations ?? []).flatMap((id, position) =>
        byId.has(id) ? [] : [{ path: `${at(index)}destinations.${position}`, message: `unknown destination "${id}"` }],
      ),
    );
    if (missing.length > 0) throw badRequest(missing);
    return inputs.map((input) =>
      input.destinations
        ? [...new Set(input.destinations)].map((id) => byId.get(id) as RoutableDestination)
        : enabled.filter((destination) => matchesAnyEventType(destination.eventTypes, input.type)),
    );
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
