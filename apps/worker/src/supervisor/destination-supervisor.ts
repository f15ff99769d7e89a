import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { DISPATCH_CONFIG, DispatchConfig } from '@dispatch/config';
import { DeliveryScans, DestinationRecord, DestinationRepository } from '@dispatch/db';
import { DestinationSettings, destinationSettings, Senders } from '@dispatch/destinations';
import { SecretBox } from '@dispatch/domain';
import { workerTelemetry } from '@dispatch/telemetry';
import {
  changedChannel,
  circuitChannel,
  deliveryBackoff,
  DeliveryJobData,
  DeliveryQueues,
  destinationQueueName,
  duplicateConnection,
  REDIS,
  RedisConnection,
  WAKE_AGAIN_AFTER_MS,
  wakeChannel,
} from '@dispatch/queue';
import { AttemptObserver, AttemptObservers, AttemptReport } from '../delivery/attempt-observers';
import { DeliveryProcessor } from '../delivery/delivery-processor';
import { DestinationCircuits } from '../delivery/destination-circuits';
import { LimitAwareWorker } from '../flow-control/limit-aware-worker';
import { AttemptSlots } from '../delivery/attempt-slots';
import { WorkerMetrics } from '../operations/worker-metrics';
import { QueueTurns, Turn } from './queue-turns';

type Running = {
  worker: Worker<DeliveryJobData>;
  slots: AttemptSlots;
  destination: DestinationSettings;
  lastActiveAt: number;
  /** When a wake notice or the scan last named the destination. */
  wokenAt: number;
  turn: Turn;
  /** Set while new settings announced by the API are being read: jobs wait for them. */
  refreshing: Promise<void> | undefined;
};

/**
 * Runs one BullMQ Worker per destination that has work, and only those: a worker starts when
 * an enqueuer publishes a wake notice or the periodic scan finds work due, and closes after
 * it has been idle. Workers share one Redis connection for commands; each holds one blocking
 * connection, so idle destinations cost nothing. At most `maxQueues` run at once: the other
 * destinations with work wait their turn (`QueueTurns`), and while some wait a worker gives
 * up its turn when its queue runs dry or its slice is over.
 */
@Injectable()
export class DestinationSupervisor implements OnApplicationBootstrap, BeforeApplicationShutdown, AttemptObserver {
  private readonly logger = new Logger(DestinationSupervisor.name);
  private readonly running = new Map<string, Running>();
  private readonly starting = new Map<string, Promise<void>>();
  private subscriber: RedisConnection | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private databaseDown = false;
  private scanning = false;
  private lastWarning = { message: '', at: 0 };
  private readonly turns: QueueTurns;
  /** BullMQ's tracing of the delivery jobs (each run a span, child of the job's enqueue); undefined when tracing is off. */
  private readonly telemetry = workerTelemetry();
  private rotation: NodeJS.Timeout | undefined;
  /** Second looks at queues whose turn ended while an enqueuer may still add jobs without a wake notice. */
  private readonly lookAgain = new Set<NodeJS.Timeout>();

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
    private readonly circuits: DestinationCircuits,
  ) {
    observers.subscribe(this);
    // A circuit that opens stops its destination's worker as a pause does; one that lets attempts through again wakes it.
    circuits.onChange((destinationId) => this.background(this.circuitChanged(destinationId), `Circuit of ${destinationId}`));
    this.turns = new QueueTurns(config.worker.maxQueues, config.worker.sliceMs);
  }

  /** A receiver said its destination is gone (the attempt's record disabled it): stop sending to it. */
  attempted({ destination, outcome }: AttemptReport): void {
    if (outcome.kind === 'gone') this.background(this.reload(destination.id), `Reloading ${destination.id}`);
  }

  private async circuitChanged(destinationId: string): Promise<void> {
    if (this.circuits.holds(destinationId)) await this.stop(destinationId);
    else await this.wake(destinationId);
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
    this.subscriber = duplicateConnection(this.redis, { connectionName: 'dispatch-wake' });
    const wake = wakeChannel(this.config.queuePrefix);
    const circuit = circuitChannel(this.config.queuePrefix);
    this.subscriber.on('message', (channel: string, destinationId: string) => {
      if (channel === wake) this.background(this.wake(destinationId), `Waking ${destinationId}`);
      else if (channel === circuit) this.circuits.noticed(destinationId);
      else this.background(this.reload(destinationId), `Reloading ${destinationId}`);
    });
    this.subscriber.on('error', () => undefined);
    await this.subscriber.subscribe(wake, changedChannel(this.config.queuePrefix), circuit);
    await this.scan();
    this.timer = setInterval(() => this.background(this.scan(), 'Scan'), this.config.worker.scanMs);
    this.rotation = setInterval(() => this.rotate(), Math.max(50, Math.floor(this.config.worker.sliceMs / 4)));
  }

  /**
   * Starts the worker of a destination if it is not running and a turn is free (otherwise
   * the destination waits in line); marks it active if it is running.
   */
  async wake(destinationId: string): Promise<void> {
    const running = this.running.get(destinationId);
    if (running) {
      running.lastActiveAt = running.wokenAt = Date.now();
      return;
    }
    if (this.stopping || this.circuits.holds(destinationId)) return;
    let starting = this.starting.get(destinationId);
    if (!starting) {
      const turn = this.turns.take(destinationId);
      if (!turn) return;
      starting = this.start(destinationId, turn).finally(() => this.starting.delete(destinationId));
      this.starting.set(destinationId, starting);
    }
    await starting;
  }

  /** A turn its destination did not use (gone, stopped, or unreadable). */
  private giveBack(turn: Turn): void {
    this.turns.end(turn);
    this.admit();
  }

  /** Gives free turns to the destinations first in line. */
  private admit(): void {
    if (this.stopping || this.databaseDown) return;
    for (const destinationId of this.turns.admit()) this.background(this.wake(destinationId), `Waking ${destinationId}`);
  }

  /** While destinations wait for a turn, ends the turns that are due: queues run dry first, then slices that are over. */
  private rotate(): void {
    if (this.stopping || this.databaseDown) return;
    for (const turn of this.turns.due()) this.background(this.endTurn(turn.destinationId), `Ending the turn of ${turn.destinationId}`);
  }

  /**
   * Closes a worker whose turn is over. A queue with jobs left joins the back of the line; an
   * empty one is looked at again once enqueuers announce new jobs again (they announce a
   * destination at most once in WAKE_AGAIN_AFTER_MS).
   */
  private async endTurn(destinationId: string): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    await this.stop(destinationId);
    await this.wakeIfQueued(destinationId);
    const quietFor = entry.wokenAt + WAKE_AGAIN_AFTER_MS - Date.now();
    if (quietFor >= 0 && !this.stopping) {
      const timer = setTimeout(() => {
        this.lookAgain.delete(timer);
        this.background(this.wakeIfQueued(destinationId), `Waking ${destinationId}`);
      }, quietFor + 100);
      this.lookAgain.add(timer);
    }
  }

  private async wakeIfQueued(destinationId: string): Promise<void> {
    if (this.stopping || this.running.has(destinationId) || this.starting.has(destinationId)) return;
    try {
      if (!(await this.queueIsIdle(destinationId, ['wait', 'prioritized']))) await this.wake(destinationId);
    } catch (error) {
      this.warnOnce(`Queue of ${destinationId}: ${(error as Error).message}`);
    }
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
   * is gone, disabled or paused, or its circuit holds it, and restarts when the rate limit (a
   * Worker option) changed.
   */
  private async apply(destinationId: string, current: DestinationSettings | null, previous?: DestinationSettings): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    const active = current !== null && current.enabled && !current.paused && !this.circuits.holds(destinationId);
    if (!active || limitChanged(previous ?? entry.destination, current)) {
      await this.stop(destinationId);
      if (active) await this.wake(destinationId);
      return;
    }
    entry.destination = current;
  }

  private async start(destinationId: string, turn: Turn): Promise<void> {
    let destination: DestinationSettings | null;
    try {
      destination = await this.load(destinationId);
    } catch (error) {
      this.giveBack(turn);
      throw error;
    }
    if (!destination || !destination.enabled || destination.paused || this.circuits.holds(destinationId) || this.stopping || this.databaseDown) {
      this.giveBack(turn);
      return;
    }
    const slots = new AttemptSlots(this.config.worker.concurrency);
    const worker = new LimitAwareWorker<DeliveryJobData>(
      destinationQueueName(destinationId),
      async (job, token) => {
        if (entry.refreshing) await entry.refreshing;
        return this.processor.process(job, token, entry.destination, slots);
      },
      {
        connection: this.redis,
        prefix: this.config.queuePrefix,
        concurrency: AttemptSlots.claimAhead(slots.size),
        lockDuration: this.config.worker.lockMs,
        stalledInterval: this.config.worker.lockMs,
        ...(destination.rateLimit ? { limiter: { max: destination.rateLimit.max, duration: destination.rateLimit.durationMs } } : {}),
        settings: { backoffStrategy: deliveryBackoff },
        ...(this.telemetry ? { telemetry: this.telemetry } : {}),
      },
      () => this.metrics.rateLimiterRejections.inc({ source: 'worker' }),
    );
    const entry: Running = { worker, slots, destination, lastActiveAt: Date.now(), wokenAt: Date.now(), turn, refreshing: undefined };
    const touch = () => {
      entry.lastActiveAt = Date.now();
    };
    worker.on('active', () => {
      touch();
      turn.drained = false;
    });
    worker.on('completed', touch);
    worker.on('failed', touch);
    // A rate-limited queue also looks dry while its limit holds: it keeps its turn for the slice.
    worker.on('drained', () => {
      if (entry.destination.rateLimit) return;
      turn.drained = true;
      if (this.turns.waiting > 0) this.rotate();
    });
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
    await this.circuits.scan().catch((error: Error) => this.warnOnce(`Circuit breakers: scan failed (the next scan tries again): ${error.message}`));
    try {
      await Promise.all([...due].map((id) => this.wake(id)));
      const now = Date.now();
      // Workers that start meanwhile (a turn handed on) are read by the next scan.
      const read = [...this.running.keys()];
      const records = await this.destinations.findByIds(read);
      const fresh = new Map(records.map((record) => [record.id, this.settingsOf(record)]));
      for (const id of read) {
        const entry = this.running.get(id);
        if (!entry) continue;
        const idle = !due.has(id) && now - entry.lastActiveAt > this.config.worker.idleMs && (await this.queueIsIdle(id));
        if (idle) await this.stop(id);
        else await this.apply(id, fresh.get(id) ?? null);
      }
    } catch (error) {
      this.logger.warn(`Scan failed: ${(error as Error).message}`);
    }
  }

  /**
   * Nothing waiting or in flight; delayed retries wake the worker again through the scan. The
   * queue object read is dropped after: over time the supervisor looks at every destination's.
   */
  private async queueIsIdle(destinationId: string, states: ('wait' | 'active' | 'prioritized')[] = ['wait', 'active', 'prioritized']): Promise<boolean> {
    try {
      const counts = await this.queues.queue(destinationId).getJobCounts(...states);
      return Object.values(counts).every((count) => count === 0);
    } finally {
      await this.queues.forget(destinationId);
    }
  }

  /**
   * Runs work nobody waits for (a wake notice, a turn handed on, the periodic scan): when
   * PostgreSQL or Redis fails it, it is logged and left to the next scan, which redoes it from
   * the database and the queues.
   */
  private background(work: Promise<void>, what: string): void {
    work.catch((error: unknown) => this.warnOnce(`${what} failed (the next scan tries again): ${error instanceof Error ? error.message : String(error)}`));
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
    // A worker that cannot be paused (Redis is down too) takes no job meanwhile anyway.
    await Promise.allSettled([...this.running.values()].map((entry) => entry.worker.pause(true)));
  }

  private databaseBack(): void {
    this.databaseDown = false;
    this.logger.log(`PostgreSQL answers again; resuming ${this.running.size} queue workers`);
    for (const entry of this.running.values()) entry.worker.resume();
    this.admit();
  }

  private async stop(destinationId: string): Promise<void> {
    const entry = this.running.get(destinationId);
    if (!entry) return;
    this.running.delete(destinationId);
    this.metrics.runningWorkers.set(this.running.size);
    // Jobs claimed ahead that have no attempt slot yet give their claims back instead of sending.
    entry.slots.close();
    try {
      await entry.worker.close();
    } finally {
      this.turns.end(entry.turn);
      this.admit();
    }
    // A wake while it closed may have started a new worker, which still needs the sender's connections.
    if (!this.running.has(destinationId)) await this.senders.release(entry.destination.kind.kind, destinationId);
    this.logger.debug(`Closed the worker of ${destinationId}`);
  }

  /** Stops taking jobs and lets attempts in flight finish, then closes every worker. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.rotation);
    for (const timer of this.lookAgain) clearTimeout(timer);
    this.turns.clear();
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
