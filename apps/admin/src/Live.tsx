import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { type Api, type Presence, type StreamSession, type StreamSubject } from './api';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { formatTime } from './format';
import { relativeTime, sessionsText, SUBJECT_RULE, subjectProblem } from './live';
import { liveHash } from './route';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
  /** The subject the address names (`#/live?subject=…`), if any. */
  subject?: string;
}

/** A subject's presence, stream and sessions are read again this often while it is shown. */
export const LIVE_REFRESH_MS = 5_000;

/**
 * The live WebSocket side of one subject (docs/API.md, "Live WebSocket push"): whether a device
 * of it is connected, its stream of pushed frames, and its sessions on every API process. The
 * subject is in the address (`#/live?subject=user_123`), so a link shows the same subject.
 */
export function Live({ api, subject }: Props) {
  const [field, setField] = useState(subject ?? '');
  const [problem, setProblem] = useState<string | null>(subject === undefined ? null : subjectProblem(subject));
  /** Grows when *Show* asks again for the subject already shown (the address does not change then). */
  const [asked, setAsked] = useState(0);

  // Another address (a link, Back): its subject fills the field.
  useEffect(() => {
    setField(subject ?? '');
    setProblem(subject === undefined ? null : subjectProblem(subject));
  }, [subject]);

  function submit(event: FormEvent) {
    event.preventDefault();
    const wanted = field.trim();
    const found = subjectProblem(wanted);
    setProblem(found);
    if (found !== null) return;
    setField(wanted);
    if (wanted === subject) setAsked((count) => count + 1);
    else window.location.hash = liveHash(wanted);
  }

  const shown = subject !== undefined && subjectProblem(subject) === null ? subject : null;

  return (
    <main className="view">
      <section aria-labelledby="live-heading" className="card">
        <h2 id="live-heading">Live</h2>
        <p className="hint live-intro">
          The WebSocket sessions of one subject (a user, a device group…): what a producer&apos;s backend names when it asks <code>POST /v1/stream-tokens</code> for a
          device&apos;s token, and what a <code>websocket</code> destination pushes events to.
        </p>
        <form role="search" aria-labelledby="live-heading" className="live-search" onSubmit={submit} noValidate>
          <label htmlFor="live-subject">Subject</label>
          <div className="live-search-row">
            <input
              id="live-subject"
              name="subject"
              value={field}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={problem !== null}
              aria-describedby={problem !== null ? 'live-subject-problem live-subject-rule' : 'live-subject-rule'}
              onChange={(event) => {
                setField(event.target.value);
                // Once something was said to be wrong, say when it is put right.
                if (problem !== null) setProblem(subjectProblem(event.target.value.trim()));
              }}
            />
            <button type="submit" className="primary">
              Show
            </button>
          </div>
          {problem !== null && (
            <p id="live-subject-problem" role="alert" className="field-problem">
              {problem}
            </p>
          )}
          <p id="live-subject-rule" className="hint">
            {SUBJECT_RULE}
          </p>
        </form>
      </section>
      {shown === null ? (
        subject === undefined && <p className="muted">Enter a subject to see whether a device of it is connected, its stream and its live sessions.</p>
      ) : (
        <SubjectView key={shown} api={api} subject={shown} asked={asked} />
      )}
    </main>
  );
}

/** What the API tells of one subject, read when shown, every LIVE_REFRESH_MS and on Refresh. */
function SubjectView({ api, subject, asked }: { api: Api; subject: string; asked: number }) {
  const [presence, setPresence] = useState<Presence | null>(null);
  const [presenceError, setPresenceError] = useState<ShownError | null>(null);
  const [stream, setStream] = useState<StreamSubject | null>(null);
  const [streamError, setStreamError] = useState<ShownError | null>(null);
  const [sessions, setSessions] = useState<StreamSession[] | null>(null);
  const [sessionsError, setSessionsError] = useState<ShownError | null>(null);
  /** When the API last answered (or failed to): what "connected 3 min ago" counts from. */
  const [readAt, setReadAt] = useState<Date | null>(null);
  const startPresenceRequest = useLatestRequest();
  const startStreamRequest = useLatestRequest();
  const startSessionsRequest = useLatestRequest();

  const load = useCallback(() => {
    const presenceIsLatest = startPresenceRequest();
    const streamIsLatest = startStreamRequest();
    const sessionsIsLatest = startSessionsRequest();
    const presenceRead = api.getPresence(subject).then(
      (found) => {
        if (!presenceIsLatest()) return;
        setPresence(found);
        setPresenceError(null);
      },
      (caught: unknown) => {
        if (presenceIsLatest()) setPresenceError(toShownError(caught));
      },
    );
    const streamRead = api.getStreamSubject(subject).then(
      (found) => {
        if (!streamIsLatest()) return;
        setStream(found);
        setStreamError(null);
      },
      (caught: unknown) => {
        if (streamIsLatest()) setStreamError(toShownError(caught));
      },
    );
    const sessionsRead = api.listStreamSessions(subject).then(
      (found) => {
        if (!sessionsIsLatest()) return;
        setSessions(found);
        setSessionsError(null);
      },
      (caught: unknown) => {
        if (sessionsIsLatest()) setSessionsError(toShownError(caught));
      },
    );
    void Promise.all([presenceRead, streamRead, sessionsRead]).then(() => {
      if (sessionsIsLatest()) setReadAt(new Date());
    });
  }, [api, subject, startPresenceRequest, startStreamRequest, startSessionsRequest]);

  useEffect(() => {
    load();
    const timer = setInterval(load, LIVE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  useEffect(() => {
    if (asked > 0) load();
  }, [asked, load]);

  return (
    <>
      <div className="section-head live-head">
        <h2 className="page-title">
          {subject}
          <span className="muted">{readAt ? `read ${formatTime(readAt.toISOString())}, again every ${LIVE_REFRESH_MS / 1000} s` : 'reading…'}</span>
        </h2>
        <button type="button" onClick={load}>
          Refresh
        </button>
      </div>

      <div className="live-grid">
        <section aria-labelledby="presence-heading" className="card">
          <h2 id="presence-heading">Presence</h2>
          {presenceError && <ErrorAlert message={`Cannot read the presence: ${presenceError.message}`} details={presenceError.details} />}
          {presence === null ? (
            presenceError ? null : (
              <p className="muted">Reading the presence…</p>
            )
          ) : (
            <dl className="stats">
              <div>
                <dt>Status</dt>
                <dd>
                  <span className={`badge ${presence.online ? 'badge-online' : 'badge-offline'}`}>{presence.online ? 'online' : 'offline'}</span>
                </dd>
              </div>
              <div>
                <dt>Sessions</dt>
                <dd>{presence.sessions}</dd>
              </div>
            </dl>
          )}
        </section>

        <section aria-labelledby="stream-heading" className="card">
          <h2 id="stream-heading">Stream</h2>
          {streamError && <ErrorAlert message={`Cannot read the stream: ${streamError.message}`} details={streamError.details} />}
          {stream === null ? (
            streamError ? null : (
              <p className="muted">Reading the stream…</p>
            )
          ) : (
            <>
              <dl className="stats">
                <div>
                  <dt>Latest seq</dt>
                  <dd>{stream.latestSeq}</dd>
                </div>
                <div>
                  <dt>Kept for replay</dt>
                  <dd>{stream.kept === 1 ? '1 frame' : `${stream.kept} frames`}</dd>
                </div>
                <div>
                  <dt>Oldest kept seq</dt>
                  <dd>{stream.oldestKeptSeq ?? '—'}</dd>
                </div>
              </dl>
              {stream.latestSeq === 0 && (
                <p className="hint live-note">
                  Nothing was pushed to this subject yet. A <code>websocket</code> destination whose <code>subject</code> template gives <code>{subject}</code> pushes
                  each of its events here, kept for replay whether a device is connected or not.
                </p>
              )}
              {stream.latestSeq > 0 && stream.kept === 0 && (
                <p className="hint live-note">Nothing is kept for replay any more: a device reconnecting with an older lastSeq is told to resync.</p>
              )}
            </>
          )}
        </section>
      </div>

      <section aria-labelledby="sessions-heading" className="card">
        <h2 id="sessions-heading">Sessions</h2>
        {sessionsError && <ErrorAlert message={`Cannot read the sessions: ${sessionsError.message}`} details={sessionsError.details} />}
        {sessions === null ? (
          sessionsError ? null : (
            <p className="muted">Reading the sessions…</p>
          )
        ) : sessions.length === 0 ? (
          <p className="muted live-note">
            No device of this subject is connected. A device connects to <code>/v1/stream</code> with a token from <code>POST /v1/stream-tokens</code>.
          </p>
        ) : (
          <table aria-label="Sessions" className="live-sessions">
            <caption className="hint">{`${sessionsText(sessions.length)}, on every API process`}</caption>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">API process</th>
                <th scope="col">Connected</th>
                <th scope="col">Remote address</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((session) => (
                <tr key={session.id}>
                  <td>
                    <code>{session.id}</code>
                  </td>
                  <td>
                    <code>{session.process}</code>
                  </td>
                  <td className="nowrap">
                    <time dateTime={session.connectedAt}>{relativeTime(session.connectedAt, readAt ?? new Date())}</time>
                    <div className="hint">{formatTime(session.connectedAt)}</div>
                  </td>
                  <td>
                    <code>{session.remoteAddress}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
