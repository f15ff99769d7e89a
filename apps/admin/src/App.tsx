import { useCallback, useEffect, useMemo, useState } from 'react';
import { Alerts } from './Alerts';
import { API_KEY_STORAGE, createApi } from './api';
import { ApiKeys } from './ApiKeys';
import { AuditLog } from './AuditLog';
import { DeadLetters } from './DeadLetters';
import { Deliveries } from './Deliveries';
import { DestinationPage } from './DestinationPage';
import { Destinations } from './Destinations';
import { EventPage } from './EventPage';
import { Events } from './Events';
import { Live } from './Live';
import { routeFromHash, type Route, type View } from './route';
import { SignIn } from './SignIn';

function storedKey(): string | null {
  return sessionStorage.getItem(API_KEY_STORAGE);
}

export function App() {
  const [apiKey, setApiKey] = useState<string | null>(storedKey);
  const [route, setRoute] = useState<Route>(() => routeFromHash(window.location.hash));
  const view = route.view;
  const [signInNotice, setSignInNotice] = useState<string | null>(null);

  useEffect(() => {
    const onHashChange = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);

  const signIn = useCallback((key: string) => {
    sessionStorage.setItem(API_KEY_STORAGE, key);
    setSignInNotice(null);
    setApiKey(key);
  }, []);

  const signOut = useCallback((notice: string | null) => {
    sessionStorage.removeItem(API_KEY_STORAGE);
    setSignInNotice(notice);
    setApiKey(null);
  }, []);

  const api = useMemo(() => (apiKey === null ? null : createApi(apiKey, () => signOut('The API no longer accepts this key. Sign in again.'))), [apiKey, signOut]);

  function go(next: View) {
    window.location.hash = `#/${next}`;
    setRoute({ view: next });
  }

  return (
    <div className="app">
      <header className="app-header">
        <h1>Dispatch</h1>
        {api && (
          <>
            <nav aria-label="Views" className="tabs">
              <button type="button" aria-current={view === 'destinations' ? 'page' : undefined} onClick={() => go('destinations')}>
                Destinations
              </button>
              <button type="button" aria-current={view === 'events' ? 'page' : undefined} onClick={() => go('events')}>
                Events
              </button>
              <button type="button" aria-current={view === 'deliveries' ? 'page' : undefined} onClick={() => go('deliveries')}>
                Deliveries
              </button>
              <button type="button" aria-current={view === 'dead-letters' ? 'page' : undefined} onClick={() => go('dead-letters')}>
                Dead letters
              </button>
              <button type="button" aria-current={view === 'alerts' ? 'page' : undefined} onClick={() => go('alerts')}>
                Alerts
              </button>
              <button type="button" aria-current={view === 'live' ? 'page' : undefined} onClick={() => go('live')}>
                Live
              </button>
              <button type="button" aria-current={view === 'audit' ? 'page' : undefined} onClick={() => go('audit')}>
                Audit log
              </button>
              <button type="button" aria-current={view === 'api-keys' ? 'page' : undefined} onClick={() => go('api-keys')}>
                API keys
              </button>
            </nav>
            <nav aria-label="Operations" className="links">
              <a href="/docs" target="_blank" rel="noreferrer">
                API docs
              </a>
              <a href="/queues" target="_blank" rel="noreferrer">
                Queues
              </a>
              <button type="button" onClick={() => signOut(null)}>
                Sign out
              </button>
            </nav>
          </>
        )}
      </header>
      {api === null ? (
        <SignIn onSignedIn={signIn} notice={signInNotice} />
      ) : view === 'destinations' ? (
        route.destinationId === undefined ? (
          <Destinations api={api} />
        ) : (
          <DestinationPage key={route.destinationId} api={api} destinationId={route.destinationId} />
        )
      ) : view === 'alerts' ? (
        <Alerts api={api} />
      ) : view === 'deliveries' ? (
        <Deliveries api={api} />
      ) : view === 'events' ? (
        route.eventId === undefined ? (
          <Events api={api} />
        ) : (
          <EventPage key={route.eventId} api={api} eventId={route.eventId} />
        )
      ) : view === 'dead-letters' ? (
        <DeadLetters api={api} />
      ) : view === 'api-keys' ? (
        <ApiKeys api={api} />
      ) : view === 'live' ? (
        <Live api={api} subject={route.subject} />
      ) : (
        <AuditLog api={api} />
      )}
    </div>
  );
}
