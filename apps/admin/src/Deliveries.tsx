import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { DELIVERY_STATUSES, errorMessage, type Api, type Delivery, type DeliveryDetail, type DeliveryStatus } from './api';
import { DeliveryPanel } from './DeliveryPanel';
import { ErrorAlert } from './ErrorAlert';
import { formatTime, lastErrorText } from './format';
import { replayFinishedText, replayProgressText, useDeadLetterReplay, type ReplayPhase } from './useDeadLetterReplay';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
  /** Only this destination's deliveries, shown inside its page (no destination filter, "Recent deliveries"). */
  destinationId?: string;
}

interface ShownError {
  scope: 'list' | 'detail';
  message: string;
}

const LIST_LIMIT = 50;
/** Inside a destination's page the list is a glance at the latest: fewer rows. */
const EMBEDDED_LIST_LIMIT = 20;
/** After "Retry now", the detail is re-read this many times, once a second, until the attempt shows. */
const RETRY_POLLS = 5;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isDeliveryStatus(value: string): value is DeliveryStatus {
  return (DELIVERY_STATUSES as readonly string[]).includes(value);
}

/** The statuses a delivery can be cancelled from (any other answers 409). */
const CANCELLABLE: readonly DeliveryStatus[] = ['pending', 'retrying', 'failed'];

/** The dead-letter replay is busy: no other one can be asked for. */
function replayBusy(phase: ReplayPhase): boolean {
  return phase.kind === 'counting' || phase.kind === 'starting' || phase.kind === 'running';
}

export function Deliveries({ api, destinationId }: Props) {
  const [destinationNames, setDestinationNames] = useState<Map<string, string>>(new Map());
  const [statusFilter, setStatusFilter] = useState<DeliveryStatus | ''>('');
  const [destinationFilter, setDestinationFilter] = useState(destinationId ?? '');
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<ShownError | null>(null);

  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [detail, setDetail] = useState<DeliveryDetail | null>(null);
  const [retrying, setRetrying] = useState(false);
  const [retryNotice, setRetryNotice] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);

  const startListRequest = useLatestRequest();
  const selectedRef = useRef<string | null>(null);
  const replayButton = useRef<HTMLButtonElement>(null);
  const refocusReplayButton = useRef(false);

  useEffect(() => {
    let ignore = false;
    api.listDestinations().then(
      (found) => {
        if (!ignore) setDestinationNames(new Map(found.map((d) => [d.id, d.name])));
      },
      (caught: unknown) => {
        if (!ignore) setError({ scope: 'list', message: errorMessage(caught) });
      },
    );
    return () => {
      ignore = true;
    };
  }, [api]);

  const loadList = useCallback(async () => {
    const isLatest = startListRequest();
    setLoading(true);
    try {
      const page = await api.listDeliveries({
        status: statusFilter === '' ? undefined : statusFilter,
        destinationId: destinationFilter === '' ? undefined : destinationFilter,
        limit: destinationId === undefined ? LIST_LIMIT : EMBEDDED_LIST_LIMIT,
      });
      if (isLatest()) setDeliveries(page.data);
    } catch (caught) {
      if (isLatest()) setError({ scope: 'list', message: errorMessage(caught) });
    } finally {
      if (isLatest()) setLoading(false);
    }
  }, [api, statusFilter, destinationFilter, destinationId, startListRequest]);

  useEffect(() => {
    void loadList();
  }, [loadList]);

  /** The list of the filters chosen now, for work that ends after they may have changed. */
  const loadListRef = useRef(loadList);
  useEffect(() => {
    loadListRef.current = loadList;
  }, [loadList]);

  const replay = useDeadLetterReplay(api, {
    onError: (message) => setError({ scope: 'list', message }),
    onFinished: () => void loadListRef.current(),
  });
  const { dismiss: dismissReplay } = replay;

  useEffect(() => {
    if (refocusReplayButton.current && replayButton.current) {
      refocusReplayButton.current = false;
      replayButton.current.focus();
    }
  });

  useEffect(
    () => () => {
      selectedRef.current = null;
    },
    [],
  );

  const loadDetail = useCallback(
    async (deliveryId: string): Promise<DeliveryDetail | null> => {
      try {
        const found = await api.getDelivery(deliveryId);
        if (selectedRef.current === deliveryId) setDetail(found);
        return found;
      } catch (caught) {
        if (selectedRef.current === deliveryId) {
          setError({ scope: 'detail', message: errorMessage(caught) });
        }
        return null;
      }
    },
    [api],
  );

  function select(deliveryId: string) {
    selectedRef.current = deliveryId;
    setSelectedId(deliveryId);
    setDetail(null);
    setError(null);
    setRetryNotice(null);
    void loadDetail(deliveryId);
  }

  function closeDetail() {
    selectedRef.current = null;
    setSelectedId(null);
    setDetail(null);
    setRetryNotice(null);
    if (error?.scope === 'detail') setError(null);
  }

  function refresh() {
    setError(null);
    void loadList();
    if (selectedId !== null) void loadDetail(selectedId);
  }

  async function retryNow(deliveryId: string) {
    const attemptsBefore = detail?.attempts.length ?? 0;
    setRetrying(true);
    setError(null);
    setRetryNotice(null);
    try {
      await api.retryDelivery(deliveryId);
    } catch (caught) {
      setError({ scope: 'detail', message: errorMessage(caught) });
      setRetrying(false);
      return;
    }
    setRetrying(false);
    setRetryNotice('Retry requested: a new attempt is being made now.');
    for (let poll = 0; poll <= RETRY_POLLS && selectedRef.current === deliveryId; poll++) {
      if (poll > 0) await sleep(1000);
      if (selectedRef.current !== deliveryId) break;
      const found = await loadDetail(deliveryId);
      if (found === null || found.attempts.length > attemptsBefore) break;
    }
    if (selectedRef.current === deliveryId) void loadListRef.current();
  }

  async function cancelNow(deliveryId: string) {
    setCancelling(true);
    setError(null);
    setRetryNotice(null);
    try {
      await api.cancelDelivery(deliveryId);
    } catch (caught) {
      if (selectedRef.current === deliveryId) {
        setError({ scope: 'detail', message: errorMessage(caught) });
      }
      setCancelling(false);
      return;
    }
    setCancelling(false);
    if (selectedRef.current === deliveryId) setRetryNotice('Delivery cancelled.');
    if (selectedRef.current === deliveryId) await loadDetail(deliveryId);
    void loadListRef.current();
  }

  function cancelReplay() {
    refocusReplayButton.current = true;
    dismissReplay();
  }

  function onRowKey(event: KeyboardEvent<HTMLTableRowElement>, deliveryId: string) {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      select(deliveryId);
    }
  }

  const destinationName = (id: string) => destinationNames.get(id) ?? id;
  const Root = destinationId === undefined ? 'main' : 'div';

  return (
    <Root className={destinationId === undefined ? 'view' : 'view-part'}>
      <section aria-labelledby="deliveries-heading" className={destinationId === undefined ? undefined : 'card'}>
        <div className="section-head">
          <h2 id="deliveries-heading">{destinationId === undefined ? 'Deliveries' : 'Recent deliveries'}</h2>
          <div className="filters">
            <label htmlFor="delivery-status">Status</label>
            <select
              id="delivery-status"
              value={statusFilter}
              onChange={(event) => {
                const value = event.target.value;
                setStatusFilter(isDeliveryStatus(value) ? value : '');
                dismissReplay();
              }}
            >
              <option value="">all</option>
              {DELIVERY_STATUSES.map((status) => (
                <option key={status} value={status}>
                  {status}
                </option>
              ))}
            </select>
            {destinationId === undefined && (
              <>
                <label htmlFor="delivery-destination">Destination</label>
                <select
                  id="delivery-destination"
                  value={destinationFilter}
                  onChange={(event) => {
                    setDestinationFilter(event.target.value);
                    dismissReplay();
                  }}
                >
                  <option value="">all</option>
                  {[...destinationNames].map(([id, name]) => (
                    <option key={id} value={id}>
                      {name}
                    </option>
                  ))}
                </select>
              </>
            )}
            <button type="button" onClick={refresh} disabled={loading}>
              Refresh
            </button>
            {statusFilter === 'failed' && replay.phase.kind !== 'confirm' && (
              <button
                type="button"
                ref={replayButton}
                disabled={replayBusy(replay.phase)}
                onClick={() => void replay.ask(destinationFilter === '' ? undefined : destinationFilter)}
              >
                Replay dead letters
              </button>
            )}
          </div>
        </div>

        {replay.phase.kind === 'counting' && <p className="muted replay-note">Counting dead letters…</p>}
        {replay.phase.kind === 'confirm' && (
          <ReplayConfirmation
            count={replay.phase.count}
            onReplay={() => {
              if (replay.phase.kind === 'confirm') {
                void replay.start(replay.phase.destinationId, replay.phase.count);
              }
            }}
            onCancel={cancelReplay}
          />
        )}
        {replay.phase.kind === 'empty' && (
          <p role="status" className="notice replay-note">
            No dead letters to replay
          </p>
        )}
        {replay.phase.kind === 'starting' && <p className="muted replay-note">Starting the replay…</p>}
        {(replay.phase.kind === 'running' || replay.phase.kind === 'stopped') && (
          <p role="status" className="notice replay-note">
            {replayProgressText(replay.phase.replayId, replay.phase.done, replay.phase.total)}
          </p>
        )}
        {replay.phase.kind === 'finished' && (
          <p role="status" className="notice replay-note">
            {replayFinishedText(replay.phase.replayId, replay.phase.total)}
          </p>
        )}

        {error?.scope === 'list' && <ErrorAlert message={error.message} />}
        {deliveries === null ? (
          error?.scope === 'list' ? null : (
            <p className="muted">Loading deliveries…</p>
          )
        ) : deliveries.length === 0 ? (
          <p className="muted">No deliveries match.</p>
        ) : (
          <table aria-label="Deliveries" className="clickable">
            <thead>
              <tr>
                <th scope="col">Event</th>
                {destinationId === undefined && <th scope="col">Destination</th>}
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Next attempt</th>
                <th scope="col">Last error</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((delivery) => (
                <tr
                  key={delivery.id}
                  tabIndex={0}
                  className={delivery.id === selectedId ? 'selected' : undefined}
                  aria-current={delivery.id === selectedId ? 'true' : undefined}
                  onClick={() => select(delivery.id)}
                  onKeyDown={(event) => onRowKey(event, delivery.id)}
                >
                  <td>
                    <code>{delivery.eventId}</code>
                  </td>
                  {destinationId === undefined && <td>{destinationName(delivery.destinationId)}</td>}
                  <td>
                    <span className={`badge badge-${delivery.status}`}>{delivery.status}</span>
                  </td>
                  <td>{delivery.attemptCount}</td>
                  <td>{formatTime(delivery.nextAttemptAt)}</td>
                  <td className="wrap">{lastErrorText(delivery)}</td>
                  <td>{formatTime(delivery.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      {selectedId !== null && (
        <DeliveryPanel
          deliveryId={selectedId}
          detail={detail}
          destinationName={destinationName}
          error={error?.scope === 'detail' ? error.message : null}
          notice={retryNotice}
          retrying={retrying}
          onRetry={() => void retryNow(selectedId)}
          cancellable={detail !== null && CANCELLABLE.includes(detail.status)}
          cancelling={cancelling}
          onCancel={() => void cancelNow(selectedId)}
          onClose={closeDetail}
        />
      )}
    </Root>
  );
}

interface ReplayConfirmationProps {
  count: number;
  onReplay: () => void;
  onCancel: () => void;
}

/** Asks before the dead letters the dry run counted are replayed. */
function ReplayConfirmation({ count, onReplay, onCancel }: ReplayConfirmationProps) {
  return (
    <div role="group" aria-labelledby="replay-confirm-question" className="confirm">
      <p id="replay-confirm-question">{`Replay ${count} dead ${count === 1 ? 'letter' : 'letters'}?`}</p>
      <button type="button" className="primary" onClick={onReplay}>
        Replay
      </button>
      <button type="button" onClick={onCancel} autoFocus>
        Cancel
      </button>
    </div>
  );
}
