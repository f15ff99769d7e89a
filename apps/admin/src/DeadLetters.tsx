import { useCallback, useEffect, useRef, useState } from 'react';
import { FAILURE_CATEGORIES, type Api, type DeadLetterCategory, type FailureCategory, type ReplayPreview } from './api';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { CATEGORY_ADVICE, categoryLabel, formatBytes } from './events';
import { formatTime } from './format';
import { replayFinishedText, replayProgressText, useDeadLetterReplay, type ReplayPhase } from './useDeadLetterReplay';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
}

function busy(phase: ReplayPhase): boolean {
  return phase.kind === 'counting' || phase.kind === 'starting' || phase.kind === 'running';
}

/** The dead letters (deliveries that failed for good) by why they failed, each group replayable after a preview. */
export function DeadLetters({ api }: Props) {
  const [categories, setCategories] = useState<DeadLetterCategory[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  const [replayError, setReplayError] = useState<ShownError | null>(null);
  const [loading, setLoading] = useState(false);
  /** The category whose replay is asked for or under way. */
  const [chosen, setChosen] = useState<FailureCategory | null>(null);
  const startRequest = useLatestRequest();
  const replayButtons = useRef(new Map<FailureCategory, HTMLButtonElement>());
  /** The row whose button gets the focus back once rendered enabled again (after Cancel). */
  const refocus = useRef<FailureCategory | null>(null);

  useEffect(() => {
    const button = refocus.current === null ? undefined : replayButtons.current.get(refocus.current);
    if (button && !button.disabled) {
      refocus.current = null;
      button.focus();
    }
  });

  const load = useCallback(async () => {
    const isLatest = startRequest();
    setLoading(true);
    setError(null);
    try {
      const found = await api.listDeadLetterCategories({});
      if (isLatest()) setCategories(found);
    } catch (caught) {
      if (isLatest()) setError(toShownError(caught));
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  }, [load]);

  const replay = useDeadLetterReplay(api, {
    onError: (message) => setReplayError({ message, details: [] }),
    onFinished: () => void loadRef.current(),
  });

  function preview(category: FailureCategory) {
    setChosen(category);
    setReplayError(null);
    void replay.ask(undefined, category);
  }

  function cancel() {
    refocus.current = chosen;
    replay.dismiss();
    setChosen(null);
  }

  const byCategory = new Map((categories ?? []).map((group) => [group.category, group]));
  const rows = FAILURE_CATEGORIES.map((category) => byCategory.get(category) ?? { category, count: 0, bytes: 0, destinations: [], oldestAt: null, newestAt: null });
  const total = rows.reduce((sum, row) => sum + row.count, 0);
  const phase = replay.phase;

  return (
    <main className="view">
      <section aria-labelledby="dead-letters-heading">
        <div className="section-head">
          <h2 id="dead-letters-heading">Dead letters by failure category</h2>
          <button type="button" onClick={() => void load()} disabled={loading}>
            Refresh
          </button>
        </div>
        <p className="hint page-intro">
          A dead letter is a delivery that failed for good (status <code>failed</code>). Fix the cause of a group, then replay it: every dead letter of the group gets a
          new attempt now. The <a href="#/deliveries">Deliveries</a> page lists them one by one.
        </p>
        {error && <ErrorAlert message={error.message} details={error.details} />}
        {categories === null ? (
          error ? null : (
            <p className="muted">Loading dead letters…</p>
          )
        ) : (
          <>
            {total === 0 && (
              <p className="notice empty-state">
                No dead letters: every delivery was delivered, is still being tried, or was cancelled. A delivery lands here once its retries are used up; its category
                says why.
              </p>
            )}
            <table aria-label="Dead letters by failure category">
              <thead>
                <tr>
                  <th scope="col">Category</th>
                  <th scope="col">Dead letters</th>
                  <th scope="col">Bytes</th>
                  <th scope="col">Destinations</th>
                  <th scope="col">Oldest · newest</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.category} className={row.count === 0 ? 'quiet' : undefined}>
                    <th scope="row">
                      {categoryLabel(row.category)}
                      {row.count > 0 && <p className="hint">{CATEGORY_ADVICE[row.category]}</p>}
                    </th>
                    <td>{row.count}</td>
                    <td className="nowrap">{formatBytes(row.bytes)}</td>
                    <td className="text">
                      {row.destinations.length === 0
                        ? '—'
                        : row.destinations.map((destination, index) => (
                            <span key={destination.id}>
                              {index > 0 && ', '}
                              <a href={`#/destinations/${encodeURIComponent(destination.id)}`}>{destination.name}</a> ({destination.count})
                            </span>
                          ))}
                    </td>
                    <td className="nowrap">{row.count === 0 ? '—' : `${formatTime(row.oldestAt)} · ${formatTime(row.newestAt)}`}</td>
                    <td>
                      <button
                        type="button"
                        ref={(button) => {
                          if (button) replayButtons.current.set(row.category, button);
                          else replayButtons.current.delete(row.category);
                        }}
                        disabled={row.count === 0 || busy(phase) || (phase.kind === 'confirm' && chosen === row.category)}
                        onClick={() => preview(row.category)}
                        aria-label={`Replay ${categoryLabel(row.category)}…`}
                      >
                        Replay…
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </section>

      {chosen !== null && (phase.kind !== 'idle' || replayError !== null) && (
        <section aria-labelledby="replay-heading" className="card">
          <h2 id="replay-heading" className="card-title">
            Replay: {categoryLabel(chosen)}
          </h2>
          {phase.kind === 'counting' && <p className="muted">Previewing the replay…</p>}
          {phase.kind === 'confirm' && (
            <ReplayConfirmation preview={phase.preview} onReplay={() => void replay.start(undefined, phase.count, chosen)} onCancel={cancel} />
          )}
          {phase.kind === 'empty' && (
            <p role="status" className="notice">
              Nothing to replay in this category any more: it was replayed or cancelled meanwhile. Refresh to see the groups now.
            </p>
          )}
          {phase.kind === 'starting' && <p className="muted">Starting the replay…</p>}
          {(phase.kind === 'running' || phase.kind === 'stopped') && (
            <p role="status" className="notice">
              {replayProgressText(phase.replayId, phase.done, phase.total)}
            </p>
          )}
          {phase.kind === 'finished' && (
            <p role="status" className="notice">
              {replayFinishedText(phase.replayId, phase.total)}. What failed again is counted in its category above.
            </p>
          )}
          {replayError && <ErrorAlert message={replayError.message} details={replayError.details} />}
        </section>
      )}
      {chosen === null && replayError && <ErrorAlert message={replayError.message} details={replayError.details} />}
    </main>
  );
}

interface ConfirmationProps {
  preview: ReplayPreview;
  onReplay: () => void;
  onCancel: () => void;
}

/** The dry run's answer: what the replay would send, to whom; nothing is sent until Replay. */
function ReplayConfirmation({ preview, onReplay, onCancel }: ConfirmationProps) {
  const destinations = preview.destinations ?? [];
  return (
    <div role="group" aria-labelledby="replay-preview-question" className="replay-preview">
      <p id="replay-preview-question" className="replay-question">
        {`Replay ${preview.count} dead ${preview.count === 1 ? 'letter' : 'letters'}`}
        {preview.bytes !== undefined && ` (${formatBytes(preview.bytes)})`}
        {destinations.length > 0 && ` to ${destinations.length} ${destinations.length === 1 ? 'destination' : 'destinations'}`}?
      </p>
      {destinations.length > 0 && (
        <ul aria-label="Destinations the replay sends to" className="preview-destinations">
          {destinations.map((destination) => (
            <li key={destination.id}>
              {destination.name}: {destination.count}
            </li>
          ))}
        </ul>
      )}
      <div className="form-actions">
        <button type="button" className="primary" onClick={onReplay}>
          Replay
        </button>
        <button type="button" onClick={onCancel} autoFocus>
          Cancel
        </button>
      </div>
    </div>
  );
}
