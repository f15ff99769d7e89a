import { z } from 'zod';
import { DELIVERY_STATUSES, eventTypePatternProblem } from '@dispatch/domain';
import type { DeliverySelection } from '@dispatch/db';
import { timeSchema } from '../http/pagination';

const settledOrWaiting = z.enum(DELIVERY_STATUSES).refine((status) => status !== 'delivering', 'deliveries in flight cannot be acted on');

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
    since: timeSchema,
    until: timeSchema,
    dryRun: z.boolean().default(false),
  })
  .strict();

export type DeliverySelectionInput = z.output<typeof deliverySelectionSchema>;

/** The selection for one organization; without `status`, `fallback` statuses are selected. */
export function toSelection(organizationId: string, input: DeliverySelectionInput, fallback: DeliverySelection['statuses']): DeliverySelection {
  const statuses = input.status === undefined ? fallback : Array.isArray(input.status) ? input.status : [input.status];
  return { organizationId, statuses, destinationId: input.destinationId, eventType: input.eventType, since: input.since, until: input.until };
}

/** The filter as given, for the audit trail and the replay record. */
export function selectionRecord(input: DeliverySelectionInput, selection: DeliverySelection) {
  return {
    statuses: selection.statuses,
    ...(input.destinationId ? { destinationId: input.destinationId } : {}),
    ...(input.eventType ? { eventType: input.eventType } : {}),
    ...(input.since ? { since: input.since.toISOString() } : {}),
    ...(input.until ? { until: input.until.toISOString() } : {}),
  };
}
