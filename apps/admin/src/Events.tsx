import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import type { Api, EventFilter, EventSummary } from './api';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { utcTime } from './events';
import { formatTime } from './format';
import { eventHash } from './route';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
}

/** Events on a page of the list. */
export const EVENTS_PAGE_SIZE = 25;

interface Fields {
  type: string;
  correlationId: string;
  since: string;
  until: string;
}

const NO_FIELDS: Fields = { type: '', correlationId: '', since: '', until: '' };

/** The filter the fields ask for, or the fields that are not times. */
function filterOf(fields: Fields): { filter: EventFilter } | { problems: { since?: string; until?: string } } {
  const since = utcTime(fields.since);
  const until = utcTime(fields.until);
  const problems: { since?: string; until?: string } = {};
  if (since === null) problems.since = 'Since is not a time.';
  if (until === null) problems.until = 'Until is not a time.';
  if (since && until && since >= until) problems.until = 'Until must be after since.';
  if (problems.since || problems.until) return { problems };
  return {
    filter: {
      type: fields.type.trim() || undefined,
      correlationId: fields.correlationId.trim() || undefined,
      since: since ?? undefined,
      until: until ?? undefined,
    },
  };
}

/** The events of the organization, newest first: find one by id, or list them by type, correlation id and time. */
export function Events({ api }: Props) {
  const [eventId, setEventId] = useState('');
  const [eventIdProblem, setEventIdProblem] = useState<string | null>(null);
  const [fields, setFields] = useState<Fields>(NO_FIELDS);
  const [problems, setProblems] = useState<{ since?: string; until?: string }>({});
  const [filter, setFilter] = useState<EventFilter>({});
  /** The cursor of each page shown so far: [undefined] on the first page. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [events, setEvents] = useState<EventSummary[] | null>(null);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ShownError | null>(null);
  const startRequest = useLatestRequest();
  const tableRef = useRef<HTMLTableElement>(null);
  const focusTable = useRef(false);

  const cursor = cursors[cursors.length - 1];
  const load = useCallback(async () => {
    const isLatest = startRequest();
    setLoading(true);
    setError(null);
    try {
      const page = await api.listEvents({ ...filter, cursor, limit: EVENTS_PAGE_SIZE });
      if (!isLatest()) return;
      setEvents(page.data);
      setNextCursor(page.nextCursor);
    } catch (caught) {
      if (isLatest()) setError(toShownError(caught));
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, filter, cursor, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  // After Next or Previous page, the focus goes to the first event of the page that came.
  useEffect(() => {
    if (focusTable.current && tableRef.current) {
      focusTable.current = false;
      tableRef.current.querySelector<HTMLAnchorElement>('tbody a')?.focus();
    }
  }, [events]);

  function openEvent(submitted: FormEvent) {
    submitted.preventDefault();
    const id = eventId.trim();
    if (id === '') {
      setEventIdProblem('Enter the id of an event.');
      return;
    }
    setEventIdProblem(null);
    window.location.hash = eventHash(id);
  }

  function search(submitted: FormEvent) {
    submitted.preventDefault();
    const read = filterOf(fields);
    if ('problems' in read) {
      setProblems(read.problems);
      return;
    }
    setProblems({});
    setFilter(read.filter);
    setCursors([undefined]);
  }

  function clear() {
    setFields(NO_FIELDS);
    setProblems({});
    setFilter({});
    setCursors([undefined]);
  }

  function nextPage() {
    if (nextCursor === null) return;
    focusTable.current = true;
    setCursors((shown) => [...shown, nextCursor]);
  }

  function previousPage() {
    focusTable.current = true;
    setCursors((shown) => (shown.length > 1 ? shown.slice(0, -1) : shown));
  }

  const filtered = Object.values(filter).some((value) => value !== undefined);
  const pageNumber = cursors.length;

  return (
    <main className="view">
      <section aria-labelledby="events-heading" className="card">
        <h2 id="events-heading">Events</h2>
        <form className="inline-search" onSubmit={openEvent} aria-label="Find an event by id" noValidate>
          <label htmlFor="event-id">Event id</label>
          <div className="search-row">
            <input
              id="event-id"
              value={eventId}
              onChange={(change) => setEventId(change.target.value)}
              placeholder="evt_… or the id the producer gave"
              aria-invalid={eventIdProblem ? true : undefined}
              aria-describedby={eventIdProblem ? 'event-id-problem' : undefined}
              autoComplete="off"
            />
            <button type="submit">Open event</button>
          </div>
          {eventIdProblem && (
            <p id="event-id-problem" role="alert" className="field-problem">
              {eventIdProblem}
            </p>
          )}
        </form>

        <form className="event-filters" onSubmit={search} aria-label="Search events" noValidate>
          <div>
            <label htmlFor="event-type">Type</label>
            <input id="event-type" value={fields.type} onChange={(change) => setFields({ ...fields, type: change.target.value })} placeholder="order.created" />
          </div>
          <div>
            <label htmlFor="event-correlation">Correlation id</label>
            <input id="event-correlation" value={fields.correlationId} onChange={(change) => setFields({ ...fields, correlationId: change.target.value })} />
          </div>
          <TimeField id="event-since" label="Since (UTC)" value={fields.since} problem={problems.since} onChange={(since) => setFields({ ...fields, since })} />
          <TimeField id="event-until" label="Until (UTC)" value={fields.until} problem={problems.until} onChange={(until) => setFields({ ...fields, until })} />
          <div className="form-actions">
            <button type="submit" className="primary">
              Search
            </button>
            <button type="button" onClick={clear}>
              Clear
            </button>
            <button type="button" onClick={() => void load()} disabled={loading}>
              Refresh
            </button>
          </div>
        </form>
      </section>

      <section aria-labelledby="event-list-heading">
        <div className="section-head">
          <h2 id="event-list-heading">{filtered ? 'Matching events' : 'Latest events'}</h2>
          <span className="muted">Newest first · page {pageNumber}</span>
        </div>
        {error && <ErrorAlert message={error.message} details={error.details} />}
        {events === null ? (
          error ? null : (
            <p className="muted">Loading events…</p>
          )
        ) : events.length === 0 ? (
          <p className="notice empty-state">
            {pageNumber > 1
              ? 'No more events on this page. Go back with Previous page.'
              : filtered
                ? 'No event matches this search. Widen the time range, check the type (an exact name, e.g. order.created) or the correlation id, or Clear to see the latest events.'
                : 'No events yet. Send one with POST /v1/events (see the API docs); it shows here with every delivery it made.'}
          </p>
        ) : (
          <table aria-label="Events" ref={tableRef}>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Type</th>
                <th scope="col">Correlation id</th>
                <th scope="col">Source</th>
                <th scope="col">Received</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td className="text">
                    <a href={eventHash(event.id)}>
                      <code>{event.id}</code>
                    </a>
                  </td>
                  <td>{event.type}</td>
                  <td className="text">{event.correlationId ?? '—'}</td>
                  <td>{event.source ?? '—'}</td>
                  <td className="nowrap">{formatTime(event.receivedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <nav aria-label="Pages of events" className="pager">
          <button type="button" onClick={previousPage} disabled={pageNumber === 1 || loading}>
            Previous page
          </button>
          <button type="button" onClick={nextPage} disabled={nextCursor === null || loading}>
            Next page
          </button>
        </nav>
      </section>
    </main>
  );
}

interface TimeFieldProps {
  id: string;
  label: string;
  value: string;
  /** What is wrong with the value, shown under the field. */
  problem: string | undefined;
  onChange: (value: string) => void;
}

/** A time of the search (UTC, to the second), with its problem under it. */
function TimeField({ id, label, value, problem, onChange }: TimeFieldProps) {
  return (
    <div>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="datetime-local"
        step="1"
        value={value}
        onChange={(change) => onChange(change.target.value)}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? `${id}-problem` : undefined}
      />
      {problem && (
        <p id={`${id}-problem`} role="alert" className="field-problem">
          {problem}
        </p>
      )}
    </div>
  );
}
