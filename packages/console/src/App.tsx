import { useEffect, useState } from 'react';
import { currentSession, signOut, type Session } from './api.js';
import { navigate, usePath } from './navigation.js';
import { SignIn } from './SignIn.js';
import { Fleet } from './Fleet.js';
import { ClusterPage } from './ClusterPage.js';
import { Search } from './Search.js';
import { PodOps, podOpsRoute } from './PodOps.js';
import { AdminLink, AdminPage } from './AdminPage.js';
import { CommandPalette } from './CommandPalette.js';
import { SESSION_ENDED_EVENT } from './api.js';

export function App() {
  const path = usePath();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    currentSession().then(
      (s) => setSession(s ?? null),
      () => setSession(null),
    );
  }, []);
  useEffect(() => {
    const ended = () => setSession(null);
    addEventListener(SESSION_ENDED_EVENT, ended);
    return () => removeEventListener(SESSION_ENDED_EVENT, ended);
  }, []);

  if (session === undefined) return <p className="muted">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const podOps = podOpsRoute(path);
  return (
    <div className="app">
      <header>
        <a
          href="/fleet"
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            navigate('/fleet');
          }}
        >
          Hawser
        </a>
        <a
          href="/search"
          onClick={(e) => {
            e.preventDefault();
            navigate('/search');
          }}
        >
          Search
        </a>
        <AdminLink />
        <span className="who" data-testid="who">
          {session.user}
        </span>
        <button
          onClick={() => {
            void signOut(session).then(() => setSession(null));
          }}
        >
          Sign out
        </button>
      </header>
      <CommandPalette />
      <main>{path.startsWith('/admin') ? <AdminPage session={session} /> : podOps ? <PodOps route={podOps} session={session} /> : path.startsWith('/c/') ? <ClusterPage /> : path.startsWith('/search') ? <Search /> : <Fleet />}</main>
    </div>
  );
}
