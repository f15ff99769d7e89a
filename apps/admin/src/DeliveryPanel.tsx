import type { Attempt, DeliveryDetail } from './api';
import { ErrorAlert } from './ErrorAlert';
import { formatDuration, formatTime, lastErrorText } from './format';

interface Props {
  deliveryId: string;
  detail: DeliveryDetail | null;
  destinationName: (destinationId: string) => string;
  error: string | null;
  notice: string | null;
  retrying: boolean;
  onRetry: () => void;
  /** The delivery is pending, retrying or failed: it can be cancelled. */
  cancellable: boolean;
  cancelling: boolean;
  onCancel: () => void;
  onClose: () => void;
}

function AttemptItem({ attempt }: { attempt: Attempt }) {
  const outcome = attempt.statusCode === null || attempt.statusCode === undefined ? 'no response' : `HTTP ${attempt.statusCode}`;
  return (
    <li className="attempt">
      <p className="attempt-head">
        <strong>Attempt {attempt.number}</strong>
        <span>{outcome}</span>
        <span>{formatDuration(attempt.durationMs)}</span>
        <span className="badge">{attempt.trigger}</span>
        <span className="muted">{formatTime(attempt.startedAt)}</span>
      </p>
      {attempt.error && <p className="attempt-error">{attempt.error}</p>}
      {attempt.responseBody && <pre className="response-body">{attempt.responseBody}</pre>}
    </li>
  );
}

/** One delivery with its attempts, the manual retry and the cancel. */
export function DeliveryPanel({ deliveryId, detail, destinationName, error, notice, retrying, onRetry, cancellable, cancelling, onCancel, onClose }: Props) {
  return (
    <section className="card detail" aria-labelledby="delivery-detail-heading">
      <div className="section-head">
        <h2 id="delivery-detail-heading">
          Delivery <code>{deliveryId}</code>
        </h2>
        <div className="filters">
          <button type="button" className="primary" onClick={onRetry} disabled={retrying || cancelling}>
            Retry now
          </button>
          {cancellable && (
            <button type="button" onClick={onCancel} disabled={retrying || cancelling}>
              Cancel delivery
            </button>
          )}
          <button type="button" onClick={onClose}>
            Close
          </button>
        </div>
      </div>
      {error && <ErrorAlert message={error} />}
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      {detail === null ? (
        error ? null : (
          <p className="muted">Loading delivery…</p>
        )
      ) : (
        <>
          <dl className="facts">
            <dt>Event</dt>
            <dd>
              <code>{detail.eventId}</code>
            </dd>
            <dt>Destination</dt>
            <dd>{destinationName(detail.destinationId)}</dd>
            <dt>Status</dt>
            <dd>
              <span className={`badge badge-${detail.status}`}>{detail.status}</span>
            </dd>
            <dt>Attempts</dt>
            <dd>{detail.attemptCount}</dd>
            <dt>Next attempt</dt>
            <dd>{formatTime(detail.nextAttemptAt)}</dd>
            <dt>Last error</dt>
            <dd>{lastErrorText(detail)}</dd>
            <dt>Created</dt>
            <dd>{formatTime(detail.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>{formatTime(detail.updatedAt)}</dd>
          </dl>
          <h3>Attempts</h3>
          {detail.attempts.length === 0 ? (
            <p className="muted">No attempt yet.</p>
          ) : (
            <ol className="attempts">
              {detail.attempts.map((attempt) => (
                <AttemptItem key={attempt.number} attempt={attempt} />
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
