/**
 * The signal one attempt runs under: aborted when `signal` is (shutdown) or after `timeoutMs`
 * (with a `TimeoutError`, as `AbortSignal.timeout` gives). `end()` must be called once the
 * attempt is over: it clears the timer and stops listening to `signal`.
 *
 * One controller and one timer per attempt: `AbortSignal.any` with `AbortSignal.timeout` did
 * the same at about twice the CPU, on every attempt of the hot path.
 */
export function attemptDeadline(signal: AbortSignal, timeoutMs: number): { signal: AbortSignal; end: () => void } {
  const controller = new AbortController();
  if (signal.aborted) {
    controller.abort(signal.reason);
    return { signal: controller.signal, end: () => undefined };
  }
  const onAbort = () => controller.abort(signal.reason);
  const timer = setTimeout(() => controller.abort(new DOMException(`The attempt took longer than ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    end: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/** `work`, or the deadline's reason (a timeout, or shutdown) when `signal` aborts first; `work` itself goes on. */
export function untilDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
