import { useCallback, useEffect, useState } from 'react';
import { type Alert, type AlertStatus, type Api } from './api';
import { AlertSettingsForm } from './AlertSettingsForm';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { formatTime } from './format';
import { alertValueText, conditionText } from './health';
import { useLatestRequest } from './useLatestRequest';
import { useRole } from './useRole';

interface Props {
  api: Api;
}

type StatusFilter = AlertStatus | 'all';

function isStatusFilter(value: string): value is StatusFilter {
  return value === 'open' || value === 'resolved' || value === 'all';
}

/** The organization's alerts (open or resolved, by destination), their acknowledgement, and the alert settings. */
export function Alerts({ api }: Props) {
  const [destinationNames, setDestinationNames] = useState<Map<string, string>>(new Map());
  const [status, setStatus] = useState<StatusFilter>('open');
  const [destinationFilter, setDestinationFilter] = useState('');
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [listError, setListError] = useState<ShownError | null>(null);
  const [confirming, setConfirming] = useState<Alert | null>(null);
  const [acknowledging, setAcknowledging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const startRequest = useLatestRequest();
  const role = useRole(api);
  /** Acknowledging and changing the settings need an admin key; offered unless the key is known to be another role. */
  const mayChange = role === null || role === 'admin';

  useEffect(() => {
    let current = true;
    api.listDestinations().then(
      (found) => {
        if (current) setDestinationNames(new Map(found.map((destination) => [destination.id, destination.name])));
      },
      (caught: unknown) => {
        if (current) setListError(toShownError(caught));
      },
    );
    return () => {
      current = false;
    };
  }, [api]);

  const load = useCallback(async () => {
    const isLatest = startRequest();
    setLoading(true);
    try {
      const listed = await api.listAlerts({ status: status === 'all' ? undefined : status, destinationId: destinationFilter === '' ? undefined : destinationFilter });
      if (isLatest()) {
        setAlerts(listed);
        setListError(null);
      }
    } catch (caught) {
      if (isLatest()) setListError(toShownError(caught));
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, status, destinationFilter, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  const destinationName = (id: string) => destinationNames.get(id) ?? id;

  async function acknowledge(alert: Alert) {
    setAcknowledging(true);
    setListError(null);
    setNotice(null);
    try {
      await api.acknowledgeAlert(alert.id);
      setNotice(`Acknowledged the ${conditionText(alert.condition).toLowerCase()} alert of ${destinationName(alert.destinationId)}: it escalates no further.`);
      await load();
    } catch (caught) {
      setListError(toShownError(caught));
    } finally {
      setConfirming(null);
      setAcknowledging(false);
    }
  }

  return (
    <main className="view">
      <section aria-labelledby="alerts-heading">
        <div className="section-head">
          <h2 id="alerts-heading">Alerts</h2>
          <div className="filters">
            <label htmlFor="alert-status">Status</label>
            <select
              id="alert-status"
              value={status}
              onChange={(event) => {
                if (isStatusFilter(event.target.value)) setStatus(event.target.value);
                setConfirming(null);
              }}
            >
              <option value="open">open</option>
              <option value="resolved">resolved</option>
              <option value="all">all</option>
            </select>
            <label htmlFor="alert-destination">Destination</label>
            <select
              id="alert-destination"
              value={destinationFilter}
              onChange={(event) => {
                setDestinationFilter(event.target.value);
                setConfirming(null);
              }}
            >
              <option value="">all</option>
              {[...destinationNames].map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </select>
            <button type="button" onClick={() => void load()} disabled={loading}>
              Refresh
            </button>
          </div>
        </div>
        {listError && <ErrorAlert message={listError.message} details={listError.details} />}
        {!mayChange && <p className="hint replay-note">{`Acknowledging an alert needs an admin key: this one is a ${role} key.`}</p>}
        {notice && (
          <p role="status" className="notice replay-note">
            {notice}
          </p>
        )}
        {confirming && (
          <div role="group" aria-labelledby="acknowledge-confirm-question" className="confirm">
            <p id="acknowledge-confirm-question">{`Acknowledge the ${conditionText(confirming.condition).toLowerCase()} alert of ${destinationName(confirming.destinationId)}? It stays open until the condition clears, but escalates no further.`}</p>
            <button type="button" className="primary" disabled={acknowledging} onClick={() => void acknowledge(confirming)}>
              Acknowledge alert
            </button>
            <button type="button" disabled={acknowledging} onClick={() => setConfirming(null)} autoFocus>
              Cancel
            </button>
          </div>
        )}
        {alerts === null ? (
          listError ? null : (
            <p className="muted">Loading alerts…</p>
          )
        ) : alerts.length === 0 ? (
          <p className="muted">{status === 'open' ? 'No open alerts: every destination is within its thresholds.' : 'No alerts match.'}</p>
        ) : (
          <table aria-label="Alerts">
            <thead>
              <tr>
                <th scope="col">Opened</th>
                <th scope="col">Destination</th>
                <th scope="col">Condition</th>
                <th scope="col">Value</th>
                <th scope="col">Status</th>
                <th scope="col">Escalation</th>
                <th scope="col">Message</th>
                {mayChange && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {alerts.map((alert) => (
                <tr key={alert.id}>
                  <td className="nowrap">{formatTime(alert.openedAt)}</td>
                  <td>
                    <a href={`#/destinations/${encodeURIComponent(alert.destinationId)}`}>{destinationName(alert.destinationId)}</a>
                  </td>
                  <td>{conditionText(alert.condition)}</td>
                  <td>{alertValueText(alert)}</td>
                  <td>
                    <span className={`badge badge-${alert.status}`}>{alert.status}</span>
                    {alert.resolvedAt && <div className="hint">{formatTime(alert.resolvedAt)}</div>}
                    {alert.acknowledgedAt && <div className="hint">{`acknowledged ${formatTime(alert.acknowledgedAt)}`}</div>}
                  </td>
                  <td>{alert.escalationLevel === 0 ? '—' : `level ${alert.escalationLevel}`}</td>
                  <td className="text">{alert.message}</td>
                  {mayChange && (
                    <td>
                      {alert.status === 'open' && !alert.acknowledgedAt && (
                        <button
                          type="button"
                          aria-label={`Acknowledge the ${conditionText(alert.condition).toLowerCase()} alert of ${destinationName(alert.destinationId)}`}
                          disabled={acknowledging}
                          onClick={() => setConfirming(alert)}
                        >
                          Acknowledge
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <AlertSettingsForm api={api} readOnly={!mayChange} />
    </main>
  );
}
