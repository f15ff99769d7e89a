/** How long each readiness check may take before it counts as down. */
export const READINESS_CHECK_TIMEOUT_MS = 1_000;

/** `up`, or `down: <why>` for each check; `ok` when every one is up. */
export type Readiness<Name extends string> = { status: 'ok' | 'unavailable'; checks: Record<Name, string> };

/** Settles as `promise` does, or rejects with "timed out" after `timeoutMs`. */
export function within<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs every check at once. A check is `up` when it answers within `timeoutMs`, else
 * `down: <why>` (its error, or "timed out"); so the answer never takes much longer than
 * `timeoutMs`, even when a client waits for a connection that does not come back.
 */
export async function checkReadiness<Name extends string>(
  checks: Record<Name, () => PromiseLike<unknown>>,
  timeoutMs = READINESS_CHECK_TIMEOUT_MS,
): Promise<Readiness<Name>> {
  const names = Object.keys(checks) as Name[];
  const results = await Promise.all(
    names.map((name) =>
      within(Promise.resolve().then(checks[name]), timeoutMs).then(
        () => 'up',
        (error: unknown) => `down: ${error instanceof Error ? error.message : String(error)}`,
      ),
    ),
  );
  const answers = Object.fromEntries(names.map((name, index) => [name, results[index]])) as Record<Name, string>;
  return { status: results.every((result) => result === 'up') ? 'ok' : 'unavailable', checks: answers };
}
