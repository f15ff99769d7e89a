/** Where Bull Board is served. */
export const QUEUES_ROUTE = '/queues';

/** Whether a matched route (the router's, not the raw URL, which may be percent-encoded) is Bull Board's. */
export function isQueuesRoute(route: string | undefined): boolean {
  return route !== undefined && (route === QUEUES_ROUTE || route.startsWith(`${QUEUES_ROUTE}/`));
}
