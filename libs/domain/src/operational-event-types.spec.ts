import { ALERTING_EVENT_TYPES, isOperationalEventType, OPERATIONAL_EVENT_TYPES, reservedEventTypeProblem } from './operational-event-types';

describe('operational event types', () => {
  it('are the seven types of Dispatch’s own events', () => {
    expect(OPERATIONAL_EVENT_TYPES).toHaveLength(7);
    expect(isOperationalEventType('dispatch.alert.opened')).toBe(true);
    expect(isOperationalEventType('dispatch.destination.circuit_opened')).toBe(true);
    expect(isOperationalEventType('dispatch.presence.connected')).toBe(true);
    expect(isOperationalEventType('dispatch.presence.disconnected')).toBe(true);
    expect(isOperationalEventType('dispatch.presence')).toBe(false);
    expect(isOperationalEventType('dispatch.alert')).toBe(false);
    expect(isOperationalEventType('order.created')).toBe(false);
  });

  it('are refused to producers, naming the type; other dispatch.… types are not', () => {
    expect(reservedEventTypeProblem('dispatch.alert.resolved')).toBe('"dispatch.alert.resolved" is the type of Dispatch\'s own events; producers cannot send it');
    expect(reservedEventTypeProblem('dispatch.presence.connected')).toBe('"dispatch.presence.connected" is the type of Dispatch\'s own events; producers cannot send it');
    expect(reservedEventTypeProblem('dispatch.presence.disconnected')).not.toBeNull();
    expect(reservedEventTypeProblem('dispatch.deploy.finished')).toBeNull();
    expect(reservedEventTypeProblem('order.created')).toBeNull();
  });

  it('leave presence out of the alerting types (their deliveries count in the alert measures)', () => {
    expect(ALERTING_EVENT_TYPES).toContain('dispatch.alert.opened');
    expect(ALERTING_EVENT_TYPES).not.toContain('dispatch.presence.connected');
  });
});
