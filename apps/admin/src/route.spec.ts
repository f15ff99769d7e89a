import { describe, expect, it } from '@jest/globals';
import { eventHash, liveHash, routeFromHash } from './route';

describe('routes', () => {
  it('reads a view, and a destination of its own', () => {
    expect(routeFromHash('#/alerts')).toEqual({ view: 'alerts' });
    expect(routeFromHash('#/destinations/dst_1')).toEqual({ view: 'destinations', destinationId: 'dst_1' });
    expect(routeFromHash('#/destinations/a%2Fb')).toEqual({ view: 'destinations', destinationId: 'a/b' });
  });

  it('reads the events list, an event of its own and the dead letters', () => {
    expect(routeFromHash('#/events')).toEqual({ view: 'events' });
    expect(routeFromHash('#/dead-letters')).toEqual({ view: 'dead-letters' });
    expect(routeFromHash('#/events/evt_1')).toEqual({ view: 'events', eventId: 'evt_1' });
    for (const eventId of ['order/1?x#y', 'ä b']) expect(routeFromHash(eventHash(eventId))).toEqual({ view: 'events', eventId });
  });

  it('reads the subject of the Live page from the query string, as the page writes it', () => {
    expect(routeFromHash('#/live')).toEqual({ view: 'live' });
    expect(routeFromHash('#/live?subject=user_123')).toEqual({ view: 'live', subject: 'user_123' });
    expect(routeFromHash('#/live?x=1&subject=a+b')).toEqual({ view: 'live', subject: 'a+b' });
    expect(routeFromHash('#/live?subject=')).toEqual({ view: 'live' });
    expect(routeFromHash('#/live?subject=%E0%A4%A')).toEqual({ view: 'live' });
    for (const subject of ['org:7|room=a+b@eu', 'user 1/?&#', 'a=b']) {
      expect(liveHash(subject).replace('#/live?subject=', '')).not.toMatch(/[ /?&#+=]/);
      expect(routeFromHash(liveHash(subject))).toEqual({ view: 'live', subject });
    }
  });

  it('takes anything else for the destinations list', () => {
    for (const hash of [
      '',
      '#',
      '#/',
      '#/nothing',
      '#/alerts/x',
      '#/live/x',
      '#/destinations/x/y',
      '#/destinations/%E0%A4%A',
      '#/events/x/y',
      '#/events/%E0%A4%A',
      '#/dead-letters/x',
    ]) {
      expect(routeFromHash(hash)).toEqual({ view: 'destinations' });
    }
  });
});
