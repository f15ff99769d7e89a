import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { type Api, type DeliveryMetrics, type Destination, type DestinationHealth, type MetricsBucket } from './api';
import { Deliveries } from './Deliveries';
import { DestinationForm } from './DestinationForm';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { formatTime } from './format';
import { HealthBadge } from './HealthBadge';
import { circuitText, metricsRange, millisecondsText, rateText } from './health';
import { useDestinationKinds } from './useDestinationKinds';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
  destinationId: string;
}

/** The chart library is loaded with the first destination page, not with the app. */
const DeliveryChart = lazy(() => import('./DeliveryChart').then((module) => ({ default: module.DeliveryChart })));

/** Health and the chart are read again this often while the page is shown. */
const REFRESH_MS = 30_000;

/**
 * One destination: its health, its deliveries over time (chart), its recent deliveries, and its
 * settings, editable. Reached from the destinations list (`#/destinations/<id>`).
 */
export function DestinationPage({ api, destinationId }: Props) {
  const [destination, setDestination] = useState<Destination | null>(null);
  const [destinationError, setDestinationError] = useState<ShownError | null>(null);
  const [health, setHealth] = useState<DestinationHealth | null>(null);
  const [healthError, setHealthError] = useState<ShownError | null>(null);
  const [bucket, setBucket] = useState<MetricsBucket>('minute');
  const [metrics, setMetrics] = useState<DeliveryMetrics | null>(null);
  const [metricsError, setMetricsError] = useState<ShownError | null>(null);
  const { kinds, error: kindsError } = useDestinationKinds(api);
  const [notice, setNotice] = useState<string | null>(null);
  const [actionError, setActionError] = useState<ShownError | null>(null);
  const [busy, setBusy] = useState(false);
  const startDestinationRequest = useLatestRequest();
  const startHealthRequest = useLatestRequest();
  const startMetricsRequest = useLatestRequest();

  const loadDestination = useCallback(async () => {
    const isLatest = startDestinationRequest();
    try {
      const found = await api.getDestination(destinationId);
      if (isLatest()) {
        setDestination(found);
        setDestinationError(null);
      }
    } catch (caught) {
      if (isLatest()) setDestinationError(toShownError(caught));
    }
  }, [api, destinationId, startDestinationRequest]);

  const loadHealth = useCallback(async () => {
    const isLatest = startHealthRequest();
    try {
      const found = await api.getDestinationHealth(destinationId);
      if (isLatest()) {
        setHealth(found);
        setHealthError(null);
      }
    } catch (caught) {
      if (isLatest()) setHealthError(toShownError(caught));
    }
  }, [api, destinationId, startHealthRequest]);

  const loadMetrics = useCallback(async () => {
    const isLatest = startMetricsRequest();
    try {
      const found = await api.getDeliveryMetrics({ destinationId, bucket, ...metricsRange(bucket, new Date()) });
      if (isLatest()) {
        setMetrics(found);
        setMetricsError(null);
      }
    } catch (caught) {
      if (isLatest()) setMetricsError(toShownError(caught));
    }
  }, [api, destinationId, bucket, startMetricsRequest]);

  useEffect(() => {
    void loadDestination();
    void loadHealth();
  }, [loadDestination, loadHealth]);

  useEffect(() => {
    void loadMetrics();
  }, [loadMetrics]);

  useEffect(() => {
    const timer = setInterval(() => {
      void loadHealth();
      void loadMetrics();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [loadHealth, loadMetrics]);

  function refresh() {
    void loadDestination();
    void loadHealth();
    void loadMetrics();
  }

  async function pauseOrResume(action: 'pause' | 'resume') {
    setBusy(true);
    setActionError(null);
    setNotice(null);
    try {
      if (action === 'pause') await api.pauseDestination(destinationId);
      else await api.resumeDestination(destinationId);
      setNotice(action === 'pause' ? 'Paused: deliveries wait until it is resumed.' : 'Resumed: deliveries flow again.');
      await Promise.all([loadDestination(), loadHealth()]);
    } catch (caught) {
      setActionError(toShownError(caught));
    } finally {
      setBusy(false);
    }
  }

  async function saved(updated: Destination | null) {
    setNotice(updated ? `Saved ${updated.name}.` : 'No changes to save.');
    if (updated) {
      setDestination(updated);
      await Promise.all([loadDestination(), loadHealth()]);
    }
  }

  if (destination === null) {
    return (
      <main className="view">
        <p className="breadcrumb">
          <a href="#/destinations">← Destinations</a>
        </p>
        {destinationError ? <ErrorAlert message={destinationError.message} details={destinationError.details} /> : <p className="muted">Loading the destination…</p>}
      </main>
    );
  }

  const stopped = destination.paused || !destination.enabled;

  return (
    <main className="view">
      <div>
        <p className="breadcrumb">
          <a href="#/destinations">← Destinations</a>
        </p>
        <div className="section-head">
          <h2 className="page-title">
            {destination.name}
            <span className="muted">{destination.kind}</span>
          </h2>
          <div className="filters">
            {stopped ? (
              <button type="button" disabled={busy} onClick={() => void pauseOrResume('resume')}>
                Resume
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => void pauseOrResume('pause')}>
                Pause
              </button>
            )}
            <button type="button" onClick={refresh}>
              Refresh
            </button>
          </div>
        </div>
        {destinationError && <ErrorAlert message={destinationError.message} details={destinationError.details} />}
        {actionError && <ErrorAlert message={actionError.message} details={actionError.details} />}
        {notice && (
          <p role="status" className="notice">
            {notice}
          </p>
        )}
      </div>

      <section aria-labelledby="health-heading" className="card">
        <div className="section-head">
          <h2 id="health-heading">Health</h2>
          <HealthBadge health={health ?? destination.health} />
        </div>
        {healthError && <ErrorAlert message={`Cannot read the health: ${healthError.message}`} details={healthError.details} />}
        {health === null ? healthError ? null : <p className="muted">Loading health…</p> : <HealthFacts health={health} destination={destination} />}
      </section>

      <section aria-labelledby="chart-heading" className="card">
        <div className="section-head">
          <h2 id="chart-heading">Deliveries over time</h2>
          <div className="segmented" role="group" aria-label="Bucket">
            <button type="button" aria-pressed={bucket === 'minute'} onClick={() => setBucket('minute')}>
              Per minute
            </button>
            <button type="button" aria-pressed={bucket === 'hour'} onClick={() => setBucket('hour')}>
              Per hour
            </button>
          </div>
        </div>
        {metricsError && <ErrorAlert message={`Cannot read the metrics: ${metricsError.message}`} details={metricsError.details} />}
        {metrics === null ? (
          metricsError ? null : (
            <p className="muted">Loading metrics…</p>
          )
        ) : (
          <Suspense fallback={<p className="muted">Loading the chart…</p>}>
            <DeliveryChart metrics={metrics} bucket={bucket} />
          </Suspense>
        )}
      </section>

      <Deliveries api={api} destinationId={destinationId} />

      <section aria-labelledby="settings-heading" className="card">
        <h2 id="settings-heading">Settings</h2>
        {kindsError && <ErrorAlert message={`Cannot read the destination kinds: ${kindsError.message}`} details={kindsError.details} />}
        {kinds === null && !kindsError ? (
          <p className="muted">Loading destination kinds…</p>
        ) : (
          <DestinationForm
            key={destination.updatedAt ?? destination.id}
            api={api}
            kinds={kinds}
            destination={destination}
            labelledBy="settings-heading"
            idPrefix="settings"
            onSaved={saved}
          />
        )}
      </section>
    </main>
  );
}

/** The health answer as labelled figures; `totalDeliveries` counts attempts made (docs/api.md). */
function HealthFacts({ health, destination }: { health: DestinationHealth; destination: Destination }) {
  const failureShare = health.totalDeliveries === 0 ? '' : ` (${Math.round((health.totalFailures / health.totalDeliveries) * 1000) / 10}%)`;
  return (
    <dl className="stats">
      <div>
        <dt>Status</dt>
        <dd>
          {health.status}
          {destination.paused ? ' (paused)' : ''}
        </dd>
      </div>
      <div>
        <dt>Circuit</dt>
        <dd>
          {circuitText(health.circuit)}
          {health.circuitOpenedAt ? `, since ${formatTime(health.circuitOpenedAt)}` : ''}
        </dd>
      </div>
      <div>
        <dt>Consecutive failures</dt>
        <dd>{health.consecutiveFailures}</dd>
      </div>
      <div>
        <dt>Attempts made</dt>
        <dd>{health.totalDeliveries}</dd>
      </div>
      <div>
        <dt>Failed attempts</dt>
        <dd>
          {health.totalFailures}
          {failureShare}
        </dd>
      </div>
      <div>
        <dt>Average response</dt>
        <dd>{millisecondsText(health.averageResponseMs)}</dd>
      </div>
      {health.recentAverageResponseMs !== undefined && (
        <div>
          <dt>Last 15 minutes</dt>
          <dd>{millisecondsText(health.recentAverageResponseMs)}</dd>
        </div>
      )}
      <div>
        <dt>Last success</dt>
        <dd>{formatTime(health.lastSuccessAt)}</dd>
      </div>
      <div>
        <dt>Last failure</dt>
        <dd>{formatTime(health.lastFailureAt)}</dd>
      </div>
      <div>
        <dt>Backlog</dt>
        <dd>{health.backlog}</dd>
      </div>
      <div>
        <dt>Current rate</dt>
        <dd>{rateText(health.currentRate, destination.rateLimit)}</dd>
      </div>
      {health.disabledAt && (
        <div>
          <dt>Disabled</dt>
          <dd>
            {formatTime(health.disabledAt)}
            {health.disabledReason ? ` — ${health.disabledReason}` : ''}
          </dd>
        </div>
      )}
    </dl>
  );
}
