import { z } from 'zod';
import type { DeliveryStory, EventStory } from '@dispatch/db';
import { findKind, maskedConfig } from '@dispatch/destinations';
import { DELIVERY_STATUSES, FAILURE_CATEGORIES, webhookBody } from '@dispatch/domain';
import { attemptView, deliveryView } from '../deliveries/delivery.view';
import { eventView } from './event.view';

/**
 * An event's story as GET /v1/events/:id answers it: the event, the size of its data, and each
 * delivery with its destination, failure category, attempts and what was sent. No credential:
 * the destination's config is shown as the API shows it (`"********"`), a webhook's headers by name.
 */
export function eventStoryView(story: EventStory) {
  const body = webhookBody(story.event);
  return {
    ...eventView(story.event),
    traceId: story.event.traceId,
    dataBytes: story.dataBytes,
    deliveries: story.deliveries.map((delivery) => deliveryStoryView(delivery, body)),
  };
}

function deliveryStoryView(delivery: DeliveryStory, body: string) {
  const { destination } = delivery;
  const kind = findKind(destination.kind);
  const config = (typeof destination.config === 'object' && destination.config !== null ? destination.config : {}) as Record<string, unknown>;
  return {
    ...deliveryView(delivery),
    destination: { id: destination.id, name: destination.name, kind: destination.kind },
    attempts: delivery.attempts.map(attemptView),
    request: {
      target: maskedConfig(kind, config),
      properties: kind?.requestProperties?.(config) ?? {},
      body,
    },
  };
}

const time = z.string().meta({ format: 'date-time' });
const nullableTime = time.nullable();

/** An attempt as the API shows it (GET /v1/deliveries/:id and GET /v1/events/:id). */
export const attemptAnswerSchema = z.object({
  number: z.int().describe('1 for the first attempt'),
  trigger: z.enum(['scheduled', 'manual']).describe('manual: an operator asked for it (retry, replay)'),
  startedAt: time,
  durationMs: z.int(),
  outcome: z.enum(['delivered', 'retry', 'failed', 'gone']),
  statusCode: z.int().nullable().describe("The protocol's reply code (HTTP status, SMTP reply code…); null without a reply"),
  responseBody: z.string().nullable().describe("The start of the peer's reply, as text"),
  error: z.string().nullable().describe('Why there was no reply (timeout, connection error…)'),
});

/** A delivery as the API shows it (deliveryView). */
export const deliveryAnswerSchema = z.object({
  id: z.string(),
  eventId: z.string(),
  destinationId: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attemptCount: z.int(),
  nextAttemptAt: nullableTime,
  lastError: z.string().nullable(),
  lastStatusCode: z.int().nullable(),
  failureCategory: z.enum(FAILURE_CATEGORIES).nullable().describe('Why it failed for good (status failed); null otherwise'),
  createdAt: time,
  updatedAt: time,
});

/** An event as GET /v1/events lists it (eventView). */
export const eventAnswerSchema = z.object({
  id: z.string(),
  type: z.string(),
  source: z.string().nullable(),
  data: z.unknown().describe("The event's data, as sent"),
  orderingKey: z.string().nullable(),
  priority: z.int(),
  correlationId: z.string().nullable(),
  tags: z.array(z.string()),
  receivedAt: time,
});

/** The answer of GET /v1/events/:id, for the OpenAPI description (the admin app's types are generated from it). */
export const eventStoryAnswerSchema = z.object({
  ...eventAnswerSchema.shape,
  traceId: z.string().nullable().describe('The trace the event was accepted in (OpenTelemetry, 32 hex digits); null when tracing was off'),
  dataBytes: z.int().describe('Size of data as JSON text, in bytes (as PostgreSQL writes it, a space after each colon and comma)'),
  deliveries: z
    .array(
      z.object({
        ...deliveryAnswerSchema.shape,
        destination: z.object({ id: z.string(), name: z.string(), kind: z.string() }),
        attempts: z.array(attemptAnswerSchema).describe('Every attempt, oldest first'),
        request: z
          .object({
            target: z.record(z.string(), z.unknown()).describe('Where it goes: the destination\'s config as the API shows it (every credential "********")'),
            properties: z
              .record(z.string(), z.unknown())
              .describe("The protocol's properties of what was sent, never a credential: a webhook's method, url and headers (names only); {} for kinds without"),
            body: z
              .string()
              .describe(
                'The payload: the event as Dispatch sends it ({"id","type","timestamp","data"}), byte for byte as a webhook, MQTT, NATS or RabbitMQ receiver got it; kinds that send a file or an email make theirs from it',
              ),
          })
          .describe('What was sent (the same for every attempt)'),
      }),
    )
    .describe('One per destination the event went to, oldest first'),
});
