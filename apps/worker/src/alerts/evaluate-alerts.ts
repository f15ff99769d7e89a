import { Injectable, Logger } from '@nestjs/common';
import { Alert, alertKey, AlertRepository, AlertedDestination, alertView, AttemptMeasures, MAX_DESTINATIONS } from '@dispatch/db';
import {
  ALERT_CONDITIONS,
  ALERTING_EVENT_TYPES,
  alertMessage,
  AlertSettings,
  alertWindowMs,
  conditionEnabled,
  decideAlert,
  DestinationMeasures,
  observeConditions,
  OpenAlertState,
  OperationalEventType,
} from '@dispatch/domain';
import { OperationalEvents } from '@dispatch/ingest';
import { OpenCircuits } from './open-circuits';
import { WorkerMetrics } from '../operations/worker-metrics';

/** The name of the maintenance queue's alert evaluation jobs. */
export const ALERTS_JOB = 'evaluate-alerts';

/** Alerts whose change is announced per evaluation at most; the rest in the next. */
const ANNOUNCE_BATCH = 500;

export type AlertReport = { opened: number; escalated: number; resolved: number; announced: number };

/**
 * Evaluates the five alert conditions of every destination (see decideAlert and
 * observeConditions in @dispatch/domain for the rules) and announces each change of an alert
 * as an operational event. Runs as a job of the maintenance queue every
 * DISPATCH_ALERTS_EVALUATE_MS, so one worker process evaluates at a time.
 *
 * The reads are set-based (one statement for the attempts of every destination in its alert
 * window, one for the backlogs, one for the open alerts, one for the recent resolutions, one
 * read of the open circuits), so an evaluation costs the same few statements however many
 * destinations there are. Deliveries of the alert and destination events (ALERTING_EVENT_TYPES)
 * never count: failing to deliver an alert does not raise another. Presence events count like
 * any producer's: a destination that cannot take them is failing.
 *
 * A change is written first and announced after (`announced` marks it done), so an event lost
 * to a crash or a database error between the two is emitted by the next evaluation; its id is
 * derived from the alert and the change, so it is never written twice.
 */
@Injectable()
export class EvaluateAlerts {
  private readonly logger = new Logger(EvaluateAlerts.name);

  constructor(
    private readonly alerts: AlertRepository,
    private readonly events: OperationalEvents,
    private readonly circuits: OpenCircuits,
    private readonly metrics: WorkerMetrics,
  ) {}

  async run(now: Date = new Date()): Promise<AlertReport> {
    const report: AlertReport = { opened: 0, escalated: 0, resolved: 0, announced: 0 };
    const bounds = await this.alerts.settingsBounds();
    const measured = await this.alerts.attemptMeasures(now, bounds.widestWindowMs, ALERTING_EVENT_TYPES);
    const backlogs = await this.alerts.backlogs();
    const open = await this.alerts.openAlerts();
    const resolutions = await this.alerts.lastResolutions(new Date(now.getTime() - bounds.longestCooldownMs));
    const openCircuits = await this.circuits.read();
    if (measured.length >= MAX_DESTINATIONS || backlogs.length >= MAX_DESTINATIONS) {
      this.logger.warn(`More than ${MAX_DESTINATIONS} destinations to evaluate: the others wait for a later evaluation`);
    }

    const attempts = new Map(measured.map((row) => [row.destinationId, row]));
    const backlog = new Map(backlogs.map((row) => [row.destinationId, row.backlog]));
    const openByKey = new Map(open.map((alert) => [alertKey(alert.destinationId, alert.condition), alert]));
    const ids = new Set([...attempts.keys(), ...backlog.keys(), ...open.map((alert) => alert.destinationId), ...(openCircuits ?? [])]);
    const destinations = new Map((await this.alerts.destinations([...ids])).map((destination) => [destination.id, destination]));
    const settings = await this.alerts.settingsOf([...new Set([...destinations.values()].map((destination) => destination.organizationId))]);
    await this.leaveOutOperationalBacklog(backlog, destinations, settings);

    for (const id of ids) {
      const destination = destinations.get(id);
      if (!destination) {
        report.resolved += await this.resolveAllOf(id, openByKey, now);
        continue;
      }
      const orgSettings = settings.get(destination.organizationId) as AlertSettings;
      const observed = observeConditions(measuresOf(attempts.get(id), backlog.get(id) ?? 0, openCircuits, id), orgSettings);
      for (const condition of ALERT_CONDITIONS) {
        const alert = openByKey.get(alertKey(id, condition));
        if (alert && !conditionEnabled(condition, orgSettings)) {
          // Turned off in the settings: its open alert ends, at the value last seen.
          if (await this.alerts.resolve(alert.id, alert.value, now)) {
            report.resolved += 1;
            this.metrics.alertChanges.inc({ condition, change: 'resolved' });
          }
          continue;
        }
        const decision = decideAlert(observed[condition], alert && openState(alert), resolutions.get(alertKey(id, condition)), orgSettings, now);
        const message = (value: number, threshold: number) => alertMessage(condition, destination.name, value, threshold, alertWindowMs(orgSettings));
        switch (decision.action) {
          case 'open': {
            const opened = await this.alerts.open({
              organizationId: destination.organizationId,
              destinationId: id,
              condition,
              openedAt: now,
              value: decision.value,
              threshold: decision.threshold,
              message: message(decision.value, decision.threshold),
            });
            if (opened) {
              report.opened += 1;
              this.metrics.alertChanges.inc({ condition, change: 'opened' });
            }
            break;
          }
          case 'resolve':
            if (await this.alerts.resolve((alert as Alert).id, decision.value, now)) {
              report.resolved += 1;
              this.metrics.alertChanges.inc({ condition, change: 'resolved' });
            }
            break;
          case 'escalate':
            if (await this.alerts.escalate((alert as Alert).id, decision.level, decision.value, now)) {
              report.escalated += 1;
              this.metrics.alertChanges.inc({ condition, change: 'escalated' });
            }
            break;
          case 'update':
            await this.alerts.updateValue((alert as Alert).id, decision.value, message(decision.value, (alert as Alert).threshold));
            break;
        }
      }
    }
    report.announced = await this.announce();
    if (report.opened + report.escalated + report.resolved > 0) {
      this.logger.log(`Alerts: ${report.opened} opened, ${report.escalated} escalated, ${report.resolved} resolved`);
    }
    return report;
  }

  /**
   * Emits the operational event of every alert change not yet announced: to the destinations
   * subscribed to it, never to the destination the alert is about. One that fails (the
   * database) is left for the next evaluation.
   */
  async announce(): Promise<number> {
    let announced = 0;
    for (const alert of await this.alerts.unannounced(ANNOUNCE_BATCH)) {
      const { type, id } = announcement(alert);
      try {
        await this.events.emit(alert.organizationId, type, alertView(alert), { aboutDestinationId: alert.destinationId, id });
        await this.alerts.markAnnounced(alert);
        announced += 1;
      } catch (error) {
        this.logger.warn(`The ${type} event of alert ${alert.id} waits for the next evaluation: ${(error as Error).message}`);
      }
    }
    return announced;
  }

  /** A deleted destination's open alerts resolve: nothing about it can hold any more. */
  private async resolveAllOf(destinationId: string, openByKey: ReadonlyMap<string, Alert>, now: Date): Promise<number> {
    let resolved = 0;
    for (const condition of ALERT_CONDITIONS) {
      const alert = openByKey.get(alertKey(destinationId, condition));
      if (alert && (await this.alerts.resolve(alert.id, alert.value, now))) {
        resolved += 1;
        this.metrics.alertChanges.inc({ condition, change: 'resolved' });
      }
    }
    return resolved;
  }

  /**
   * Deliveries of alert and destination events waiting for a destination do not make it backlogged. They
   * are counted (from the events, by type) only in organizations with a destination over its
   * threshold, where they could make the difference.
   */
  private async leaveOutOperationalBacklog(
    backlog: Map<string, number>,
    destinations: ReadonlyMap<string, AlertedDestination>,
    settings: ReadonlyMap<string, AlertSettings>,
  ): Promise<void> {
    const over = new Set<string>();
    for (const [id, count] of backlog) {
      const destination = destinations.get(id);
      const threshold = destination && settings.get(destination.organizationId)?.backlog;
      if (destination && threshold !== null && threshold !== undefined && count > threshold) over.add(destination.organizationId);
    }
    const operational = await this.alerts.operationalBacklogs([...over], ALERTING_EVENT_TYPES);
    for (const [id, count] of operational) backlog.set(id, Math.max(0, (backlog.get(id) ?? 0) - count));
  }
}

function measuresOf(attempts: AttemptMeasures | undefined, backlog: number, openCircuits: Set<string> | null, id: string): DestinationMeasures {
  return {
    attempts: attempts?.attempts ?? null,
    failures: attempts?.failures ?? null,
    consecutiveFailures: attempts?.consecutiveFailures ?? null,
    deliveredInWindow: attempts?.deliveredInWindow ?? null,
    averageResponseMs: attempts?.averageResponseMs ?? null,
    backlog,
    circuitOpen: openCircuits === null ? null : openCircuits.has(id),
  };
}

function openState(alert: Alert): OpenAlertState {
  return { openedAt: alert.openedAt, escalationLevel: alert.escalationLevel, acknowledgedAt: alert.acknowledgedAt, value: alert.value };
}

/** The event of an alert's latest change, and its id (the same whenever that change is announced). */
export function announcement(alert: Pick<Alert, 'id' | 'status' | 'escalationLevel'>): { type: OperationalEventType; id: string } {
  if (alert.status === 'resolved') return { type: 'dispatch.alert.resolved', id: `${alert.id}.resolved` };
  if (alert.escalationLevel > 0) return { type: 'dispatch.alert.escalated', id: `${alert.id}.escalated.${alert.escalationLevel}` };
  return { type: 'dispatch.alert.opened', id: `${alert.id}.opened` };
}
