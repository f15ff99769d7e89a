import { Injectable, Logger } from '@nestjs/common';
import { z } from 'zod';
import { Batcher, DestinationRepository, EventRepository, Ingest, IngestResult, Prisma, RoutableDestination } from '@dispatch/db';
import { eventTypeProblem, matchesAnyEventType, newId } from '@dispatch/domain';
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
        const problem = eventTypeProblem(type);
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
 * commit; a lone request goes at once.
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
    const id = input.id ?? idempotencyKey ?? newId('evt');
    const targets = await this.route(organizationId, input);
    return this.pending.submit({
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
    });
  }

  private async write(batch: PendingIngest[]): Promise<(IngestResult | Error)[]> {
    const results = await this.events.ingestMany(batch);
    const created = batch.flatMap(({ targets }, index) => {
      const result = results[index];
      return result instanceof Error || !result.created ? [] : [{ result, targets }];
    });
    if (created.length > 0) {
      this.metrics.eventsAccepted.inc(created.length);
      await this.enqueue(created);
    }
    return results;
  }

  private async route(organizationId: string, input: IngestEventInput): Promise<RoutableDestination[]> {
    if (!input.destinations) {
      const enabled = await this.routing.enabled(organizationId);
      return enabled.filter((destination) => matchesAnyEventType(destination.eventTypes, input.type));
    }
    const wanted = [...new Set(input.destinations)];
    const found = await this.destinations.findRoutable(organizationId, wanted);
    const known = new Set(found.map((destination) => destination.id));
    const missing = input.destinations.flatMap((id, index) => (known.has(id) ? [] : [{ path: `destinations.${index}`, message: `unknown destination "${id}"` }]));
    if (missing.length > 0) throw badRequest(missing);
    return found;
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
