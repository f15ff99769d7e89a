// The app's pages and their addresses (the URL's hash, so the API's static file serving needs no
// route of its own): `#/destinations`, `#/destinations/<id>`, `#/deliveries`, `#/alerts`, …

export type View = 'destinations' | 'deliveries' | 'alerts' | 'audit' | 'api-keys';

/** A page: a view, and for a destination's own page the destination's id. */
export interface Route {
  view: View;
  destinationId?: string;
}

const VIEWS: readonly View[] = ['destinations', 'deliveries', 'alerts', 'audit', 'api-keys'];

/** The page a hash names; anything unknown is the destinations list. */
export function routeFromHash(hash: string): Route {
  const [name, id, ...rest] = hash.replace(/^#\/?/, '').split('/');
  if (name === 'destinations' && id && rest.length === 0) {
    try {
      return { view: 'destinations', destinationId: decodeURIComponent(id) };
    } catch {
      return { view: 'destinations' };
    }
  }
  const view = VIEWS.find((candidate) => candidate === name);
  return view && id === undefined ? { view } : { view: 'destinations' };
}
