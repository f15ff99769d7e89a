/** The destination's worker is closing: a job still waiting for an attempt slot makes no attempt. */
export class SlotsClosedError extends Error {
  constructor() {
    super('the attempt slots of this destination are closed');
  }
}

/**
 * How many attempts of one destination run at once (`DISPATCH_WORKER_CONCURRENCY`): what its
 * receiver feels. The destination's worker takes twice as many jobs (`claimAhead`): those
 * beyond the slots are claimed meanwhile and wait here, so when an attempt ends the next one
 * starts at once, without waiting for its claim's round trip to PostgreSQL. Waiting jobs get
 * a slot in the order they asked for one. When the worker closes (shutdown, its turn ended,
 * its destination stopped) the slots close: attempts under way finish, and jobs that would have
 * to wait for a slot are refused (`SlotsClosedError`) and give their claims back.
 */
export class AttemptSlots {
  private busy = 0;
  private closed = false;
  private readonly waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(readonly size: number) {}

  /** Jobs a destination's worker takes at once for `size` slots: one claimed ahead per slot. */
  static claimAhead(size: number): number {
    return size * 2;
  }

  /** Runs `attempt` once a slot is free, and frees it after. */
  async run<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.busy < this.size) this.busy++;
    else if (this.closed) throw new SlotsClosedError();
    else await new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    try {
      return await attempt();
    } finally {
      // The slot passes straight to the next in line, if any.
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.busy--;
    }
  }

  /**
   * Refuses the jobs waiting for a slot, and from then on any job that finds no free slot;
   * attempts under way go on, and a job (still being claimed now) that finds a slot free makes its attempt.
   */
  close(): void {
    this.closed = true;
    for (const waiting of this.waiting.splice(0)) waiting.reject(new SlotsClosedError());
  }
}
