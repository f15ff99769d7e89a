import { eventTypePatternProblem, eventTypeProblem, matchesAnyEventType, matchesEventType } from './event-type-pattern';

describe('event type patterns', () => {
  it.each([
    ['order.created', 'order.created', true],
    ['order.created', 'order.updated', false],
    ['order.*', 'order.created', true],
    ['order.*', 'order.line.added', true],
    ['order.*', 'order', false],
    ['order.*', 'orders.created', false],
    ['*', 'anything.at.all', true],
    ['order.line.*', 'order.created', false],
  ])('%s matches %s: %s', (pattern, type, expected) => {
    expect(matchesEventType(pattern, type)).toBe(expected);
  });

  it('matches when any pattern of a destination matches', () => {
    expect(matchesAnyEventType(['invoice.*', 'order.created'], 'order.created')).toBe(true);
    expect(matchesAnyEventType(['invoice.*'], 'order.created')).toBe(false);
  });

  it('names what is wrong with a bad pattern', () => {
    expect(eventTypePatternProblem('order.*.created')).toContain('"*" may only be the last segment');
    expect(eventTypePatternProblem('order..created')).toContain('invalid segment ""');
    expect(eventTypePatternProblem('order.cre ated')).toContain('invalid segment "cre ated"');
    expect(eventTypePatternProblem('order.*')).toBeNull();
  });

  it('rejects event types with wildcards or empty segments', () => {
    expect(eventTypeProblem('order.*')).toContain('invalid segment "*"');
    expect(eventTypeProblem('order.created')).toBeNull();
  });
});
