import { useEffect, useState } from 'react';
import { adminAccess, Refusal, type Session } from './api.js';
import { usePath } from './navigation.js';
import { Link } from './AdminParts.js';
import { AdminClusters } from './AdminClusters.js';
import { AdminTokens } from './AdminTokens.js';
import { AdminAudit } from './AdminAudit.js';

const TABS = [
  ['/admin', 'Clusters'],
  ['/admin/tokens', 'API tokens'],
  ['/admin/audit', 'Audit log'],
] as const;

/**
 * The admin pages (tier admin only). Anyone else who opens the URL gets the
 * server's sentence; the server refuses every admin call by itself too.
 */
export function AdminPage({ session }: { session: Session }) {
  const path = usePath();
  const [refused, setRefused] = useState<string | undefined>();
  const [ready, setReady] = useState(false);
  useEffect(() => {
    adminAccess().then(
      (a) => {
        setRefused(a.admin ? undefined : `The admin pages are for operators of the admin tier; ${session.user} is ${a.tier ? `of the ${a.tier} tier` : 'of no tier'}.`);
        setReady(true);
      },
      (err: unknown) => {
        setRefused(err instanceof Refusal ? err.message : String(err));
        setReady(true);
      },
    );
  }, [session.user]);
  if (!ready) return <p className="muted">Loading…</p>;
  if (refused) {
    return (
      <p className="refusal" role="alert" data-testid="admin-refused">
        {refused}
      </p>
    );
  }
  return (
    <section className="admin">
      <nav className="tabs">
        {TABS.map(([to, label]) => (
          <span key={to} className={path === to ? 'active' : ''}>
            <Link to={to}>{label}</Link>
          </span>
        ))}
      </nav>
      {path.startsWith('/admin/tokens') ? <AdminTokens session={session} /> : path.startsWith('/admin/audit') ? <AdminAudit /> : <AdminClusters session={session} />}
    </section>
  );
}

/** The header's Admin link, shown to operators of the admin tier only. */
export function AdminLink() {
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    adminAccess().then(
      (a) => setAdmin(a.admin),
      () => setAdmin(false),
    );
  }, []);
  return admin ? <Link to="/admin" testId="admin-link">Admin</Link> : null;
}
