import { z } from 'zod';
import { DELIVERY_STATUSES, eventTypePatternProblem, FAILURE_CATEGORIES } from '@dispatch/domain';
import type { DeliverySelection } from '@dispatch/db';
import { timeSchema } from '../http/pagination';

const settledOrWaiting = z.enum(DELIVERY_STATUSES).refine((status) => status !== 'delivering', 'deliveries in flight cannot be acted on');
const failureCategory = z.enum(FAILURE_CATEGORIES, { message: `must be one of ${FAILURE_CATEGORIES.join(', ')}` });

/** The body of a bulk action on deliveries. */
export const deliverySelectionSchema = z
  .object({
    destinationId: z.string().max(100).optional(),
    status: z.union([settledOrWaiting, z.array(settledOrWaiting).min(1)]).optional(),
    eventType: z
      .string()
      .max(255)
      .superRefine((pattern, ctx) => {
        const problem = eventTypePatternProblem(pattern);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    failureCategory: z
      .union([failureCategory, z.array(failureCategory).min(1)])
      .optional()
      .describe('Only dead letters that failed for this reason (one category or a list; GET /v1/dead-letters/categories)'),
    since: timeSchema,
    until: timeSchema,
    dryRun: z.boolean().default(false),
  })
  .strict();

export type DeliverySelectionInput = z.output<typeof deliverySelectionSchema>;

/** What a selection holds (a replay's dry run; the figures of a dead letter category): what a replay of it would touch. */
export const selectionPreviewSchema = z.object({
  count: z.int().describe('How many deliveries'),
  bytes: z.int().describe("The sum of the sizes of their events' data, as JSON text (what dataBytes of GET /v1/events/:id says)"),
  destinations: z.array(z.object({ id: z.string(), name: z.string(), count: z.int() })).describe('The destinations they belong to, most deliveries first'),
});

/** The selection for one organization; without `status`, `fallback` statuses are selected. */
export function toSelection(organizationId: string, input: DeliverySelectionInput, fallback: DeliverySelection['statuses']): DeliverySelection {
  const statuses = input.status === undefined ? fallback : Array.isArray(input.status) ? input.status : [input.status];
  const failureCategories = input.failureCategory === undefined ? undefined : Array.isArray(input.failureCategory) ? input.failureCategory : [input.failureCategory];
  return { organizationId, statuses, destinationId: input.destinationId, eventType: input.eventType, failureCategories, since: input.since, until: input.until };
}

/** The filter as given, for the audit trail and the replay record. */
export function selectionRecord(input: DeliverySelectionInput, selection: DeliverySelection) {
  return {
    statuses: selection.statuses,
    ...(input.destinationId ? { destinationId: input.destinationId } : {}),
    ...(input.eventType ? { eventType: input.eventType } : {}),
    ...(selection.failureCategories ? { failureCategories: selection.failureCategories } : {}),
    ...(input.since ? { since: input.since.toISOString() } : {}),
    ...(input.until ? { until: input.until.toISOString() } : {}),
  };
}
