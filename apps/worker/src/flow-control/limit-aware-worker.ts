import { Processor, Worker, WorkerOptions } from 'bullmq';

/**
 * A BullMQ Worker that says each time its queue's rate limit holds it back: BullMQ found the
 * limit of the window used up when it went to take a job, and the worker waits for the window
 * to end (the jobs stay in the queue, using up no attempt). For
 * `dispatch_rate_limiter_rejections_total{source="worker"}`.
 */
export class LimitAwareWorker<DataType> extends Worker<DataType> {
  private heldBack: (() => void) | undefined;

  constructor(name: string, processor: Processor<DataType>, opts: WorkerOptions, heldBack: () => void) {
    super(name, processor, opts);
    this.heldBack = heldBack;
  }

  /** BullMQ asks how long to wait exactly when the limit holds the worker back. */
  protected override getRateLimitDelay(delay: number): number {
    this.heldBack?.();
    return super.getRateLimitDelay(delay);
  }
}
