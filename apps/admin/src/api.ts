// Typed client of the Dispatch REST API (see docs/API.md).

import type { JsonSchema } from './configSchema';
import type { AlertSettings } from './alertSettings';
import type { CircuitBreaker, RateLimit, RetryPolicy } from './deliverySettings';

export type { AlertSettings } from './alertSettings';
export type { CircuitBreaker, RateLimit, RetryPolicy } from './deliverySettings';

export const API_KEY_STORAGE = 'dispatch.apiKey';

export type DeliveryStatus = 'pending' | 'delivering' | 'retrying' | 'delivered' | 'failed' | 'cancelled';

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivering', 'retrying', 'delivered', 'failed', 'cancelled'];

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** A destination's config as the API shows it: never with its signing secret, every credential `"********"`. */
export type DestinationConfig = Record<string, unknown>;

export interface Destination {
  id: string;
  name: string;
  kind: string;
  config: DestinationConfig;
  eventTypes: string[];
  enabled: boolean;
  paused: boolean;
  disabledReason: string | null;
  ordering: string;
  rateLimit: RateLimit | null;
  circuitBreaker?: CircuitBreaker;
  retryPolicy: RetryPolicy | null;
  /** `{ status, circuit }` (docs/API.md, "Flow control and health"). */
  health?: HealthSummary;
  createdAt: string;
  updatedAt?: string;
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'disabled';

export type CircuitState = 'closed' | 'open' | 'half-open';

/** What a destination answer carries of its health. */
export interface HealthSummary {
  status: HealthStatus;
  circuit: CircuitState;
}

/** `GET /v1/destinations/:id/health`. */
export interface DestinationHealth extends HealthSummary {
  circuitOpenedAt: string | null;
  consecutiveFailures: number;
  totalDeliveries: number;
  totalFailures: number;
  averageResponseMs: number | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastCheckAt: string | null;
  disabledAt: string | null;
  disabledReason: string | null;
  /** Open deliveries: pending, delivering, retrying. */
  backlog: number;
  /** The rate it is sent at now under an adaptive rate limit, in attempts per `rateLimit.durationMs`; null without one. */
  currentRate: number | null;
  /** The average response time of the last 15 minutes (what makes it degraded). */
  recentAverageResponseMs?: number | null;
}

export type MetricsBucket = 'minute' | 'hour';

/** One bucket of `GET /v1/metrics/deliveries`; the percentiles are null when nothing was delivered in it. */
export interface MetricsPoint {
  start: string;
  delivered: number;
  failed: number;
  retried: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

export interface DeliveryMetrics {
  buckets: MetricsPoint[];
  totals: { delivered: number; failed: number; retried: number };
}

export interface MetricsQuery {
  destinationId?: string;
  since?: string;
  until?: string;
  bucket: MetricsBucket;
}

export type AlertCondition = 'failure_rate' | 'consecutive_failures' | 'backlog' | 'response_time' | 'circuit_open';

export type AlertStatus = 'open' | 'resolved';

export interface Alert {
  id: string;
  condition: AlertCondition;
  destinationId: string;
  status: AlertStatus;
  openedAt: string;
  resolvedAt: string | null;
  escalationLevel: number;
  value: number;
  threshold: number;
  message: string;
  acknowledgedAt?: string | null;
  acknowledgedBy?: string | null;
}

export interface AlertFilter {
  status?: AlertStatus;
  destinationId?: string;
}

export interface CreatedDestination extends Destination {
  secret?: string;
}

export interface NewDestination {
  name: string;
  kind: string;
  config: DestinationConfig;
  eventTypes: string[];
  rateLimit?: RateLimit | null;
  /** Left-out fields take their defaults. */
  circuitBreaker?: Partial<CircuitBreaker>;
  retryPolicy?: RetryPolicy;
}

/**
 * Changes to a destination (PATCH): fields left out stay as they are. `config` is replaced
 * whole, but without `config.secret` the stored signing secret is kept, and a credential sent
 * back as `"********"` keeps its stored value.
 */
export interface DestinationChanges {
  name?: string;
  config?: DestinationConfig;
  eventTypes?: string[];
  rateLimit?: RateLimit | null;
  /** Left-out fields take their defaults. */
  circuitBreaker?: Partial<CircuitBreaker>;
  retryPolicy?: RetryPolicy;
}

/** A kind of destination that can be created, with the JSON Schema of its config. */
export interface DestinationKind {
  kind: string;
  configSchema: JsonSchema;
  /** Config properties that hold secrets: never shown, and left out when left blank. */
  secretFields: string[];
}

export interface DestinationTestResult {
  ok: boolean;
  statusCode?: number;
  durationMs: number;
  error?: string;
}

export interface Delivery {
  id: string;
  eventId: string;
  destinationId: string;
  status: DeliveryStatus;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatusCode: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface Attempt {
  number: number;
  startedAt: string;
  durationMs: number | null;
  statusCode: number | null;
  responseBody: string | null;
  error: string | null;
  trigger: 'scheduled' | 'manual';
}

export interface DeliveryDetail extends Delivery {
  attempts: Attempt[];
}

export interface DeliveryFilter {
  status?: DeliveryStatus;
  destinationId?: string;
  limit?: number;
}

/** Statuses a bulk action can select: every one but `delivering` (in flight). */
export type SelectableStatus = Exclude<DeliveryStatus, 'delivering'>;

/** Which deliveries a replay selects; without `status`, dead letters (`failed`). */
export interface DeliverySelection {
  destinationId?: string;
  status?: SelectableStatus | SelectableStatus[];
}

/** What a replay would select (dry run). */
export interface ReplayCount {
  count: number;
}

/** A replay that was started: `count` deliveries get a new attempt now. */
export interface ReplayStarted {
  count: number;
  replayId: string;
}

/** The filter a replay was started with, as recorded. */
export interface ReplayFilter {
  statuses: SelectableStatus[];
  destinationId?: string;
  eventType?: string;
  since?: string;
  until?: string;
}

/** Progress of a replay: `done` of its `total` deliveries have settled since it started. */
export interface Replay {
  id: string;
  filter: ReplayFilter;
  total: number;
  done: number;
  remaining: number;
  byStatus: Partial<Record<DeliveryStatus, number>>;
  createdAt: string;
  /** The id of the API key that started it. */
  createdBy: string;
}

/** One operator action; `actor` is the id of the API key that made it. */
export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown> | null;
}

export type ApiKeyRole = 'admin' | 'producer' | 'viewer';

export const API_KEY_ROLES: readonly ApiKeyRole[] = ['admin', 'producer', 'viewer'];

/** An API key of the organization as the API lists it: never the key itself. */
export interface ApiKey {
  id: string;
  name: string;
  role: ApiKeyRole;
  createdAt: string;
  /** Precise to a minute. */
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** `GET /v1/organization`: the caller's organization, and the role of the key that asked. */
export interface Organization {
  id: string;
  name: string;
  role?: ApiKeyRole;
}

export interface NewApiKey {
  name: string;
  role: ApiKeyRole;
}

/** A key just created: `key` is in this answer only. */
export interface CreatedApiKey {
  id: string;
  name: string;
  role: ApiKeyRole;
  key: string;
  createdAt: string;
}

/** `GET /v1/presence/:subject`: whether a device of the subject is connected, to any API process. */
export interface Presence {
  subject: string;
  online: boolean;
  sessions: number;
}

/** One live WebSocket session (`GET /v1/stream-sessions?subject=`). */
export interface StreamSession {
  id: string;
  subject: string;
  /** The API process that holds it. */
  process: string;
  connectedAt: string;
  remoteAddress: string;
}

/** `GET /v1/stream-subjects/:subject`: the subject's stream of pushed frames and what is kept for replay. */
export interface StreamSubject {
  subject: string;
  /** The last `seq` given (0: nothing pushed yet). */
  latestSeq: number;
  /** Frames kept for replay. */
  kept: number;
  oldestKeptSeq: number | null;
}

export interface ErrorDetail {
  path: string;
  message: string;
}

/** A non-2xx answer of the API, or a network failure (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly details: ErrorDetail[];

  constructor(status: number, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toApiError(status: number, statusText: string, body: unknown): ApiError {
  let message = `${status} ${statusText}`.trim();
  let details: ErrorDetail[] = [];
  if (isRecord(body)) {
    const raw = body.message;
    if (typeof raw === 'string' && raw !== '') {
      message = raw;
    } else if (Array.isArray(raw) && raw.length > 0) {
      message = raw.map(String).join('; ');
    }
    if (Array.isArray(body.details)) {
      details = body.details.filter(isRecord).map((d) => ({
        path: Array.isArray(d.path) ? d.path.join('.') : String(d.path ?? ''),
        message: String(d.message ?? ''),
      }));
    }
  }
  return new ApiError(status, message, details);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Calls the API with the key; throws ApiError on anything but 2xx. */
export async function request<T>(apiKey: string, method: Method, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Authorization: `Bearer ${apiKey}`,
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `Cannot reach the API: ${errorMessage(error)}`);
  }

  const payload = parseJson(await response.text());
  if (!response.ok) throw toApiError(response.status, response.statusText, payload);
  return payload as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

const id = encodeURIComponent;

export interface Api {
  listDestinations(): Promise<Destination[]>;
  /** The caller's organization and its key's role, read once per client (again only after a failure). */
  getOrganization(): Promise<Organization>;
  getDestination(destinationId: string): Promise<Destination>;
  getDestinationHealth(destinationId: string): Promise<DestinationHealth>;
  /** Delivered, failed and retried per bucket, with p50/p95 latency (the last 24 hours without since/until). */
  getDeliveryMetrics(metricsQuery: MetricsQuery): Promise<DeliveryMetrics>;
  listAlerts(filter: AlertFilter): Promise<Alert[]>;
  /** Acknowledges an alert (admin keys): it escalates no further. */
  acknowledgeAlert(alertId: string): Promise<void>;
  getAlertSettings(): Promise<AlertSettings>;
  /** Replaces the organization's alert settings whole (admin keys). */
  updateAlertSettings(settings: AlertSettings): Promise<AlertSettings>;
  /** The kinds that can be created, read once per client (again only after a failure). */
  listDestinationKinds(): Promise<DestinationKind[]>;
  createDestination(input: NewDestination): Promise<CreatedDestination>;
  updateDestination(destinationId: string, changes: DestinationChanges): Promise<Destination>;
  pauseDestination(destinationId: string): Promise<void>;
  resumeDestination(destinationId: string): Promise<void>;
  testDestination(destinationId: string): Promise<DestinationTestResult>;
  listDeliveries(filter: DeliveryFilter): Promise<Page<Delivery>>;
  getDelivery(deliveryId: string): Promise<DeliveryDetail>;
  retryDelivery(deliveryId: string): Promise<void>;
  /** The dry run of a replay: how many deliveries it would select. */
  countReplay(selection: DeliverySelection): Promise<ReplayCount>;
  /** Starts a replay: a new attempt now for every selected delivery. */
  replayDeliveries(selection: DeliverySelection): Promise<ReplayStarted>;
  getReplay(replayId: string): Promise<Replay>;
  /** Cancels a pending, retrying or failed delivery (409 otherwise). */
  cancelDelivery(deliveryId: string): Promise<Delivery>;
  /** The latest operator actions, newest first. */
  listAuditLog(limit?: number): Promise<Page<AuditEntry>>;
  /** The organization's API keys, revoked ones included, oldest first (admin keys only). */
  listApiKeys(): Promise<ApiKey[]>;
  createApiKey(input: NewApiKey): Promise<CreatedApiKey>;
  /** Revokes a key at once (409 for the organization's last admin key). */
  revokeApiKey(apiKeyId: string): Promise<void>;
  getPresence(subject: string): Promise<Presence>;
  /** The subject's live sessions, on every API process. */
  listStreamSessions(subject: string): Promise<StreamSession[]>;
  getStreamSubject(subject: string): Promise<StreamSubject>;
}

/** Entries of the audit log read at once. */
const AUDIT_LOG_LIMIT = 50;

/** At most this many pages of destinations are read for one list. */
const MAX_DESTINATION_PAGES = 20;

/**
 * Builds the client for one API key. `onUnauthorized` runs on any 401
 * (the key was revoked or is unknown) before the error is thrown.
 */
export function createApi(apiKey: string, onUnauthorized: () => void): Api {
  async function call<T>(method: Method, path: string, body?: unknown): Promise<T> {
    try {
      return await request<T>(apiKey, method, path, body);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) onUnauthorized();
      throw error;
    }
  }

  let kinds: Promise<DestinationKind[]> | null = null;
  let organization: Promise<Organization> | null = null;

  return {
    async listDestinations() {
      const all: Destination[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < MAX_DESTINATION_PAGES; page++) {
        const result: Page<Destination> = await call<Page<Destination>>('GET', `/v1/destinations${query({ cursor: cursor ?? undefined })}`);
        all.push(...result.data);
        cursor = result.nextCursor;
        if (!cursor) break;
      }
      return all;
    },
    getOrganization() {
      organization ??= call<Organization>('GET', '/v1/organization').catch((error: unknown) => {
        organization = null;
        throw error;
      });
      return organization;
    },
    getDestination: (destinationId) => call<Destination>('GET', `/v1/destinations/${id(destinationId)}`),
    getDestinationHealth: (destinationId) => call<DestinationHealth>('GET', `/v1/destinations/${id(destinationId)}/health`),
    getDeliveryMetrics: (metricsQuery) => call<DeliveryMetrics>('GET', `/v1/metrics/deliveries${query({ ...metricsQuery })}`),
    listAlerts: async (filter) => (await call<{ data: Alert[] }>('GET', `/v1/alerts${query({ status: filter.status, destinationId: filter.destinationId })}`)).data,
    acknowledgeAlert: async (alertId) => {
      await call<unknown>('POST', `/v1/alerts/${id(alertId)}/acknowledge`);
    },
    getAlertSettings: () => call<AlertSettings>('GET', '/v1/alert-settings'),
    updateAlertSettings: (settings) => call<AlertSettings>('PUT', '/v1/alert-settings', settings),
    listDestinationKinds() {
      kinds ??= call<{ data: DestinationKind[] }>('GET', '/v1/destination-kinds').then(
        (answer) => answer.data,
        (error: unknown) => {
          kinds = null;
          throw error;
        },
      );
      return kinds;
    },
    createDestination: (input) => call<CreatedDestination>('POST', '/v1/destinations', input),
    updateDestination: (destinationId, changes) => call<Destination>('PATCH', `/v1/destinations/${id(destinationId)}`, changes),
    pauseDestination: async (destinationId) => {
      await call<unknown>('POST', `/v1/destinations/${id(destinationId)}/pause`);
    },
    resumeDestination: async (destinationId) => {
      await call<unknown>('POST', `/v1/destinations/${id(destinationId)}/resume`);
    },
    testDestination: (destinationId) => call<DestinationTestResult>('POST', `/v1/destinations/${id(destinationId)}/test`),
    listDeliveries: (filter) =>
      call<Page<Delivery>>(
        'GET',
        `/v1/deliveries${query({
          status: filter.status,
          destinationId: filter.destinationId,
          limit: filter.limit,
        })}`,
      ),
    getDelivery: (deliveryId) => call<DeliveryDetail>('GET', `/v1/deliveries/${id(deliveryId)}`),
    retryDelivery: async (deliveryId) => {
      await call<unknown>('POST', `/v1/deliveries/${id(deliveryId)}/retry`);
    },
    countReplay: (selection) => call<ReplayCount>('POST', '/v1/deliveries/retry', { ...selection, dryRun: true }),
    replayDeliveries: (selection) => call<ReplayStarted>('POST', '/v1/deliveries/retry', { ...selection, dryRun: false }),
    getReplay: (replayId) => call<Replay>('GET', `/v1/replays/${id(replayId)}`),
    cancelDelivery: (deliveryId) => call<Delivery>('POST', `/v1/deliveries/${id(deliveryId)}/cancel`),
    listAuditLog: (limit = AUDIT_LOG_LIMIT) => call<Page<AuditEntry>>('GET', `/v1/audit-log${query({ limit })}`),
    listApiKeys: async () => (await call<{ data: ApiKey[] }>('GET', '/v1/api-keys')).data,
    createApiKey: (input) => call<CreatedApiKey>('POST', '/v1/api-keys', input),
    revokeApiKey: async (apiKeyId) => {
      await call<unknown>('DELETE', `/v1/api-keys/${id(apiKeyId)}`);
    },
    getPresence: (subject) => call<Presence>('GET', `/v1/presence/${id(subject)}`),
    listStreamSessions: async (subject) => (await call<{ data: StreamSession[] }>('GET', `/v1/stream-sessions${query({ subject })}`)).data,
    getStreamSubject: (subject) => call<StreamSubject>('GET', `/v1/stream-subjects/${id(subject)}`),
  };
}

/** Checks a key by listing destinations; resolves when the API accepts it. */
export async function verifyApiKey(apiKey: string): Promise<void> {
  await request<Page<Destination>>(apiKey, 'GET', '/v1/destinations');
}
