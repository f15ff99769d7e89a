import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DeliveryScans, DestinationRecord, DestinationRepository } from '@dispatch/db';
import { DestinationSettings, destinationSettings, Senders } from '@dispatch/destinations';
import { SecretBox } from '@dispatch/domain';
import { changedChannel, deliveryBackoff, DeliveryJobData, DeliveryQueues, destinationQueueName, REDIS, wakeChannel } from '@dispatch/queue';
import { AttemptObserver, AttemptObservers, AttemptReport } from '../delivery/attempt-observers';
import { DeliveryProcessor } from '../delivery/delivery-processor';
import { WorkerMetrics } from '../operations/worker-metrics';

type Running = {
  worker: Worker<DeliveryJobData>;
  destination: DestinationSettings;
  lastActiveAt: number;
  /** Set while new settings announced by the API are being read: jobs wait for them. */
  refreshing: Promise<void> | undefined;
};

/**
 * Runs one BullMQ Worker per destination that has work, and only those: a worker starts when
 * an enqueuer publishes a wake notice or the periodic scan finds work due, and closes after
 * it has been idle. Workers share one Redis connection for commands; each holds one blocking
 * connection, so idle destinations cost nothing.
 */
@Injectable()
export class DestinationSupervisor implements OnApplicationBootstrap, BeforeApplicationShutdown, AttemptObserver {
  private readonly logger = new Logger(DestinationSupervisor.name);
  private readonly running = new Map<string, Running>();
  private readonly starting = new Map<string, Promise<void>>();
  private subscriber: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private databaseDown = false;
  private scanning = false;
  private lastWarning = { message: '', at: 0 };

  constructor(
    @Inject(DISPATCH_CONFIG) private readonly config: DispatchConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly destinations: DestinationRepository,
    private readonly deliveries: DeliveryScans,
    private readonly queues: DeliveryQueues,
    private readonly processor: DeliveryProcessor,
    private readonly metrics: WorkerMetrics,
    private readonly senders: Senders,
    private readonly secrets: SecretBox,
    observers: AttemptObservers,
  ) {
    observers.subscribe(this);
  }

  /** A receiver said its destination is gone (the attempt's record disabled it): stop sending to it. */
  attempted({ destination, outcome }: AttemptReport): void {
    if (outcome.kind === 'gone') void this.reload(destination.id);
  }

  /** A destination's settings for delivery, or null when it is gone, of a kind this deployment lacks, or its secrets cannot be opened (logged). */
  private async load(destinationId: string): Promise<DestinationSettings | null> {
    const record = await this.destinations.findById(destinationId);
    return record ? this.settingsOf(record) : null;
  }

  private settingsOf(record: DestinationRecord): DestinationSettings | null {
    try {
      return destinationSettings(record, this.secrets);
    } catch (error) {
      this.warnOnce((error as Error).message);
      return null;
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.subscriber = this.redis.duplicate({ connectionName: 'dispatch-wake' });
    const wake = wakeChannel(this.config.queuePrefix);
    this.subscriber.on('message', (channel: string, destinationId: string) => {
      if (channel === wake) void this.wake(destinationId);
      else void this.reload(destinationId);
    });
    this.subscriber.on('error', () => undefined);
    await this.subscriber.subscribe(wake, changedChannel(this.config.queuePrefix));
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.config.worker.scanMs);
  }

  /** Starts the worker of a destination if it is not running; marks it active if it is. */
  async wake(destinationId: string): Promise<void> {
    const running = this.running.get(destinationId);
    if (running) {
      running.lastActiveAt = Date.now();
      return;
    }
    if (this.stopping) return;
    let starting = this.starting.get(destinationId);
    if (!starting) {
      starting = this.start(destinationId).finally(() => this.starting.delete(destinationId));
      this.starting.set(destinationId, starting);
    }
    await starting;
  }

  /**
   * Takes a destination's new settings at once, when the API announces a change. Jobs that
   * start meanwhile wait for them, so a delivery accepted after the change sees it.
   */
  private async reload(destinationId: string): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    const previous = entry.destination;
    let current: DestinationSettings | null | undefined;
    const refreshing = this.load(destinationId).then(
      (found) => {
        current = found;
        if (found) entry.destination = found;
      },
      () => undefined,
    );
    entry.refreshing = refreshing;
    await refreshing;
    if (entry.refreshing === refreshing) entry.refreshing = undefined;
    if (current !== undefined) await this.apply(destinationId, current, previous);
  }

  /**
   * Gives a running worker its destination's current settings: it stops when the destination
   * is gone, disabled or paused, and restarts when the rate limit (a Worker option) changed.
   */
  private async apply(destinationId: string, current: DestinationSettings | null, previous?: DestinationSettings): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    const active = current !== null && current.enabled && !current.paused;
    if (!active || limitChanged(previous ?? entry.destination, current)) {
      await this.stop(destinationId);
      if (active) await this.wake(destinationId);
      return;
    }
    entry.destination = current;
  }

  private async start(destinationId: string): Promise<void> {
    const destination = await this.load(destinationId);
    if (!destination || !destination.enabled || destination.paused || this.stopping || this.databaseDown) return;
    const worker = new Worker<DeliveryJobData>(
      destinationQueueName(destinationId),
      async (job, token) => {
        if (entry.refreshing) await entry.refreshing;
        return this.processor.process(job, token, entry.destination);
      },
      {
        connection: this.redis,
        prefix: this.config.queuePrefix,
        concurrency: this.config.worker.concurrency,
        lockDuration: this.config.worker.lockMs,
        stalledInterval: this.config.worker.lockMs,
        ...(destination.rateLimit ? { limiter: { max: destination.rateLimit.max, duration: destination.rateLimit.durationMs } } : {}),
        settings: { backoffStrategy: deliveryBackoff },
      },
    );
    const entry: Running = { worker, destination, lastActiveAt: Date.now(), refreshing: undefined };
    const touch = () => {
      entry.lastActiveAt = Date.now();
    };
    worker.on('active', touch);
    worker.on('completed', touch);
    worker.on('failed', touch);
    worker.on('error', (error) => this.warnOnce(`Queue of ${destinationId}: ${error.message}`));
    this.running.set(destinationId, entry);
    this.metrics.runningWorkers.set(this.running.size);
    this.logger.debug(`Started the worker of ${destinationId}`);
  }

  /**
   * Starts workers for destinations with work due soon, reloads the settings of running ones
   * (restarting a worker whose rate limit changed), and closes workers idle for long enough.
   * While PostgreSQL cannot be reached every worker is paused; they resume when it answers.
   */
  async scan(): Promise<void> {
    if (this.stopping || this.scanning) return;
    this.scanning = true;
    try {
      await this.scanOnce();
    } finally {
      this.scanning = false;
    }
  }

  private async scanOnce(): Promise<void> {
    let due: Set<string>;
    try {
      const horizon = new Date(Date.now() + 2 * this.config.worker.scanMs);
      due = new Set(await this.deliveries.destinationsWithWorkDue(horizon));
    } catch (error) {
      await this.databaseUnreachable(error as Error);
      return;
    }
    if (this.databaseDown) this.databaseBack();
    try {
      await Promise.all([...due].map((id) => this.wake(id)));
      const now = Date.now();
      const records = await this.destinations.findByIds([...this.running.keys()]);
      const fresh = new Map(records.map((record) => [record.id, this.settingsOf(record)]));
      for (const [id, entry] of this.running) {
        const idle = !due.has(id) && now - entry.lastActiveAt > this.config.worker.idleMs && (await this.queueIsIdle(id));
        if (idle) await this.stop(id);
        else await this.apply(id, fresh.get(id) ?? null);
      }
    } catch (error) {
      this.logger.warn(`Scan failed: ${(error as Error).message}`);
    }
  }

  /** Nothing waiting or in flight; delayed retries wake the worker again through the scan. */
  private async queueIsIdle(destinationId: string): Promise<boolean> {
    const counts = await this.queues.queue(destinationId).getJobCounts('wait', 'active', 'prioritized');
    return Object.values(counts).every((count) => count === 0);
  }

  /** Logs a warning, but the same one at most every 30 s (Redis outages repeat them). */
  private warnOnce(message: string): void {
    const now = Date.now();
    if (message === this.lastWarning.message && now - this.lastWarning.at < 30_000) return;
    this.lastWarning = { message, at: now };
    this.logger.warn(message);
  }

  private async databaseUnreachable(error: Error): Promise<void> {
    if (this.databaseDown) return;
    this.databaseDown = true;
    this.logger.error(`PostgreSQL unreachable (${error.message}); pausing ${this.running.size} queue workers until it answers`);
    await Promise.all([...this.running.values()].map((entry) => entry.worker.pause(true)));
  }

  private databaseBack(): void {
    this.databaseDown = false;
    this.logger.log(`PostgreSQL answers again; resuming ${this.running.size} queue workers`);
    for (const entry of this.running.values()) entry.worker.resume();
  }

  private async stop(destinationId: string): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    this.running.delete(destinationId);
    this.metrics.runningWorkers.set(this.running.size);
    await entry.worker.close();
    // A wake while it closed may have started a new worker, which still needs the sender's connections.
    if (!this.running.has(destinationId)) await this.senders.release(entry.destination.kind.kind, destinationId);
    this.logger.debug(`Closed the worker of ${destinationId}`);
  }

  /** Stops taking jobs and lets attempts in flight finish, then closes every worker. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await Promise.allSettled(this.starting.values());
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
    // The jobs have finished; what their attempts recorded is written before the database closes.
    await this.processor.flush();
    this.subscriber?.disconnect();
  }
}

function limitChanged(before: DestinationSettings, after: DestinationSettings): boolean {
  return before.rateLimit?.max !== after.rateLimit?.max || before.rateLimit?.durationMs !== after.rateLimit?.durationMs;
}
