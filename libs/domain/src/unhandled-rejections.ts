/** How long the same unhandled rejection is not logged again (an outage repeats them). */
const QUIET_MS = 30_000;

/**
 * The last line of defence of a long-running process (the API, the worker): a promise that
 * rejects with nothing to handle it is logged, and the process goes on instead of exiting.
 *
 * This is safe for rejections: such a promise is background work that has already failed (the
 * start of a destination's queue worker, a lookup during a database outage), nothing waits for
 * it, and what it would have done is done again by the periodic scan or the reconciler, from
 * PostgreSQL and Redis. An uncaught exception is not handled here: it left code half run, in an
 * unknown state, so the process ends (and `npm start` or the orchestrator starts it again).
 */
export function logUnhandledRejections(log: (message: string) => void): void {
  const loggedAt = new Map<string, number>();
  process.on('unhandledRejection', (reason: unknown) => {
    const message = reason instanceof Error ? reason.message : String(reason);
    const now = Date.now();
    if (now - (loggedAt.get(message) ?? 0) < QUIET_MS) return;
    if (loggedAt.size > 100) loggedAt.clear();
    loggedAt.set(message, now);
    log(`Unhandled failure of background work, the process goes on: ${reason instanceof Error ? (reason.stack ?? message) : message}`);
  });
}
