import { useState, type FormEvent } from 'react';
import { signIn, type Session } from './api.js';

/** Sign-in with a Hawser API token; the browser keeps only an HttpOnly session cookie. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    signIn(token).then(onSignedIn, (err: Error) => setError(err.message));
  };
  return (
    <form className="sign-in" onSubmit={submit}>
      <h1>Hawser</h1>
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
