import { useState, type FormEvent } from 'react';
import { ApiError, errorMessage, verifyApiKey } from './api';
import { ErrorAlert } from './ErrorAlert';

interface Props {
  onSignedIn: (apiKey: string) => void;
  /** Why the operator is here again, e.g. the key stopped working. */
  notice: string | null;
}

export function SignIn({ onSignedIn, notice }: Props) {
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const key = apiKey.trim();
    if (key === '') {
      setError('Enter an API key');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await verifyApiKey(key);
      onSignedIn(key);
    } catch (caught) {
      setError(caught instanceof ApiError && caught.status === 401 ? 'Unknown API key' : errorMessage(caught));
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <form className="card" onSubmit={submit} noValidate>
        <h2>Sign in</h2>
        <p className="muted">Use an API key of your organization.</p>
        {notice && (
          <p role="status" className="notice">
            {notice}
          </p>
        )}
        <label htmlFor="api-key">API key</label>
        <input id="api-key" type="password" autoComplete="current-password" value={apiKey} onChange={(event) => setApiKey(event.target.value)} autoFocus />
        {error && <ErrorAlert message={error} />}
        <button type="submit" className="primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
