import { z } from 'zod';
import { destinationKinds } from '@dispatch/destinations';
import { eventTypePatternProblem, retryPolicySchema } from '@dispatch/domain';

const KINDS = destinationKinds.map((kind) => kind.kind);

/** A kind of the registry; any other is refused, naming the ones there are. */
const kind = z.enum(KINDS as [string, ...string[]], {
  error: (issue) => `"${String(issue.input)}" destinations are not available yet; available: ${KINDS.join(', ')}`,
});

const eventTypePattern = z.string().superRefine((pattern, ctx) => {
  const problem = eventTypePatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const rateLimit = z
  .object({ max: z.number().int().min(1).max(1_000_000), durationMs: z.number().int().min(1).max(3_600_000) })
  .strict()
  .nullable();

const fields = {
  name: z.string().trim().min(1).max(200),
  config: z.record(z.string(), z.unknown()),
  eventTypes: z.array(eventTypePattern).min(1).max(100),
  enabled: z.boolean(),
  rateLimit,
  retryPolicy: retryPolicySchema,
  ordering: z.enum(['none', 'key']),
};

export const createDestinationSchema = z
  .object({
    ...fields,
    kind,
    eventTypes: fields.eventTypes.default(['*']),
    enabled: fields.enabled.default(true),
    rateLimit: rateLimit.default(null),
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
