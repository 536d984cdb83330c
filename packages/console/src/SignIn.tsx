import { useEffect, useState, type FormEvent } from 'react';
import { signIn, type Session } from './api.js';

/**
 * Sign-in with the configured OpenID provider (authorization code + PKCE,
 * run by the server) or with a Hawser API token; either way the browser
 * keeps only an HttpOnly session cookie.
 */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [oidc, setOidc] = useState(false);
  const [error, setError] = useState<string | undefined>(() => new URLSearchParams(location.search).get('error') ?? undefined);
  useEffect(() => {
    fetch('/console/v1/config').then(
      async (res) => setOidc(((await res.json()) as { oidc: boolean }).oidc),
      () => undefined,
    );
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    signIn(token).then(onSignedIn, (err: Error) => setError(err.message));
  };
  return (
    <form className="sign-in" onSubmit={submit}>
      <h1>Hawser</h1>
      {oidc && (
        <a className="button" href="/console/v1/oidc/start" data-testid="oidc">
          Sign in with your identity provider
        </a>
      )}
      <label>
        API token
        <input name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />
      </label>
      <button type="submit">Sign in</button>
      {error && (
        <p className="refusal" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
