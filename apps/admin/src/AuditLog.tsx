import { useCallback, useEffect, useState } from 'react';
import { errorMessage, type Api, type AuditEntry } from './api';
import { ErrorAlert } from './ErrorAlert';
import { formatTime } from './format';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
}

/** The details of an entry as one line of JSON. */
function compactJson(value: unknown): string {
  if (value === null || value === undefined) return '—';
  try {
    return JSON.stringify(value) ?? '—';
  } catch {
    return String(value);
  }
}

/** Newest first; entries at the same time keep the API's order. */
function newestFirst(entries: AuditEntry[]): AuditEntry[] {
  return [...entries].sort((a, b) => Date.parse(b.at) - Date.parse(a.at) || 0);
}

/** The latest operator actions (admin keys only). */
export function AuditLog({ api }: Props) {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const startRequest = useLatestRequest();

  const load = useCallback(async () => {
    const isLatest = startRequest();
    setLoading(true);
    setError(null);
    try {
      const page = await api.listAuditLog();
      if (isLatest()) setEntries(newestFirst(page.data));
    } catch (caught) {
      if (isLatest()) setError(errorMessage(caught));
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <main className="view">
      <section aria-labelledby="audit-heading">
        <div className="section-head">
          <h2 id="audit-heading">Audit log</h2>
          <div className="filters">
            <button type="button" onClick={() => void load()} disabled={loading}>
              Refresh
            </button>
          </div>
        </div>

        {error && <ErrorAlert message={error} />}
        {entries === null ? (
          error ? null : (
            <p className="muted">Loading the audit log…</p>
          )
        ) : entries.length === 0 ? (
          <p className="muted">No operator actions yet.</p>
        ) : (
          <table aria-label="Audit log">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.id}>
                  <td className="nowrap">{formatTime(entry.at)}</td>
                  <td>
                    <code>{entry.actor}</code>
                  </td>
                  <td>{entry.action}</td>
                  <td>
                    <code>{entry.target}</code>
                  </td>
                  <td className="wrap">
                    <code>{compactJson(entry.details)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
