import { isOperationalEventType, reservedEventTypeProblem } from './operational-event-types';

describe('operational event types', () => {
  it('are the five types of Dispatch’s own events', () => {
    expect(isOperationalEventType('dispatch.alert.opened')).toBe(true);
    expect(isOperationalEventType('dispatch.destination.circuit_opened')).toBe(true);
    expect(isOperationalEventType('dispatch.alert')).toBe(false);
    expect(isOperationalEventType('order.created')).toBe(false);
  });

  it('are refused to producers, naming the type; other dispatch.… types are not', () => {
    expect(reservedEventTypeProblem('dispatch.alert.resolved')).toBe('"dispatch.alert.resolved" is the type of Dispatch\'s own events; producers cannot send it');
    expect(reservedEventTypeProblem('dispatch.deploy.finished')).toBeNull();
    expect(reservedEventTypeProblem('order.created')).toBeNull();
  });
});
