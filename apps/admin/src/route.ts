// The app's pages and their addresses (the URL's hash, so the API's static file serving needs no
// route of its own): `#/destinations`, `#/destinations/<id>`, `#/deliveries`, `#/alerts`, …
// The Live page keeps its subject in the hash's query string: `#/live?subject=user_123`.
// An event's own page is `#/events/<id>`.

export type View = 'destinations' | 'deliveries' | 'events' | 'dead-letters' | 'alerts' | 'audit' | 'api-keys' | 'live';

/** A page: a view, for a destination's or an event's own page its id, for the Live page the subject shown. */
export interface Route {
  view: View;
  destinationId?: string;
  eventId?: string;
  subject?: string;
}

const VIEWS: readonly View[] = ['destinations', 'deliveries', 'events', 'dead-letters', 'alerts', 'audit', 'api-keys', 'live'];

/** The address of an event's own page. */
export function eventHash(eventId: string): string {
  return `#/events/${encodeURIComponent(eventId)}`;
}

/**
 * The `subject` parameter of a hash's query string, decoded as a URI component (so a `+` typed
 * into a link stays a `+`, which subjects may hold); undefined when absent, empty or undecodable.
 */
function subjectParameter(search: string): string | undefined {
  for (const pair of search.split('&')) {
    const [name, ...value] = pair.split('=');
    if (name !== 'subject') continue;
    try {
      const subject = decodeURIComponent(value.join('='));
      return subject === '' ? undefined : subject;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The address of the Live page showing `subject`. */
export function liveHash(subject: string): string {
  return `#/live?subject=${encodeURIComponent(subject)}`;
}

/** The page a hash names; anything unknown is the destinations list. */
export function routeFromHash(hash: string): Route {
  const [path, ...query] = hash.replace(/^#\/?/, '').split('?');
  if (path === 'live') {
    const subject = subjectParameter(query.join('?'));
    return subject === undefined ? { view: 'live' } : { view: 'live', subject };
  }
  const [name, id, ...rest] = hash.replace(/^#\/?/, '').split('/');
  if (name === 'destinations' && id && rest.length === 0) {
    try {
      return { view: 'destinations', destinationId: decodeURIComponent(id) };
    } catch {
      return { view: 'destinations' };
    }
  }
  if (name === 'events' && id && rest.length === 0) {
    try {
      return { view: 'events', eventId: decodeURIComponent(id) };
    } catch {
      return { view: 'destinations' };
    }
  }
  const view = VIEWS.find((candidate) => candidate === name);
  return view && id === undefined ? { view } : { view: 'destinations' };
}
