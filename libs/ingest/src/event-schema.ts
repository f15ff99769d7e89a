import { z } from 'zod';
import { eventTypeProblem, fieldsWithNul, reservedEventTypeProblem } from '@dispatch/domain';
import { InvalidEvent } from './invalid-event';

/** An event as a producer sends it, by `POST /v1/events` or on the ingest stream. */
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

/**
 * The event in a body already parsed from JSON, checked as `POST /v1/events` checks its body: a
 * JSON object, no NUL character anywhere (PostgreSQL cannot store it), the schema above.
 */
export function readEvent(body: unknown): IngestEventInput | InvalidEvent {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return new InvalidEvent([{ path: '', message: 'the body must be a JSON object' }]);
  const withNul = fieldsWithNul(body);
  if (withNul.length > 0) return new InvalidEvent(withNul);
  const parsed = ingestEventSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  return new InvalidEvent(parsed.error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })));
}
