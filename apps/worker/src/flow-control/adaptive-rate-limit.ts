import { Injectable, Logger } from '@nestjs/common';
import { asksToSlowDown } from '@dispatch/domain';
import { AdaptiveRates } from '@dispatch/queue';
import { AttemptObserver, AttemptObservers, AttemptReport } from '../delivery/attempt-observers';

/**
 * Steers the rate of destinations whose rate limit is adaptive, from what their attempts
 * answered: a 429 or a `Retry-After` halves it (AdaptiveRates.slowDown), and while the receiver
 * keeps up it climbs back towards `max` (AdaptiveRates.climb, asked at most once per
 * `durationMs` by each worker process). The rate lives in Redis, so every worker process sends
 * at the same one; BullMQ enforces it.
 */
@Injectable()
export class AdaptiveRateLimit implements AttemptObserver {
  private readonly logger = new Logger(AdaptiveRateLimit.name);
  /** When this process last moved each adaptive destination's rate. */
  private readonly steeredAt = new Map<string, number>();

  constructor(
    private readonly rates: AdaptiveRates,
    observers: AttemptObservers,
  ) {
    observers.subscribe(this);
  }

  attempted({ destination, result }: AttemptReport): void {
    const limit = destination.rateLimit;
    if (!limit?.adaptive) return;
    const now = Date.now();
    if (asksToSlowDown(result)) {
      this.steeredAt.set(destination.id, now);
      this.rates.slowDown(destination.id, limit, now).then(
        (rate) => this.logger.debug(`${destination.id} asked to slow down: ${rate} attempts per ${limit.durationMs} ms`),
        (error: Error) => this.logger.warn(`Lowering the rate of ${destination.id} failed: ${error.message}`),
      );
      return;
    }
    if (now - (this.steeredAt.get(destination.id) ?? 0) < limit.durationMs) return;
    this.steeredAt.set(destination.id, now);
    this.rates.climb(destination.id, limit, now).catch((error: Error) => this.logger.warn(`Raising the rate of ${destination.id} failed: ${error.message}`));
  }
}
