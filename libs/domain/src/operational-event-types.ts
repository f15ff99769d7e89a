/**
 * The types of Dispatch's own events about an organization's alerts and destinations. The alert
 * evaluation leaves their deliveries out of what it measures (attempts, backlog), so failing to
 * deliver an alert never raises one; they are few, which that evaluation counts on.
 */
export const ALERTING_EVENT_TYPES = [
  'dispatch.alert.opened',
  'dispatch.alert.escalated',
  'dispatch.alert.resolved',
  'dispatch.destination.disabled',
  'dispatch.destination.circuit_opened',
] as const;

/**
 * The types of Dispatch's events about live WebSocket sessions: a subject came online or went
 * offline (debounced). They can come by the thousand and are written only when a destination
 * subscribes to them; their deliveries count in the alert measures like any producer's events.
 */
export const PRESENCE_EVENT_TYPES = ['dispatch.presence.connected', 'dispatch.presence.disconnected'] as const;

/** The types of all of Dispatch's own events: producers cannot send them. */
export const OPERATIONAL_EVENT_TYPES = [...ALERTING_EVENT_TYPES, ...PRESENCE_EVENT_TYPES] as const;

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
