import { z } from 'zod';
import { destinationKinds } from '@dispatch/destinations';
import {
  circuitBreakerSettingsSchema,
  DEFAULT_CIRCUIT_BREAKER,
  DEFAULT_RATE_LIMIT,
  eventTypePatternProblem,
  rateLimitSettingsSchema,
  retryPolicySchema,
} from '@dispatch/domain';

const KINDS = destinationKinds.map((kind) => kind.kind);

/** A kind of the registry; any other is refused, naming the ones there are. */
const kind = z.enum(KINDS as [string, ...string[]], {
  error: (issue) => `"${String(issue.input)}" destinations are not available yet; available: ${KINDS.join(', ')}`,
});

const eventTypePattern = z.string().superRefine((pattern, ctx) => {
  const problem = eventTypePatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Null: no limit. `adaptive` may be left out (false), so the older `{ max, durationMs }` form still reads. */
const rateLimit = rateLimitSettingsSchema.nullable();

const fields = {
  name: z.string().trim().min(1).max(200),
  config: z.record(z.string(), z.unknown()),
  eventTypes: z.array(eventTypePattern).min(1).max(100),
  enabled: z.boolean(),
  rateLimit,
  /** A partial object is completed with the defaults; a PATCH replaces the whole object. */
  circuitBreaker: circuitBreakerSettingsSchema,
  retryPolicy: retryPolicySchema,
  ordering: z.enum(['none', 'key']),
};

export const createDestinationSchema = z
  .object({
    ...fields,
    kind,
    eventTypes: fields.eventTypes.default(['*']),
    enabled: fields.enabled.default(true),
    rateLimit: rateLimit.default(DEFAULT_RATE_LIMIT),
    circuitBreaker: circuitBreakerSettingsSchema.default(DEFAULT_CIRCUIT_BREAKER),
    retryPolicy: retryPolicySchema.default(retryPolicySchema.parse({})),
    ordering: fields.ordering.default('none'),
  })
  .strict();

export const updateDestinationSchema = z
  .object({ ...fields, kind: z.string() })
  .partial()
  .strict();

export type CreateDestinationInput = z.output<typeof createDestinationSchema>;
export type UpdateDestinationInput = z.output<typeof updateDestinationSchema>;
