import { useCallback, useEffect, useState } from 'react';
import { ApiError, errorMessage, type Api, type EventDelivery, type EventStory } from './api';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { categoryLabel, formatBytes, payloadText, PAYLOAD_SHOWN_BYTES } from './events';
import { formatDuration, formatTime } from './format';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
  eventId: string;
}

/** One event's story: its payload, trace id, every destination it went to and every attempt. */
export function EventPage({ api, eventId }: Props) {
  const [event, setEvent] = useState<EventStory | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [missing, setMissing] = useState(false);
  const [loading, setLoading] = useState(false);
  const startRequest = useLatestRequest();

  const load = useCallback(async () => {
    const isLatest = startRequest();
    setLoading(true);
    setError(null);
    try {
      const found = await api.getEvent(eventId);
      if (isLatest()) setEvent(found);
    } catch (caught) {
      if (!isLatest()) return;
      if (caught instanceof ApiError && caught.status === 404) setMissing(true);
      else setError(toShownError(caught));
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, eventId, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <main className="view">
      <p className="breadcrumb">
        <a href="#/events">Events</a> / <code>{eventId}</code>
      </p>
      {missing ? (
        <section className="card" aria-labelledby="event-heading">
          <h2 id="event-heading" className="page-title">
            Event not found
          </h2>
          <p role="alert">
            No event <code>{eventId}</code> in this organization. Check the id (ids are case-sensitive) or search the <a href="#/events">events</a> by type, correlation
            id and time.
          </p>
        </section>
      ) : (
        <>
          <div className="section-head">
            <h2 id="event-heading" className="page-title">
              {event ? event.type : 'Event'}
              <span className="muted">
                <code>{eventId}</code>
              </span>
            </h2>
            <button type="button" onClick={() => void load()} disabled={loading}>
              Refresh
            </button>
          </div>
          {error && <ErrorAlert message={error.message} details={error.details} />}
          {event === null ? error ? null : <p className="muted">Loading the event…</p> : <EventStoryView event={event} />}
        </>
      )}
    </main>
  );
}

function EventStoryView({ event }: { event: EventStory }) {
  return (
    <>
      <section aria-labelledby="event-facts-heading" className="card">
        <h2 id="event-facts-heading" className="card-title">
          Event
        </h2>
        <dl className="stats">
          <div>
            <dt>Received</dt>
            <dd>{formatTime(event.receivedAt)}</dd>
          </div>
          <div>
            <dt>Source</dt>
            <dd>{event.source ?? '—'}</dd>
          </div>
          <div>
            <dt>Correlation id</dt>
            <dd>{event.correlationId ?? '—'}</dd>
          </div>
          <div>
            <dt>Ordering key</dt>
            <dd>{event.orderingKey ?? '—'}</dd>
          </div>
          <div>
            <dt>Priority</dt>
            <dd>{event.priority}</dd>
          </div>
          <div>
            <dt>Tags</dt>
            <dd>{event.tags.length > 0 ? event.tags.join(', ') : '—'}</dd>
          </div>
          <div className="wide">
            <dt>Trace id</dt>
            <dd>
              <TraceId traceId={event.traceId} />
            </dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="payload-heading" className="card">
        <h2 id="payload-heading" className="card-title">
          Payload
        </h2>
        <Payload value={event.data} label="Payload" fileName={`${event.id}.json`} />
      </section>

      <section aria-labelledby="event-deliveries-heading">
        <h2 id="event-deliveries-heading" className="section-title">
          Deliveries ({event.deliveries.length})
        </h2>
        {event.deliveries.length === 0 ? (
          <p className="notice empty-state">
            No destination wanted this event: none is subscribed to type <code>{event.type}</code>. Add the type to a destination&rsquo;s event types on the{' '}
            <a href="#/destinations">Destinations</a> page; events sent from then on go to it.
          </p>
        ) : (
          event.deliveries.map((delivery) => <DeliveryStory key={delivery.id} delivery={delivery} />)
        )}
      </section>
    </>
  );
}

function TraceId({ traceId }: { traceId: string | null }) {
  const [copied, setCopied] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  if (traceId === null) return <span className="muted">none (tracing was off when the event arrived)</span>;

  async function copy(value: string) {
    setCopied(null);
    setProblem(null);
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied');
    } catch (caught) {
      setProblem(`Cannot copy: ${errorMessage(caught)}. Select the id and copy it.`);
    }
  }

  return (
    <span className="copy-line">
      <code>{traceId}</code>
      <button type="button" onClick={() => void copy(traceId)} aria-label="Copy trace id">
        Copy
      </button>
      <span role="status" className="muted">
        {copied}
      </span>
      {problem && (
        <span role="alert" className="field-problem">
          {problem}
        </span>
      )}
    </span>
  );
}

interface PayloadProps {
  value: unknown;
  /** What the payload is, for the names of its controls. */
  label: string;
  fileName: string;
  /** What Download saves, when not the pretty JSON shown (a body byte for byte as it was sent). */
  raw?: string;
}

/** JSON text as a value to indent; text that is not JSON as it is. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A payload as pretty JSON: its first 64 KiB, with a note and the rest on demand (shown, or downloaded). */
function Payload({ value, label, fileName, raw }: PayloadProps) {
  const [whole, setWhole] = useState(false);
  const shown = payloadText(value);

  function download() {
    const url = URL.createObjectURL(new Blob([raw ?? shown.full], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = fileName;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  return (
    <>
      {shown.truncated && (
        <div className="payload-note" role="note">
          <span>
            {whole ? `Showing all ${formatBytes(shown.totalBytes)}.` : `Showing the first ${formatBytes(PAYLOAD_SHOWN_BYTES)} of ${formatBytes(shown.totalBytes)}.`}
          </span>
          <button type="button" onClick={() => setWhole(!whole)}>
            {whole ? `Show the first ${formatBytes(PAYLOAD_SHOWN_BYTES)}` : 'Show all'}
          </button>
          <button type="button" onClick={download}>
            Download {label.toLowerCase()}
          </button>
        </div>
      )}
      <pre className="payload" tabIndex={0} aria-label={label}>
        {whole ? shown.full : shown.text}
      </pre>
    </>
  );
}

/** A record's fields as lines of text (lists joined, objects as JSON); `prefix` names where they come from. */
function facts(record: Record<string, unknown>, prefix: string): [string, string][] {
  return Object.entries(record)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => {
      const empty = value === null || (typeof value === 'object' && Object.keys(value).length === 0);
      const text = empty ? '' : Array.isArray(value) ? value.join(', ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
      return [`${prefix}${name}`, text === '' ? '—' : text];
    });
}

function DeliveryStory({ delivery }: { delivery: EventDelivery }) {
  const headingId = `delivery-${delivery.id}`;
  const request = delivery.request;
  const said = facts(request.properties, '');
  // The config's fields the properties already said (a webhook's url) are not said twice.
  const sentFacts = [...said, ...facts(request.target, 'config.').filter(([name, text]) => !said.some(([other, value]) => `config.${other}` === name && value === text))];
  return (
    <article className="card delivery-story" aria-labelledby={headingId}>
      <div className="section-head">
        <h3 id={headingId}>
          <a href={`#/destinations/${encodeURIComponent(delivery.destination.id)}`}>{delivery.destination.name}</a>{' '}
          <span className="muted">{delivery.destination.kind}</span>
        </h3>
        <span className="delivery-state">
          <span className={`badge badge-${delivery.status}`}>{delivery.status}</span>
          {delivery.failureCategory && <span className="badge badge-failed">{categoryLabel(delivery.failureCategory)}</span>}
        </span>
      </div>
      <p className="hint">
        Delivery <code>{delivery.id}</code>
      </p>

      <details className="sent">
        <summary>What was sent</summary>
        {sentFacts.length > 0 && (
          <dl className="facts">
            {sentFacts.map(([name, text]) => (
              <div key={name} className="fact">
                <dt>{name}</dt>
                <dd>{text}</dd>
              </div>
            ))}
          </dl>
        )}
        <p className="hint">The body, indented here (Download saves it byte for byte as sent):</p>
        <Payload value={parsed(request.body)} raw={request.body} label={`Payload sent to ${delivery.destination.name}`} fileName={`${delivery.id}.json`} />
      </details>

      {delivery.attempts.length === 0 ? (
        <p className="muted">No attempt yet{delivery.status === 'cancelled' ? ': the delivery was cancelled.' : '.'}</p>
      ) : (
        <table aria-label={`Attempts to ${delivery.destination.name}`} className="attempts-table">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Started</th>
              <th scope="col">Trigger</th>
              <th scope="col">Duration</th>
              <th scope="col">Outcome</th>
              <th scope="col">Status code</th>
              <th scope="col">Response body / error</th>
            </tr>
          </thead>
          <tbody>
            {delivery.attempts.map((attempt) => (
              <tr key={attempt.number}>
                <td>{attempt.number}</td>
                <td className="nowrap">{formatTime(attempt.startedAt)}</td>
                <td>{attempt.trigger}</td>
                <td className="nowrap">{formatDuration(attempt.durationMs)}</td>
                <td>{attempt.outcome}</td>
                <td>{attempt.statusCode ?? '—'}</td>
                <td className="text">
                  {attempt.error && <p className="attempt-error">{attempt.error}</p>}
                  {attempt.responseBody ? (
                    <pre className="response-body" tabIndex={0} aria-label={`Response body of attempt ${attempt.number}`}>
                      {attempt.responseBody}
                    </pre>
                  ) : attempt.error ? null : (
                    <span className="muted">empty</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}
