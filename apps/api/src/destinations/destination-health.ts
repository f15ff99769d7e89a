import { Injectable } from '@nestjs/common';
import { AlertRepository, DestinationHealthRecord, DestinationHealthRepository, DestinationRecord } from '@dispatch/db';
import { Circuit, healthStatus, HealthStatus, recentAverageResponseMs, storedRateLimit } from '@dispatch/domain';
import { AdaptiveRates, CircuitBreakers, CircuitReading } from '@dispatch/queue';

/** What destination answers carry of its health (`GET /v1/destinations`, `GET /v1/destinations/:id`). */
export type HealthSummary = { status: HealthStatus; circuit: Circuit };

const CLOSED: CircuitReading = { circuit: 'closed', openedAt: null };

export type HealthView = ReturnType<typeof healthView>;

/** `GET /v1/destinations/:id/health`: the contract's fields, then `recentAverageResponseMs` (the 15-minute average the status reads). */
function healthView(
  destination: DestinationRecord,
  health: DestinationHealthRecord,
  circuit: CircuitReading,
  status: HealthStatus,
  recentAverageMs: number | null,
  backlog: number,
  currentRate: number | null,
) {
  return {
    status,
    circuit: circuit.circuit,
    circuitOpenedAt: circuit.openedAt?.toISOString() ?? null,
    consecutiveFailures: health.consecutiveFailures,
    totalDeliveries: health.totalDeliveries,
    totalFailures: health.totalFailures,
    averageResponseMs: health.averageResponseMs,
    lastSuccessAt: health.lastSuccessAt?.toISOString() ?? null,
    lastFailureAt: health.lastFailureAt?.toISOString() ?? null,
    lastCheckAt: health.lastCheckAt?.toISOString() ?? null,
    disabledAt: destination.enabled ? null : (destination.disabledAt?.toISOString() ?? null),
    disabledReason: destination.enabled ? null : destination.disabledReason,
    backlog,
    currentRate,
    recentAverageResponseMs: recentAverageMs,
  };
}

/**
 * Destination health as the API answers it: the worker's health rows (PostgreSQL), the circuits
 * (Redis), the organization's response-time threshold, and for one destination its backlog and
 * current rate. A page of destinations costs one query per source, whatever its size.
 */
@Injectable()
export class DestinationHealthReader {
  constructor(
    private readonly health: DestinationHealthRepository,
    private readonly alerts: AlertRepository,
    private readonly rates: AdaptiveRates,
    private readonly breakers: CircuitBreakers,
  ) {}

  /** `{ status, circuit }` of each destination of a page (all of one organization). */
  async summaries(organizationId: string, destinations: readonly DestinationRecord[]): Promise<Map<string, HealthSummary>> {
    const ids = destinations.map((destination) => destination.id);
    const [records, circuits, threshold] = await Promise.all([this.health.find(ids), this.breakers.states(ids), this.responseTimeThresholdMs(organizationId)]);
    const now = new Date();
    return new Map(
      destinations.map((destination) => {
        const circuit = circuits.get(destination.id) ?? CLOSED;
        const record = records.get(destination.id) as DestinationHealthRecord;
        return [destination.id, { status: this.status(destination, record, circuit, threshold, now), circuit: circuit.circuit }];
      }),
    );
  }

  /** Everything `GET /v1/destinations/:id/health` answers. */
  async detail(destination: DestinationRecord): Promise<HealthView> {
    const [records, circuit, threshold, backlog, currentRate] = await Promise.all([
      this.health.find([destination.id]),
      this.breakers.state(destination.id),
      this.responseTimeThresholdMs(destination.organizationId),
      this.health.backlog(destination.id),
      this.rates.currentRate(destination.id, storedRateLimit(destination)),
    ]);
    const now = new Date();
    const record = records.get(destination.id) as DestinationHealthRecord;
    return healthView(
      destination,
      record,
      circuit,
      this.status(destination, record, circuit, threshold, now),
      recentAverageResponseMs(record, now),
      backlog,
      currentRate,
    );
  }

  private status(destination: DestinationRecord, record: DestinationHealthRecord, circuit: CircuitReading, threshold: number | null, now: Date): HealthStatus {
    return healthStatus({
      enabled: destination.enabled,
      circuit: circuit.circuit,
      consecutiveFailures: record.consecutiveFailures,
      recentAverageResponseMs: recentAverageResponseMs(record, now),
      responseTimeThresholdMs: threshold,
    });
  }

  /**
   * The organization's `responseTimeMs` alert setting, above which a destination's average
   * response time of the last 15 minutes makes it degraded (null: never).
   */
  private responseTimeThresholdMs(organizationId: string): Promise<number | null> {
    return this.alerts.responseTimeThresholdMs(organizationId);
  }
}
