import { useEffect, useState, type FormEvent } from 'react';
import { auditLog, type AuditPage } from './api.js';
import { AdminError, errorMessage } from './AdminParts.js';
import { navigate } from './navigation.js';

const PAGE_SIZE = 50;
const FILTERS = ['cluster', 'user', 'verb', 'status', 'type', 'since', 'until'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

function filtersFromUrl(): Filters {
  const p = new URLSearchParams(location.search);
  return Object.fromEntries(FILTERS.map((f) => [f, p.get(f) ?? ''])) as Filters;
}

/** `2026-11-29T08:00` (a datetime-local input) -> ISO; other text (1h, an ISO time) as it is. */
function asTime(text: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(text) ? new Date(text).toISOString() : text;
}

/**
 * The audit log, newest last, with filters (cluster, user, verb, status,
 * type, time) kept in the URL, and paging to older events.
 */
export function AdminAudit() {
  const [form, setForm] = useState<Filters>(filtersFromUrl);
  const [applied, setApplied] = useState<Filters>(filtersFromUrl);
  const [page, setPage] = useState<AuditPage | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    setError(undefined);
    auditLog({ ...applied, since: asTime(applied.since), until: asTime(applied.until), limit: String(PAGE_SIZE) }).then(setPage, (err: unknown) => {
      setPage(undefined);
      setError(errorMessage(err));
    });
  }, [applied]);

  const apply = (next: Filters) => {
    const params = new URLSearchParams(Object.entries(next).filter(([, v]) => v));
    navigate(`/admin/audit${params.size ? `?${params.toString()}` : ''}`);
    setApplied(next);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply({ ...form, until: '' });
  };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const oldest = page?.events[0];
  return (
    <div>
      <h2>Audit log</h2>
      <form className="admin-form" onSubmit={submit} data-testid="audit-filters">
        <input name="cluster" placeholder="cluster" value={form.cluster} onChange={set('cluster')} />
        <input name="user" placeholder="user" value={form.user} onChange={set('user')} />
        <input name="verb" placeholder="verb (get, delete…)" value={form.verb} onChange={set('verb')} />
        <input name="status" placeholder="status (failure, 403…)" value={form.status} onChange={set('status')} />
        <input name="type" placeholder="type (request.relayed…)" value={form.type} onChange={set('type')} />
        <input name="since" placeholder="since (1h, or a time)" value={form.since} onChange={set('since')} />
        <button type="submit">Filter</button>
      </form>
      <AdminError error={error} />
      {page && (
        <>
          <table data-testid="audit">
            <thead>
              <tr>
                <th>Time</th>
                <th>Type</th>
                <th>User</th>
                <th>Verb</th>
                <th>Status</th>
                <th>What</th>
              </tr>
            </thead>
            <tbody>
              {page.events.map((e) => (
                <tr key={e.id} data-type={e.type} data-actor={e.actor}>
                  <td>{new Date(e.time).toLocaleString()}</td>
                  <td>{e.type}</td>
                  <td>{e.actor}</td>
                  <td>{typeof e.details.verb === 'string' ? e.details.verb : ''}</td>
                  <td className={e.outcome === 'failure' ? 'state disconnected' : ''}>{typeof e.details.status === 'number' ? e.details.status : e.outcome}</td>
                  <td className="details">{summary(e.details)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">
            {page.events.length === 0 ? 'No event matches.' : `${page.events.length} event(s)`}
            {applied.until && ` before ${new Date(applied.until).toLocaleString()}`}
            {page.olderThanSince && `; older ones before ${new Date(page.olderThanSince).toLocaleString()}`}
          </p>
          <div className="pager">
            <button type="button" disabled={!applied.until} onClick={() => apply({ ...applied, until: '' })}>
              Newest
            </button>
            <button type="button" data-testid="audit-older" disabled={!page.truncated || !oldest} onClick={() => oldest && apply({ ...applied, until: oldest.time })}>
              Older
            </button>
          </div>
        </>
      )}
    </div>
  );
}

function summary(details: Record<string, unknown>): string {
  const { verb: _verb, status: _status, ...rest } = details;
  return Object.entries(rest)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ')
    .slice(0, 240);
}
