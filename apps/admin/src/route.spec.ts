import { describe, expect, it } from '@jest/globals';
import { routeFromHash } from './route';

describe('routes', () => {
  it('reads a view, and a destination of its own', () => {
    expect(routeFromHash('#/alerts')).toEqual({ view: 'alerts' });
    expect(routeFromHash('#/destinations/dst_1')).toEqual({ view: 'destinations', destinationId: 'dst_1' });
    expect(routeFromHash('#/destinations/a%2Fb')).toEqual({ view: 'destinations', destinationId: 'a/b' });
  });

  it('takes anything else for the destinations list', () => {
    for (const hash of ['', '#', '#/', '#/nothing', '#/alerts/x', '#/destinations/x/y', '#/destinations/%E0%A4%A']) {
      expect(routeFromHash(hash)).toEqual({ view: 'destinations' });
    }
  });
});
