import { useCallback, useEffect, useState, type FormEvent } from 'react';
import {
  ApiError,
  errorMessage,
  type Api,
  type Destination,
  type DestinationTestResult,
  type ErrorDetail,
} from './api';
import { ErrorAlert } from './ErrorAlert';

interface Props {
  api: Api;
}

interface ShownError {
  scope: 'list' | 'form';
  message: string;
  details: ErrorDetail[];
}

type RowAction = 'pause' | 'resume' | 'test';

function toShownError(scope: ShownError['scope'], error: unknown): ShownError {
  return {
    scope,
    message: errorMessage(error),
    details: error instanceof ApiError ? error.details : [],
  };
}

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

function parseEventTypes(text: string): string[] {
  const types = text
    .split(',')
    .map((type) => type.trim())
    .filter((type) => type !== '');
  return types.length > 0 ? types : ['*'];
}

export function Destinations({ api }: Props) {
  const [destinations, setDestinations] = useState<Destination[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [testResults, setTestResults] = useState<Record<string, DestinationTestResult>>({});
  const [pending, setPending] = useState<Record<string, RowAction>>({});

  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [eventTypes, setEventTypes] = useState('*');
  const [creating, setCreating] = useState(false);

  const load = useCallback(async () => {
    try {
      setDestinations(await api.listDestinations());
    } catch (caught) {
      setError(toShownError('list', caught));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

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
      setError(toShownError('list', caught));
    } finally {
      setPending((current) => {
        const next = { ...current };
        delete next[destination.id];
        return next;
      });
    }
  }

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setCreating(true);
    setError(null);
    setSecret(null);
    try {
      const created = await api.createDestination({
        name: name.trim(),
        kind: 'webhook',
        config: { url: url.trim() },
        eventTypes: parseEventTypes(eventTypes),
      });
      setSecret(created.secret ?? null);
      setName('');
      setUrl('');
      setEventTypes('*');
      await load();
    } catch (caught) {
      setError(toShownError('form', caught));
    } finally {
      setCreating(false);
    }
  }

  return (
    <main className="view">
      <section aria-labelledby="destinations-heading">
        <div className="section-head">
          <h2 id="destinations-heading">Destinations</h2>
        </div>
        {error?.scope === 'list' && <ErrorAlert message={error.message} details={error.details} />}
        {destinations === null ? (
          error?.scope === 'list' ? null : <p className="muted">Loading destinations…</p>
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
                    <td>{destination.name}</td>
                    <td>{destination.kind}</td>
                    <td className="wrap">{destination.config.url ?? '—'}</td>
                    <td>{destination.eventTypes.join(', ')}</td>
                    <td>
                      <span className={`badge badge-${status.split(' ')[0]}`}>{status}</span>
                    </td>
                    <td className="actions">
                      {stopped ? (
                        <button
                          type="button"
                          disabled={busy !== undefined}
                          onClick={() => void runRowAction(destination, 'resume')}
                        >
                          Resume
                        </button>
                      ) : (
                        <button
                          type="button"
                          disabled={busy !== undefined}
                          onClick={() => void runRowAction(destination, 'pause')}
                        >
                          Pause
                        </button>
                      )}
                      <button
                        type="button"
                        disabled={busy !== undefined}
                        onClick={() => void runRowAction(destination, 'test')}
                      >
                        Test
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

      <section aria-labelledby="new-destination-heading" className="card">
        <h2 id="new-destination-heading">New webhook destination</h2>
        {secret && (
          <p role="status" className="notice">
            Signing secret — shown once: <code>{secret}</code>
          </p>
        )}
        <form aria-labelledby="new-destination-heading" onSubmit={create} noValidate>
          <label htmlFor="destination-name">Name</label>
          <input
            id="destination-name"
            type="text"
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
          <label htmlFor="destination-url">URL</label>
          <input
            id="destination-url"
            type="text"
            inputMode="url"
            placeholder="https://example.com/hook"
            value={url}
            onChange={(event) => setUrl(event.target.value)}
          />
          <label htmlFor="destination-event-types">Event types</label>
          <input
            id="destination-event-types"
            type="text"
            aria-describedby="destination-event-types-hint"
            value={eventTypes}
            onChange={(event) => setEventTypes(event.target.value)}
          />
          <p id="destination-event-types-hint" className="hint">
            Comma separated patterns, e.g. <code>order.created, invoice.*</code>; <code>*</code>{' '}
            matches every event.
          </p>
          {error?.scope === 'form' && <ErrorAlert message={error.message} details={error.details} />}
          <button type="submit" className="primary" disabled={creating}>
            Create destination
          </button>
        </form>
      </section>
    </main>
  );
}
