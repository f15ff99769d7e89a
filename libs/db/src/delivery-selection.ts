import { Prisma } from './prisma';
import type { FailureCategory } from '@dispatch/domain';
import type { DeliveryStatus } from './prisma';

/** Deliveries an operator acts on in bulk: one organization, some statuses, optional narrowing. */
export type DeliverySelection = {
  organizationId: string;
  statuses: DeliveryStatus[];
  deliveryId?: string;
  destinationId?: string;
  /** An event-type pattern: `order.created`, `order.*` or `*`. */
  eventType?: string;
  /** Deliveries created at or after this time. */
  since?: Date;
  /** Deliveries created before this time. */
  until?: Date;
  /** Only dead letters of these failure categories. */
  failureCategories?: FailureCategory[];
  /** Also deliveries of disabled destinations (held there: they can be cancelled, not retried). */
  ofDisabledDestinations?: boolean;
};

/**
 * The SQL condition of a selection, over `deliveries d` joined with `events e` and
 * `destinations dst`. Only deliveries of enabled destinations are selected, unless
 * `ofDisabledDestinations`.
 */
export function selectionCondition(selection: DeliverySelection): Prisma.Sql {
  const conditions: Prisma.Sql[] = [Prisma.sql`d.organization_id = ${selection.organizationId}`, Prisma.sql`d.status::text IN (${Prisma.join(selection.statuses)})`];
  if (!selection.ofDisabledDestinations) conditions.push(Prisma.sql`dst.enabled`);
  if (selection.deliveryId) conditions.push(Prisma.sql`d.id = ${selection.deliveryId}`);
  if (selection.destinationId) conditions.push(Prisma.sql`d.destination_id = ${selection.destinationId}`);
  if (selection.since) conditions.push(Prisma.sql`d.created_at >= ${selection.since}`);
  if (selection.until) conditions.push(Prisma.sql`d.created_at < ${selection.until}`);
  if (selection.failureCategories) conditions.push(Prisma.sql`d.failure_category::text IN (${Prisma.join(selection.failureCategories)})`);
  const pattern = selection.eventType;
  if (pattern && pattern !== '*') {
    if (pattern.endsWith('.*')) {
      const prefix = pattern.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`);
      conditions.push(Prisma.sql`e.type LIKE ${`${prefix}_%`}`);
    } else {
      conditions.push(Prisma.sql`e.type = ${pattern}`);
    }
  }
  return Prisma.join(conditions, ' AND ');
}

export const SELECTION_FROM = Prisma.sql`deliveries d
  JOIN events e ON e.organization_id = d.organization_id AND e.id = d.event_id
  JOIN destinations dst ON dst.id = d.destination_id`;
