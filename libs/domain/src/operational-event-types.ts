/** The types of Dispatch's own events about an organization's alerts and destinations. */
export const OPERATIONAL_EVENT_TYPES = [
  'dispatch.alert.opened',
  'dispatch.alert.escalated',
  'dispatch.alert.resolved',
  'dispatch.destination.disabled',
  'dispatch.destination.circuit_opened',
] as const;

export type OperationalEventType = (typeof OPERATIONAL_EVENT_TYPES)[number];

export function isOperationalEventType(type: string): type is OperationalEventType {
  return (OPERATIONAL_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Why a producer may not send an event of `type`, or null: the operational types are Dispatch's
 * alone, so a receiver subscribed to them can trust that an alert came from Dispatch.
 */
export function reservedEventTypeProblem(type: string): string | null {
  return isOperationalEventType(type) ? `"${type}" is the type of Dispatch's own events; producers cannot send it` : null;
}
