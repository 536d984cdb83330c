/** The console's calls: its own API under /console/v1, and Kubernetes through the relay. */

export interface Session {
  user: string;
  groups: string[];
  csrf: string;
}

export interface ClusterView {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: 'connected' | 'disconnected' | 'never';
  lastSeen: string | null;
  agentVersion: string | null;
  kubernetesVersion: string | null;
}

/** A Kubernetes or Hawser refusal, with the sentence to show where the data would be. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string | undefined,
  ) {
    super(message);
  }
}

async function refusal(res: Response): Promise<Refusal> {
  // The session ended (signed out elsewhere, its token revoked, its tier lost): back to sign-in.
  if (res.status === 401) dispatchEvent(new Event(SESSION_ENDED_EVENT));
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { message?: string; reason?: string; error?: { message?: string } };
    return new Refusal(res.status, body.message ?? body.error?.message ?? `HTTP ${res.status}`, body.reason);
  } catch {
    return new Refusal(res.status, text || `HTTP ${res.status}`, undefined);
  }
}

export async function currentSession(): Promise<Session | undefined> {
  const res = await fetch('/console/v1/session', { credentials: 'same-origin' });
  if (res.status === 401) return undefined;
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as Session;
}

export async function signIn(token: string): Promise<Session> {
  const res = await fetch('/console/v1/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as Session;
}

export async function signOut(session: Session): Promise<void> {
  await fetch('/console/v1/session', { method: 'DELETE', credentials: 'same-origin', headers: { 'x-hawser-csrf': session.csrf } });
}

/** GET through the relay, as the signed-in operator. */
export async function kubeGet<T>(cluster: string, path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/clusters/${encodeURIComponent(cluster)}${path}`, { credentials: 'same-origin', signal: signal ?? null });
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as T;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Streams a watch through the relay; resolves when it ends, rejects on a refusal. onOpen: the API server accepted it. */
export async function kubeWatch<T>(cluster: string, path: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal, onOpen?: () => void): Promise<void> {
  const sep = path.includes('?') ? '&' : '?';
  const res = await fetch(`/clusters/${encodeURIComponent(cluster)}${path}${sep}watch=1&allowWatchBookmarks=true`, { credentials: 'same-origin', signal });
  if (!res.ok || !res.body) throw await refusal(res);
  onOpen?.();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
    }
  }
}

/** GET through the relay with an Accept of the caller's choice (aggregated discovery asks for its own media type). */
export async function kubeGetAccept<T>(cluster: string, path: string, accept: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`/clusters/${encodeURIComponent(cluster)}${path}`, { credentials: 'same-origin', headers: { accept }, signal: signal ?? null });
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as T;
}

/** What the console knows of one cluster beyond the list: its agent's mode, which decides exec. */
export interface ClusterAgent {
  name: string;
  status: ClusterView['status'];
  /** read-only, read-write or full, as the agent last reported it; null before it connected. */
  agentMode: string | null;
}

export async function clusterAgent(cluster: string, signal?: AbortSignal): Promise<ClusterAgent | undefined> {
  const res = await fetch('/console/v1/clusters', { credentials: 'same-origin', signal: signal ?? null });
  if (!res.ok) throw await refusal(res);
  const body = (await res.json()) as { clusters: ClusterAgent[] };
  return body.clusters.find((c) => c.name === cluster);
}

export interface AccessCheck {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

/**
 * `kubectl auth can-i` through the relay: a SelfSubjectAccessReview, as the
 * signed-in operator. A POST, so it carries the session's CSRF token; every
 * agent mode relays it (it asks, it changes nothing).
 */
export async function canI(
  cluster: string,
  session: Session,
  attrs: { verb: string; resource: string; subresource?: string; namespace?: string; name?: string; group?: string },
  signal?: AbortSignal,
): Promise<AccessCheck> {
  const res = await fetch(`/clusters/${encodeURIComponent(cluster)}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-hawser-csrf': session.csrf },
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } }),
    signal: signal ?? null,
  });
  if (!res.ok) throw await refusal(res);
  const review = (await res.json()) as { status?: { allowed?: boolean; reason?: string } };
  return { allowed: review.status?.allowed === true, ...(review.status?.reason ? { reason: review.status.reason } : {}) };
}

/** Streams a text body through the relay (pod logs), chunk by chunk as it arrives; resolves when it ends. */
export async function kubeStreamText(cluster: string, path: string, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`/clusters/${encodeURIComponent(cluster)}${path}`, { credentials: 'same-origin', signal });
  if (!res.ok || !res.body) throw await refusal(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onText(value);
  }
}

// ---- admin pages and the command palette (console-admin) ----

/** Fired on window when a console call is answered 401: the App shows the sign-in page. */
export const SESSION_ENDED_EVENT = 'hawser:session-ended';

/** Whether the signed-in operator may use the admin pages (tier admin). */
export interface AdminAccess {
  admin: boolean;
  tier: string | null;
}

export interface ApiTokenView {
  id: string;
  user: string;
  groups: string[];
  createdAt: string;
  expiresAt: string | null;
  admin: boolean;
}

export interface AuditEventView {
  id: string;
  time: string;
  type: string;
  actor: string;
  clusterId: string | null;
  requestId: string | null;
  sourceIp: string | null;
  outcome: 'success' | 'failure';
  reason: string | null;
  details: Record<string, unknown>;
}

export interface AuditPage {
  events: AuditEventView[];
  truncated: boolean;
  olderThanSince: string | null;
}

/** A console API call: JSON both ways, the CSRF token on unsafe methods, refusals as Refusal. */
export async function consoleCall<T>(session: Session | undefined, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session) headers['x-hawser-csrf'] = session.csrf;
  const res = await fetch(`/console/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw await refusal(res);
  return (await res.json()) as T;
}

export function adminAccess(): Promise<AdminAccess> {
  return consoleCall<AdminAccess>(undefined, 'GET', '/admin/access');
}

export function fleetClusters(): Promise<ClusterView[]> {
  return consoleCall<{ clusters: ClusterView[] }>(undefined, 'GET', '/clusters').then((r) => r.clusters);
}

export function registerCluster(
  session: Session,
  input: { name: string; labels: Record<string, string>; tokenTtl?: string },
): Promise<{ cluster: ClusterView; bootstrap: { token: string; expiresAt: string; helm: string; kubectl: string } }> {
  return consoleCall(session, 'POST', '/admin/clusters', input);
}

export function deregisterCluster(session: Session, name: string, typed: string): Promise<{ revokedCertificates: number; tunnelsClosed: number }> {
  return consoleCall(session, 'DELETE', `/admin/clusters/${encodeURIComponent(name)}?confirm=${encodeURIComponent(typed)}`);
}

export function listApiTokens(): Promise<ApiTokenView[]> {
  return consoleCall<{ tokens: ApiTokenView[] }>(undefined, 'GET', '/admin/tokens').then((r) => r.tokens);
}

export function createApiToken(session: Session, input: { user: string; groups: string[]; ttl?: string }): Promise<ApiTokenView & { token: string }> {
  return consoleCall(session, 'POST', '/admin/tokens', input);
}

export function revokeApiToken(session: Session, id: string): Promise<{ revoked: ApiTokenView }> {
  return consoleCall(session, 'DELETE', `/admin/tokens/${encodeURIComponent(id)}`);
}

export function auditLog(query: Record<string, string>): Promise<AuditPage> {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v));
  return consoleCall<AuditPage>(undefined, 'GET', `/admin/audit?${params.toString()}`);
}
