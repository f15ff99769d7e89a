import { useCallback, useEffect, useRef, useState } from 'react';
import { type Api, type CreatedDestination, type Destination, type DestinationTestResult } from './api';
import { DestinationForm } from './DestinationForm';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { HealthBadge } from './HealthBadge';
import { useDestinationKinds } from './useDestinationKinds';

interface Props {
  api: Api;
}

type RowAction = 'pause' | 'resume' | 'test';

function destinationStatus(destination: Destination): string {
  if (!destination.enabled) {
    return destination.disabledReason ? `disabled (${destination.disabledReason})` : 'disabled';
  }
  return destination.paused ? 'paused' : 'active';
}

function describeTest(result: DestinationTestResult): string {
  const code = result.statusCode === undefined ? '' : ` — HTTP ${result.statusCode}`;
  const error = result.error ? `: ${result.error}` : '';
  return `${result.ok ? 'OK' : 'Failed'}${code} in ${result.durationMs} ms${error}`;
}

export function Destinations({ api }: Props) {
  const [destinations, setDestinations] = useState<Destination[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [testResults, setTestResults] = useState<Record<string, DestinationTestResult>>({});
  const [pending, setPending] = useState<Record<string, RowAction>>({});

  const { kinds, error: kindsError } = useDestinationKinds(api);
  const [editing, setEditing] = useState<Destination | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const editHeading = useRef<HTMLHeadingElement>(null);

  const load = useCallback(async () => {
    try {
      setDestinations(await api.listDestinations());
    } catch (caught) {
      setError(toShownError(caught));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(() => {
    if (editing) editHeading.current?.focus();
  }, [editing]);

  function startEditing(destination: Destination) {
    setSaved(null);
    setSecret(null);
    setEditing(destination);
  }

  async function finishEditing(original: Destination, updated: Destination | null) {
    if (updated) {
      setDestinations((current) => current?.map((destination) => (destination.id === updated.id ? updated : destination)) ?? null);
    }
    setEditing(null);
    setSaved(updated ? `Saved ${updated.name}.` : `No changes to ${original.name}.`);
    if (updated) await load();
  }

  async function created(destination: CreatedDestination) {
    setSaved(null);
    setSecret(destination.secret ?? null);
    await load();
  }

  async function runRowAction(destination: Destination, action: RowAction) {
    setPending((current) => ({ ...current, [destination.id]: action }));
    setError(null);
    try {
      if (action === 'test') {
        const result = await api.testDestination(destination.id);
        setTestResults((current) => ({ ...current, [destination.id]: result }));
      } else {
        if (action === 'pause') await api.pauseDestination(destination.id);
        else await api.resumeDestination(destination.id);
        await load();
      }
    } catch (caught) {
      setError(toShownError(caught));
    } finally {
      setPending((current) => {
        const next = { ...current };
        delete next[destination.id];
        return next;
      });
    }
  }

  return (
    <main className="view">
      <section aria-labelledby="destinations-heading">
        <div className="section-head">
          <h2 id="destinations-heading">Destinations</h2>
        </div>
        {error && <ErrorAlert message={error.message} details={error.details} />}
        {saved && (
          <p role="status" className="notice replay-note">
            {saved}
          </p>
        )}
        {destinations === null ? (
          error ? null : (
            <p className="muted">Loading destinations…</p>
          )
        ) : destinations.length === 0 ? (
          <p className="muted">No destinations yet. Create one below.</p>
        ) : (
          <table aria-label="Destinations">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">URL</th>
                <th scope="col">Event types</th>
                <th scope="col">Status</th>
                <th scope="col">Health</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {destinations.map((destination) => {
                const status = destinationStatus(destination);
                const busy = pending[destination.id];
                const result = testResults[destination.id];
                const stopped = destination.paused || !destination.enabled;
                return (
                  <tr key={destination.id}>
                    <td>
                      <a href={`#/destinations/${encodeURIComponent(destination.id)}`}>{destination.name}</a>
                    </td>
                    <td>{destination.kind}</td>
                    <td className="wrap">{typeof destination.config.url === 'string' ? destination.config.url : '—'}</td>
                    <td>{destination.eventTypes.join(', ')}</td>
                    <td>
                      <span className={`badge badge-${status.split(' ')[0]}`}>{status}</span>
                    </td>
                    <td>
                      <HealthBadge health={destination.health} />
                    </td>
                    <td className="actions">
                      {stopped ? (
                        <button type="button" disabled={busy !== undefined} onClick={() => void runRowAction(destination, 'resume')}>
                          Resume
                        </button>
                      ) : (
                        <button type="button" disabled={busy !== undefined} onClick={() => void runRowAction(destination, 'pause')}>
                          Pause
                        </button>
                      )}
                      <button type="button" disabled={busy !== undefined} onClick={() => void runRowAction(destination, 'test')}>
                        Test
                      </button>
                      <button type="button" aria-pressed={editing?.id === destination.id} onClick={() => startEditing(destination)}>
                        Edit
                      </button>
                      {busy === 'test' && <span className="muted">Testing…</span>}
                      {result && busy !== 'test' && (
                        <span role="status" className={result.ok ? 'test-ok' : 'test-failed'}>
                          {describeTest(result)}
                        </span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      {editing ? (
        <section aria-labelledby="edit-destination-heading" className="card">
          <h2 id="edit-destination-heading" ref={editHeading} tabIndex={-1}>
            Edit {editing.name}
          </h2>
          {kinds === null && !kindsError ? (
            <p className="muted">Loading destination kinds…</p>
          ) : (
            <DestinationForm
              key={editing.id}
              api={api}
              kinds={kinds}
              destination={editing}
              labelledBy="edit-destination-heading"
              idPrefix="edit-destination"
              onSaved={(updated) => finishEditing(editing, updated)}
              onCancel={() => setEditing(null)}
            />
          )}
        </section>
      ) : (
        <section aria-labelledby="new-destination-heading" className="card">
          <h2 id="new-destination-heading">New destination</h2>
          {secret && (
            <p role="status" className="notice">
              Signing secret — shown once: <code>{secret}</code>
            </p>
          )}
          {kindsError ? (
            <ErrorAlert message={`Cannot read the destination kinds: ${kindsError.message}`} details={kindsError.details} />
          ) : kinds === null ? (
            <p className="muted">Loading destination kinds…</p>
          ) : kinds.length === 0 ? (
            <p className="muted">The API offers no kinds of destination to create.</p>
          ) : (
            <DestinationForm api={api} kinds={kinds} labelledBy="new-destination-heading" idPrefix="destination" onCreated={created} />
          )}
        </section>
      )}
    </main>
  );
}
