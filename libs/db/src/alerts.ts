import { AlertCondition, AlertSettings, DEFAULT_ALERT_SETTINGS, idFloor, newId, storedAlertSettings } from '@dispatch/domain';
import type { Alert } from '../generated/client';
import type { Database, Prisma, PrismaClient } from './prisma';

export type { Alert } from '../generated/client';

export type AlertFilter = { status?: 'open' | 'resolved'; destinationId?: string; beforeId?: string };

/** What the attempts of one destination in its organization's alert window said. */
export type AttemptMeasures = {
  organizationId: string;
  destinationId: string;
  /** Attempts counted (429 answers are not: the receiver is alive and asks to slow down). */
  attempts: number;
  failures: number;
  /** Failed attempts after the newest delivered one in the window (all of them when none was delivered). */
  consecutiveFailures: number;
  deliveredInWindow: boolean;
  /** Average duration of every attempt in the window, 429 answers included. */
  averageResponseMs: number;
};

export type DestinationBacklog = { organizationId: string; destinationId: string; backlog: number };

export type AlertedDestination = { id: string; organizationId: string; name: string };

export type NewAlert = {
  organizationId: string;
  destinationId: string;
  condition: AlertCondition;
  openedAt: Date;
  value: number;
  threshold: number;
  message: string;
};

const OPEN_STATUSES = ['pending', 'delivering', 'retrying'];

/**
 * Alerts and each organization's alert settings. The evaluation's reads are set-based: one
 * statement per kind of measure for every destination at once, each bounded by the alert
 * window (attempts) or by what is open (deliveries, alerts).
 */
export class AlertRepository {
  private readonly prisma: PrismaClient;

  constructor(private readonly database: Database) {
    this.prisma = database.prisma;
  }

  /** The organization's alert settings: as last put, the defaults for what was never set. */
  async settings(organizationId: string): Promise<AlertSettings> {
    const row = await this.prisma.alertSettings.findUnique({ where: { organizationId } });
    return row ? storedAlertSettings(row.settings) : DEFAULT_ALERT_SETTINGS;
  }

  /**
   * Above which average response time (ms) a destination of the organization is slow (its
   * health `degraded`, a `response_time` alert); null when the organization turned that off.
   */
  async responseTimeThresholdMs(organizationId: string): Promise<number | null> {
    return (await this.settings(organizationId)).responseTimeMs;
  }

  /**
   * The widest alert window and the longest cooldown any organization set (the defaults at
   * least): how far back the evaluation's reads of attempts and resolutions go.
   */
  async settingsBounds(): Promise<{ widestWindowMs: number; longestCooldownMs: number }> {
    const [row] = await this.database.sql<{ window_ms: string | null; cooldown_ms: string | null }>(
      `SELECT max((settings->'failureRate'->>'windowMs')::bigint)::text AS window_ms, max((settings->>'cooldownMs')::bigint)::text AS cooldown_ms FROM alert_settings`,
    );
    return {
      widestWindowMs: Math.max(DEFAULT_ALERT_SETTINGS.failureRate!.windowMs, Number(row?.window_ms ?? 0)),
      longestCooldownMs: Math.max(DEFAULT_ALERT_SETTINGS.cooldownMs, Number(row?.cooldown_ms ?? 0)),
    };
  }

  /** The settings of each of the organizations (the defaults for those that never set them). */
  async settingsOf(organizationIds: readonly string[]): Promise<Map<string, AlertSettings>> {
    const rows = await this.prisma.alertSettings.findMany({ where: { organizationId: { in: [...new Set(organizationIds)] } } });
    const stored = new Map(rows.map((row) => [row.organizationId, storedAlertSettings(row.settings)]));
    return new Map(organizationIds.map((id) => [id, stored.get(id) ?? DEFAULT_ALERT_SETTINGS]));
  }

  async putSettings(organizationId: string, settings: AlertSettings): Promise<AlertSettings> {
    const json = settings as unknown as Prisma.InputJsonObject;
    await this.prisma.alertSettings.upsert({ where: { organizationId }, create: { organizationId, settings: json }, update: { settings: json } });
    return settings;
  }

  /** The organization's alerts, newest first. */
  list(organizationId: string, filter: AlertFilter, limit: number): Promise<Alert[]> {
    return this.prisma.alert.findMany({
      where: {
        organizationId,
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.destinationId ? { destinationId: filter.destinationId } : {}),
        ...(filter.beforeId ? { id: { lt: filter.beforeId } } : {}),
      },
      orderBy: { id: 'desc' },
      take: limit,
    });
  }

  find(organizationId: string, id: string): Promise<Alert | null> {
    return this.prisma.alert.findFirst({ where: { organizationId, id } });
  }

  /**
   * Marks an alert acknowledged by `actor` (an API key id): it no longer escalates. The first
   * acknowledgement stays; acknowledging again changes nothing. Null when there is no such alert.
   */
  async acknowledge(organizationId: string, id: string, actor: string, now: Date): Promise<Alert | null> {
    await this.prisma.alert.updateMany({ where: { organizationId, id, acknowledgedAt: null }, data: { acknowledgedAt: now, acknowledgedBy: actor } });
    return this.find(organizationId, id);
  }

  /**
   * One statement for every destination with attempts in its organization's alert window
   * (`failureRate.windowMs`, the default when not set): counts, failures, the failures after
   * the newest delivered attempt, the average duration. Attempts of deliveries of operational
   * events (`operationalTypes`) are left out, so failing to deliver an alert never raises one.
   *
   * Why it is shaped so:
   * - The attempts are found by their primary key from the widest window's start: ids sort by
   *   creation time, and an attempt's id is made when it ends, so only recent attempts are read.
   * - Operational events are few: they are found by type (the index on events(organization_id,
   *   type)) and their deliveries left out by an anti-join, rather than each attempt's event
   *   read to see its type (a third less time on 300,000 attempts).
   * - Failures in a row are those after the newest delivered attempt: a first aggregate finds it
   *   per destination, a second counts behind it (hash aggregates, no sort of the window).
   */
  async attemptMeasures(now: Date, widestWindowMs: number, operationalTypes: readonly string[]): Promise<AttemptMeasures[]> {
    const rows = await this.database.sql<{
      organization_id: string;
      destination_id: string;
      attempts: number;
      failures: number;
      consecutive_failures: number;
      delivered_in_window: boolean;
      average_ms: number;
    }>(
      `WITH operational AS (
         SELECT organization_id, id FROM events
         WHERE organization_id = ANY(ARRAY(SELECT id FROM organizations)) AND type = ANY($5::text[])
       ), recent AS MATERIALIZED (
         SELECT d.organization_id, d.destination_id, a.id, a.duration_ms, a.outcome = 'delivered' AS delivered,
                a.status_code IS NOT DISTINCT FROM 429 AS throttled
         FROM attempts a
         JOIN deliveries d ON d.id = a.delivery_id
         LEFT JOIN alert_settings s ON s.organization_id = d.organization_id
         WHERE a.id >= $1
           AND a.started_at >= $2::timestamp - coalesce((s.settings->'failureRate'->>'windowMs')::bigint, $3) * interval '1 millisecond'
           AND NOT EXISTS (SELECT 1 FROM operational o WHERE o.organization_id = d.organization_id AND o.id = d.event_id)
       ), last AS (
         SELECT destination_id, max(id) FILTER (WHERE delivered) AS last_delivered FROM recent GROUP BY destination_id
       )
       SELECT r.organization_id, r.destination_id,
              count(*) FILTER (WHERE NOT throttled)::int AS attempts,
              count(*) FILTER (WHERE NOT delivered AND NOT throttled)::int AS failures,
              count(*) FILTER (WHERE NOT delivered AND NOT throttled AND (l.last_delivered IS NULL OR r.id > l.last_delivered))::int AS consecutive_failures,
              bool_or(l.last_delivered IS NOT NULL) AS delivered_in_window,
              avg(r.duration_ms)::float8 AS average_ms
       FROM recent r JOIN last l ON l.destination_id = r.destination_id
       GROUP BY r.organization_id, r.destination_id
       LIMIT $4`,
      [idFloor('att', new Date(now.getTime() - widestWindowMs)), now.toISOString(), DEFAULT_ALERT_SETTINGS.failureRate!.windowMs, MAX_DESTINATIONS, operationalTypes],
    );
    return rows.map((row) => ({
      organizationId: row.organization_id,
      destinationId: row.destination_id,
      attempts: row.attempts,
      failures: row.failures,
      consecutiveFailures: row.consecutive_failures,
      deliveredInWindow: row.delivered_in_window,
      averageResponseMs: row.average_ms,
    }));
  }

  /** Open deliveries (pending, delivering, retrying) of every destination that has some: one statement. */
  async backlogs(): Promise<DestinationBacklog[]> {
    const rows = await this.database.sql<{ organization_id: string; destination_id: string; backlog: number }>(
      `SELECT organization_id, destination_id, count(*)::int AS backlog FROM deliveries
       WHERE status = ANY($1::"DeliveryStatus"[]) GROUP BY organization_id, destination_id LIMIT $2`,
      [OPEN_STATUSES, MAX_DESTINATIONS],
    );
    return rows.map((row) => ({ organizationId: row.organization_id, destinationId: row.destination_id, backlog: row.backlog }));
  }

  /**
   * The open deliveries of operational events, per destination, in the organizations given
   * (those with a destination over its backlog threshold): found from the events by type, so it
   * reads only operational events and their deliveries.
   */
  async operationalBacklogs(organizationIds: readonly string[], types: readonly string[]): Promise<Map<string, number>> {
    if (organizationIds.length === 0) return new Map();
    const rows = await this.database.sql<{ destination_id: string; backlog: number }>(
      `SELECT d.destination_id, count(*)::int AS backlog
       FROM events e JOIN deliveries d ON d.organization_id = e.organization_id AND d.event_id = e.id
       WHERE e.organization_id = ANY($1::text[]) AND e.type = ANY($2::text[]) AND d.status = ANY($3::"DeliveryStatus"[])
       GROUP BY d.destination_id`,
      [organizationIds, types, OPEN_STATUSES],
    );
    return new Map(rows.map((row) => [row.destination_id, row.backlog]));
  }

  /** Every open alert (at most one per destination and condition). */
  openAlerts(): Promise<Alert[]> {
    return this.prisma.alert.findMany({ where: { status: 'open' }, take: MAX_DESTINATIONS * 5 });
  }

  /** When each destination's condition last resolved, for those that resolved since `since` (the widest cooldown). */
  async lastResolutions(since: Date): Promise<Map<string, Date>> {
    const rows = await this.database.sql<{ destination_id: string; condition: AlertCondition; resolved_at: Date }>(
      `SELECT destination_id, condition::text AS condition, max(resolved_at) AS resolved_at FROM alerts
       WHERE status = 'resolved' AND resolved_at >= $1::timestamp GROUP BY destination_id, condition`,
      [since.toISOString()],
    );
    return new Map(rows.map((row) => [alertKey(row.destination_id, row.condition), row.resolved_at]));
  }

  /** The destinations among `ids` that still exist, with their names (for the alerts' messages). */
  async destinations(ids: readonly string[]): Promise<AlertedDestination[]> {
    if (ids.length === 0) return [];
    return this.prisma.destination.findMany({ where: { id: { in: [...ids] } }, select: { id: true, organizationId: true, name: true } });
  }

  /** Opens an alert; null when one is open for that destination and condition already (another evaluation opened it). */
  async open(alert: NewAlert): Promise<Alert | null> {
    const rows = await this.database.sql<{ id: string }>(
      `INSERT INTO alerts (id, organization_id, destination_id, condition, status, opened_at, value, threshold, message)
       VALUES ($1, $2, $3, $4::"AlertCondition", 'open', $5::timestamp, $6, $7, $8)
       ON CONFLICT (destination_id, condition) WHERE status = 'open' DO NOTHING RETURNING id`,
      [newId('alr'), alert.organizationId, alert.destinationId, alert.condition, alert.openedAt.toISOString(), alert.value, alert.threshold, alert.message],
    );
    return rows.length === 0 ? null : this.prisma.alert.findUnique({ where: { id: rows[0].id } });
  }

  /** Resolves an open alert; null when it was not open any more. */
  async resolve(id: string, value: number, now: Date): Promise<Alert | null> {
    const changed = await this.prisma.alert.updateMany({ where: { id, status: 'open' }, data: { status: 'resolved', resolvedAt: now, value, announced: false } });
    return changed.count === 0 ? null : this.prisma.alert.findUnique({ where: { id } });
  }

  /** Raises an open, unacknowledged alert to `level`; null when it is no longer that (resolved, acknowledged, raised already). */
  async escalate(id: string, level: number, value: number, now: Date): Promise<Alert | null> {
    const changed = await this.prisma.alert.updateMany({
      where: { id, status: 'open', acknowledgedAt: null, escalationLevel: { lt: level } },
      data: { escalationLevel: level, escalatedAt: now, value, announced: false },
    });
    return changed.count === 0 ? null : this.prisma.alert.findUnique({ where: { id } });
  }

  async updateValue(id: string, value: number, message: string): Promise<void> {
    await this.prisma.alert.updateMany({ where: { id, status: 'open' }, data: { value, message } });
  }

  /** Alerts whose latest change has no operational event yet, oldest first. */
  unannounced(limit: number): Promise<Alert[]> {
    return this.prisma.alert.findMany({ where: { announced: false }, orderBy: { id: 'asc' }, take: limit });
  }

  /** Notes that the change seen (status and level) was announced; a later change stays to announce. */
  async markAnnounced(alert: Pick<Alert, 'id' | 'status' | 'escalationLevel'>): Promise<void> {
    await this.prisma.alert.updateMany({ where: { id: alert.id, status: alert.status, escalationLevel: alert.escalationLevel }, data: { announced: true } });
  }
}

/** The most destinations one evaluation looks at; beyond it, the rest wait for the next (and a warning says so). */
export const MAX_DESTINATIONS = 50_000;

export function alertKey(destinationId: string, condition: AlertCondition): string {
  return `${destinationId} ${condition}`;
}

/** An alert as the API answers it and as the data of its operational events. */
export function alertView(alert: Alert) {
  return {
    id: alert.id,
    condition: alert.condition,
    destinationId: alert.destinationId,
    status: alert.status,
    openedAt: alert.openedAt.toISOString(),
    resolvedAt: alert.resolvedAt?.toISOString() ?? null,
    escalationLevel: alert.escalationLevel,
    escalatedAt: alert.escalatedAt?.toISOString() ?? null,
    value: alert.value,
    threshold: alert.threshold,
    message: alert.message,
    acknowledgedAt: alert.acknowledgedAt?.toISOString() ?? null,
    acknowledgedBy: alert.acknowledgedBy,
  };
}

export type AlertView = ReturnType<typeof alertView>;
