import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { createApiToken, listApiTokens, revokeApiToken, type ApiTokenView, type Session } from './api.js';
import { AdminError, Confirm, CopyButton, errorMessage } from './AdminParts.js';

/** Hawser API tokens: list, create (the secret is shown once, here), revoke. */
export function AdminTokens({ session }: { session: Session }) {
  const [tokens, setTokens] = useState<ApiTokenView[]>([]);
  const [form, setForm] = useState({ user: '', groups: '', ttl: '' });
  const [secret, setSecret] = useState<{ user: string; token: string } | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [confirming, setConfirming] = useState<string | undefined>();

  const reload = useCallback(() => {
    listApiTokens().then(setTokens, (err: unknown) => setError(errorMessage(err)));
  }, []);
  useEffect(reload, [reload]);

  const create = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    const groups = form.groups.split(',').map((g) => g.trim()).filter(Boolean);
    createApiToken(session, { user: form.user.trim(), groups, ...(form.ttl.trim() ? { ttl: form.ttl.trim() } : {}) }).then(
      (t) => {
        setSecret({ user: t.user, token: t.token });
        setForm({ user: '', groups: '', ttl: '' });
        reload();
      },
      (err: unknown) => setError(errorMessage(err)),
    );
  };

  const revoke = (id: string) => {
    setError(undefined);
    revokeApiToken(session, id).then(
      () => {
        setConfirming(undefined);
        reload();
      },
      (err: unknown) => setError(errorMessage(err)),
    );
  };

  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  return (
    <div>
      <h2>Create an API token</h2>
      <form className="admin-form" onSubmit={create} data-testid="token-form">
        <input name="user" placeholder="user (ci-deployer)" value={form.user} onChange={set('user')} required />
        <input name="groups" placeholder="groups: idp-read, sre" value={form.groups} onChange={set('groups')} />
        <input name="ttl" placeholder="lifetime (90d; empty: none)" value={form.ttl} onChange={set('ttl')} />
        <button type="submit">Create</button>
      </form>
      {secret && (
        <div className="helm" data-testid="token-secret">
          <p>
            The token of <b>{secret.user}</b>. It is shown this once: Hawser keeps only its hash.
          </p>
          <pre data-testid="token-value">{secret.token}</pre>
          <CopyButton text={secret.token} />
          <button type="button" onClick={() => setSecret(undefined)}>
            Done
          </button>
        </div>
      )}
      <AdminError error={error} />
      <h2>API tokens</h2>
      <table data-testid="admin-tokens">
        <thead>
          <tr>
            <th>User</th>
            <th>Groups</th>
            <th>Created</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.map((t) => (
            <tr key={t.id} data-token={t.id} data-user={t.user}>
              <td>
                {t.user}
                {t.admin && <span className="muted"> (admin token)</span>}
              </td>
              <td>{t.groups.join(', ')}</td>
              <td>{new Date(t.createdAt).toLocaleString()}</td>
              <td>{t.expiresAt ? new Date(t.expiresAt).toLocaleString() : 'never'}</td>
              <td>
                {t.admin ? null : (
                  <Confirm
                    open={confirming === t.id}
                    onOpen={() => setConfirming(t.id)}
                    onCancel={() => setConfirming(undefined)}
                    onConfirm={() => revoke(t.id)}
                    label="Revoke…"
                    confirmLabel={`Revoke ${t.user}'s token`}
                  />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
