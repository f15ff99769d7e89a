import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { API_KEY_ROLES, errorMessage, type Api, type ApiKey, type ApiKeyRole, type CreatedApiKey } from './api';
import { ErrorAlert, toShownError, type ShownError } from './ErrorAlert';
import { formatTime } from './format';
import { useLatestRequest } from './useLatestRequest';

interface Props {
  api: Api;
}

const ROLE_HINTS: Record<ApiKeyRole, string> = {
  admin: 'admin — everything, keys included',
  producer: 'producer — sends events, reads',
  viewer: 'viewer — reads only',
};

/** The organization's API keys (admin keys only): list, create (the key shown once), revoke. */
export function ApiKeys({ api }: Props) {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [listError, setListError] = useState<ShownError | null>(null);
  const [revokeError, setRevokeError] = useState<ShownError | null>(null);
  const [confirming, setConfirming] = useState<ApiKey | null>(null);
  const [revoking, setRevoking] = useState(false);
  const [revokedNotice, setRevokedNotice] = useState<string | null>(null);

  const [name, setName] = useState('');
  const [role, setRole] = useState<ApiKeyRole>('producer');
  const [createError, setCreateError] = useState<ShownError | null>(null);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const startRequest = useLatestRequest();

  const load = useCallback(async () => {
    const isLatest = startRequest();
    try {
      const listed = await api.listApiKeys();
      if (isLatest()) {
        setKeys(listed);
        setListError(null);
      }
    } catch (caught) {
      if (isLatest()) setListError(toShownError(caught));
    }
  }, [api, startRequest]);

  useEffect(() => {
    void load();
  }, [load]);

  async function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setCreating(true);
    setCreateError(null);
    setCreated(null);
    setCopied(null);
    try {
      setCreated(await api.createApiKey({ name, role }));
      setName('');
      await load();
    } catch (caught) {
      setCreateError(toShownError(caught));
    } finally {
      setCreating(false);
    }
  }

  async function copy(key: string) {
    try {
      await navigator.clipboard.writeText(key);
      setCopied('Copied to the clipboard.');
    } catch (caught) {
      setCopied(`Cannot copy (${errorMessage(caught)}): select the key and copy it by hand.`);
    }
  }

  async function revoke(key: ApiKey) {
    setRevoking(true);
    setRevokeError(null);
    setRevokedNotice(null);
    try {
      await api.revokeApiKey(key.id);
      setConfirming(null);
      setRevokedNotice(`Revoked ${key.name}: requests with it are refused from now on.`);
      await load();
    } catch (caught) {
      setConfirming(null);
      setRevokeError(toShownError(caught));
    } finally {
      setRevoking(false);
    }
  }

  return (
    <main className="view">
      <section aria-labelledby="api-keys-heading">
        <div className="section-head">
          <h2 id="api-keys-heading">API keys</h2>
        </div>
        {listError && <ErrorAlert message={listError.message} details={listError.details} />}
        {revokeError && <ErrorAlert message={revokeError.message} details={revokeError.details} />}
        {revokedNotice && (
          <p role="status" className="notice replay-note">
            {revokedNotice}
          </p>
        )}
        {confirming && (
          <div role="group" aria-labelledby="revoke-confirm-question" className="confirm">
            <p id="revoke-confirm-question">{`Revoke ${confirming.name} (${confirming.role})? Requests with it are refused at once; this cannot be undone.`}</p>
            <button type="button" className="primary" disabled={revoking} onClick={() => void revoke(confirming)}>
              Revoke key
            </button>
            <button type="button" onClick={() => setConfirming(null)} autoFocus>
              Cancel
            </button>
          </div>
        )}
        {keys === null ? (
          listError ? null : (
            <p className="muted">Loading API keys…</p>
          )
        ) : (
          <table aria-label="API keys">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Revoked</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.name} <code className="muted">{key.id}</code>
                  </td>
                  <td>{key.role}</td>
                  <td className="nowrap">{formatTime(key.createdAt)}</td>
                  <td className="nowrap">{key.lastUsedAt ? formatTime(key.lastUsedAt) : 'never'}</td>
                  <td className="nowrap">{key.revokedAt ? <span className="badge badge-disabled">{formatTime(key.revokedAt)}</span> : '—'}</td>
                  <td className="actions">
                    {key.revokedAt === null && (
                      <button
                        type="button"
                        aria-label={`Revoke ${key.name}`}
                        aria-pressed={confirming?.id === key.id}
                        onClick={() => {
                          setRevokeError(null);
                          setRevokedNotice(null);
                          setConfirming(key);
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <p className="hint">Last used is precise to a minute.</p>
      </section>

      <section aria-labelledby="new-api-key-heading" className="card">
        <h2 id="new-api-key-heading">New API key</h2>
        {created && (
          <div role="status" className="notice">
            <p>
              <strong>{`Key for ${created.name} (${created.role}) — copy it now: it will not be shown again.`}</strong>
            </p>
            <p>
              <code aria-label="New API key">{created.key}</code>{' '}
              <button type="button" onClick={() => void copy(created.key)}>
                Copy
              </button>{' '}
              {copied && <span>{copied}</span>}
            </p>
          </div>
        )}
        <form aria-labelledby="new-api-key-heading" onSubmit={create} noValidate>
          <label htmlFor="api-key-name">Name</label>
          <input
            id="api-key-name"
            type="text"
            placeholder="ci, billing service…"
            aria-invalid={createError?.details.some((detail) => detail.path === 'name') || undefined}
            value={name}
            onChange={(event) => setName(event.target.value)}
          />
          <label htmlFor="api-key-role">Role</label>
          <select id="api-key-role" value={role} onChange={(event) => setRole(event.target.value as ApiKeyRole)}>
            {API_KEY_ROLES.map((one) => (
              <option key={one} value={one}>
                {ROLE_HINTS[one]}
              </option>
            ))}
          </select>
          {createError && <ErrorAlert message={createError.message} details={createError.details} />}
          <button type="submit" className="primary" disabled={creating}>
            Create key
          </button>
        </form>
      </section>
    </main>
  );
}
