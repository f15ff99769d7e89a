import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AuditRepository, DestinationRecord, DestinationRepository } from '@dispatch/db';
import type { DestinationSettings } from '@dispatch/destinations';
import {
  attemptHealth,
  Circuit,
  CIRCUIT_GAUGE,
  CircuitBreakerSettings,
  CircuitTransition,
  storedCircuitBreaker,
  transitionAfterAttempt,
  transitionInTime,
} from '@dispatch/domain';
import { CircuitBreakers, DeliveryQueues, parseCircuitNotice } from '@dispatch/queue';
import { OpenCircuits } from '../alerts/open-circuits';
import { destinationSummary, OperationalEvents } from '@dispatch/ingest';
import { WorkerMetrics } from '../operations/worker-metrics';
import { AttemptObserver, AttemptObservers, AttemptReport } from './attempt-observers';

/**
 * How often the successes of closed circuits are counted in Redis: together, one round trip per
 * destination, instead of one per attempt. A failure is counted at once, with the successes
 * made before it.
 */
const SUCCESSES_COUNTED_EVERY_MS = 100;

/** Audit actions of the circuit's transitions. */
const AUDIT_ACTION: Readonly<Record<Circuit, string>> = {
  open: 'destination.circuit_opened',
  'half-open': 'destination.circuit_half_opened',
  closed: 'destination.circuit_closed',
};

/**
 * The worker's side of the destinations' circuit breakers (state shared in Redis:
 * `CircuitBreakers`). As an attempt observer it counts each attempt's outcome (a failure at
 * once, in one Redis round trip; the successes on a closed circuit together every 100 ms;
 * nothing for a destination whose breaker is disabled, nor for a throttled answer) and makes
 * the transition it causes. It keeps what this process knows of the circuits that are not
 * closed, so that the hot path asks Redis nothing more while the circuit is closed:
 * - `admit` (before a job claims its delivery): an open circuit lets nothing through; a
 *   half-open one lets a job through only if it gets one of the `halfOpenMaxCalls` probes;
 * - `isOpen` (before a claimed job sends): a job whose circuit opened while it waited for an
 *   attempt slot gives its claim back;
 * - `holds` (the supervisor): the destination's worker stops, as for a paused destination.
 * The transition to open pauses the destination's queue; the one to half-open (made by the
 * periodic `scan` of whichever worker process gets there first) resumes it unless an operator
 * paused the destination. Every transition is announced to every process, audited and logged
 * once (actor `dispatch`), by the process that made it.
 */
@Injectable()
export class DestinationCircuits implements AttemptObserver, OnApplicationShutdown {
  private readonly logger = new Logger(DestinationCircuits.name);
  /** Circuits this process knows are not closed. */
  private readonly known = new Map<string, Circuit>();
  /** Half-open circuits whose probes this process found all taken. */
  private readonly probesTaken = new Set<string>();
  private readonly listeners: ((destinationId: string) => void)[] = [];
  /** Successes on closed circuits not counted in Redis yet, by destination. */
  private readonly successes = new Map<string, { destination: DestinationSettings; count: number }>();
  private successTimer: NodeJS.Timeout | undefined;
  private lastWarning = { message: '', at: 0 };

  constructor(
    private readonly circuits: CircuitBreakers,
    private readonly queues: DeliveryQueues,
    private readonly destinations: DestinationRepository,
    private readonly audit: AuditRepository,
    private readonly metrics: WorkerMetrics,
    private readonly events: OperationalEvents,
    observers: AttemptObservers,
    openCircuits: OpenCircuits,
  ) {
    observers.subscribe(this);
    // The `circuit_open` alert reads the circuits that are not closed from the same list as the scan.
    openCircuits.use(() => this.circuits.notClosed());
  }

  /** Calls `listener` when what `holds` says of a destination may have changed. */
  onChange(listener: (destinationId: string) => void): void {
    this.listeners.push(listener);
  }

  /** Whether the destination's worker must stop: its circuit is open, or half-open with every probe taken. */
  holds(destinationId: string): boolean {
    const circuit = this.known.get(destinationId);
    return circuit === 'open' || (circuit === 'half-open' && this.probesTaken.has(destinationId));
  }

  isOpen(destinationId: string): boolean {
    return this.known.get(destinationId) === 'open';
  }

  /** Whether a job of `destination` may make its attempt now (in half-open, taking a probe). */
  async admit(destination: DestinationSettings): Promise<boolean> {
    const circuit = this.known.get(destination.id);
    if (circuit === undefined || !destination.circuitBreaker.enabled) return true;
    if (circuit === 'open' || this.probesTaken.has(destination.id)) return false;
    const probe = await this.circuits.probe(destination.id, destination.circuitBreaker.halfOpenMaxCalls);
    this.learn(destination.id, probe.circuit);
    if (!probe.admitted && probe.circuit === 'half-open') {
      this.probesTaken.add(destination.id);
      this.changed(destination.id);
    }
    return probe.admitted;
  }

  attempted({ destination, result, outcome }: AttemptReport): void {
    const signal = attemptHealth(result, outcome);
    if (!destination.circuitBreaker.enabled || signal === 'throttled') return;
    const successes = this.successes.get(destination.id);
    if (signal === 'success' && !this.known.has(destination.id)) {
      // A success on a closed circuit changes nothing at once: it is counted with the others of the next moments.
      if (successes) successes.count += 1;
      else this.successes.set(destination.id, { destination, count: 1 });
      this.successTimer ??= setTimeout(() => this.countSuccesses(), SUCCESSES_COUNTED_EVERY_MS);
      return;
    }
    // A failure (or a probe's answer) is counted at once, after the successes made before it.
    this.successes.delete(destination.id);
    const counts = { successes: (successes?.count ?? 0) + (signal === 'success' ? 1 : 0), failures: signal === 'failure' ? 1 : 0 };
    this.background(this.count(destination, signal, counts));
  }

  /** Counts the successes gathered since the last time, one round trip per destination. */
  private countSuccesses(): void {
    this.successTimer = undefined;
    const gathered = [...this.successes.values()];
    this.successes.clear();
    for (const { destination, count } of gathered) this.background(this.count(destination, 'success', { successes: count, failures: 0 }));
  }

  private background(counting: Promise<void>): void {
    counting.catch((error: Error) => this.warnOnce(`Circuit breakers: counting an attempt failed: ${error.message}`));
  }

  /** Successes not counted yet are counted before the process stops. */
  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.successTimer);
    const gathered = [...this.successes.values()];
    this.successes.clear();
    await Promise.allSettled(gathered.map(({ destination, count }) => this.count(destination, 'success', { successes: count, failures: 0 })));
  }

  /** A transition announced by a process (this one included). */
  noticed(message: string): void {
    const notice = parseCircuitNotice(message);
    if (notice) this.learn(notice.destinationId, notice.circuit, true);
  }

  private async count(destination: DestinationSettings, signal: 'success' | 'failure', counts: { successes: number; failures: number }): Promise<void> {
    const settings = destination.circuitBreaker;
    const snapshot = await this.circuits.record(destination.id, counts, settings.windowMs);
    this.learn(destination.id, snapshot.circuit);
    const transition = transitionAfterAttempt(settings, snapshot, signal);
    if (transition) await this.make(destination.id, snapshot, transition);
  }

  /**
   * From the supervisor's periodic scan: reads the circuits listed as not closed, makes the
   * transitions their time brings (open → half-open after `recoveryTimeoutMs`; any → closed when
   * the breaker was disabled), keeps open circuits' queues paused (an operator's resume racing
   * the transition to open may have resumed one), and sets the metric.
   */
  async scan(now = Date.now()): Promise<void> {
    const listed = await this.circuits.notClosed();
    for (const destinationId of [...this.known.keys()]) if (!listed.has(destinationId)) this.learn(destinationId, 'closed');
    if (listed.size > 0) {
      const records = new Map((await this.destinations.findByIds([...listed.keys()])).map((record) => [record.id, record]));
      for (const destinationId of listed.keys()) await this.scanOne(destinationId, records.get(destinationId), now);
    }
    this.setGauge();
  }

  private async scanOne(destinationId: string, record: DestinationRecord | undefined, now: number): Promise<void> {
    if (!record) {
      await this.circuits.remove(destinationId);
      this.learn(destinationId, 'closed');
      return;
    }
    const stored = await this.circuits.read(destinationId);
    this.learn(destinationId, stored.circuit);
    if (stored.circuit === 'closed') {
      await this.circuits.unlist(destinationId);
      return;
    }
    try {
      if (stored.circuit === 'open' && !(await this.queues.queue(destinationId).isPaused())) await this.queues.pause(destinationId);
      const transition = transitionInTime(settingsOf(record), stored, now);
      if (transition) await this.make(destinationId, stored, transition, record);
    } finally {
      // Over time the scan looks at many destinations' queues: it keeps no object of any.
      await this.queues.forget(destinationId);
    }
  }

  /** Makes a transition if no other process made one first; then acts on it, here only. */
  private async make(destinationId: string, from: { circuit: Circuit; generation: number }, transition: CircuitTransition, read?: DestinationRecord): Promise<void> {
    if (!(await this.circuits.transition(destinationId, from, transition.to))) return;
    this.learn(destinationId, transition.to, true);
    if (transition.to === 'open') this.metrics.circuitTrips.inc();
    let record = read;
    try {
      if (transition.to === 'open') await this.queues.pause(destinationId);
      record ??= (await this.destinations.findById(destinationId)) ?? undefined;
      // The circuit paused the queue when it opened; an operator's pause stays.
      if (transition.to !== 'open' && from.circuit === 'open' && record && !record.paused) await this.queues.resume(destinationId);
    } finally {
      if (!read) await this.queues.forget(destinationId);
    }
    if (!record) return;
    const message = `Circuit of destination ${destinationId} ${from.circuit} → ${transition.to}: ${transition.reason}`;
    if (transition.to === 'open') this.logger.warn(message);
    else this.logger.log(message);
    await this.audit.record({
      organizationId: record.organizationId,
      actor: 'dispatch',
      action: AUDIT_ACTION[transition.to],
      target: destinationId,
      details: { from: from.circuit, to: transition.to, reason: transition.reason },
    });
    if (transition.to === 'open') await this.announceOpened(record, transition, settingsOf(record));
  }

  /** `dispatch.destination.circuit_opened`, to the organization's destinations that subscribe to it. */
  private async announceOpened(record: DestinationRecord, transition: CircuitTransition, settings: CircuitBreakerSettings): Promise<void> {
    const opened = await this.circuits.state(record.id);
    const openedAt = (opened.openedAt ?? new Date()).toISOString();
    await this.events.emit(
      record.organizationId,
      'dispatch.destination.circuit_opened',
      { destination: destinationSummary(record), openedAt, reason: transition.reason, recoveryTimeoutMs: settings.recoveryTimeoutMs },
      { aboutDestinationId: record.id, id: `${record.id}.circuit_opened.${Date.parse(openedAt)}` },
    );
  }

  /**
   * Takes what this process learned of a circuit; tells the supervisor when it changed.
   * `transition`: it comes from a transition, so even the same circuit is new (a half-open one
   * made half-open afresh has its probes back).
   */
  private learn(destinationId: string, circuit: Circuit, transition = false): void {
    const before = this.known.get(destinationId) ?? 'closed';
    if (before === circuit && !transition) return;
    if (circuit === 'closed') this.known.delete(destinationId);
    else this.known.set(destinationId, circuit);
    this.probesTaken.delete(destinationId);
    this.setGauge(destinationId);
    this.changed(destinationId);
  }

  /** Logs a warning, but the same one at most every 30 s (a Redis outage fails every attempt's count). */
  private warnOnce(message: string): void {
    const now = Date.now();
    if (message === this.lastWarning.message && now - this.lastWarning.at < 30_000) return;
    this.lastWarning = { message, at: now };
    this.logger.warn(message);
  }

  private changed(destinationId: string): void {
    for (const listener of this.listeners) listener(destinationId);
  }

  /**
   * `dispatch_circuit_breaker_state` has a series only for destinations whose circuit is not
   * closed (1 half-open, 2 open); a circuit that closes has its series removed, so thousands of
   * healthy destinations add none.
   */
  private setGauge(destinationId?: string): void {
    const ids = destinationId === undefined ? [...this.known.keys()] : [destinationId];
    if (destinationId === undefined) this.metrics.circuitState.reset();
    for (const id of ids) {
      const circuit = this.known.get(id);
      if (circuit) this.metrics.circuitState.set({ destination: id }, CIRCUIT_GAUGE[circuit]);
      else this.metrics.circuitState.remove({ destination: id });
    }
  }
}

function settingsOf(record: DestinationRecord): CircuitBreakerSettings {
  return storedCircuitBreaker(record.circuitBreaker);
}
