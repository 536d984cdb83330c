import { randomUUID } from 'node:crypto';
import { request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { IdentityHeaders, parseRequestInfo, type RequestInfo } from '@hawser/agent';
import type { Session } from '@hawser/protocol';
import { authorize, type Authorization, type AuthorizationConfig, type OperatorIdentity } from './authorization.js';
import { sendKubeStatus, writeKubeStatus } from './kube-status.js';
import { tunnelAgentFor } from './tunnel-agent.js';
import type { Logger } from './log.js';
import type { ClusterRecord } from './store.js';

/** Where live tunnels are found by cluster id. */
export interface TunnelDirectory {
  session(clusterId: string): Session | undefined;
}

/** One relayed request, as the audit records it. */
export interface RelayAuditEvent {
  requestId: string;
  user: string;
  groups: readonly string[];
  tier: string | undefined;
  cluster: string;
  clusterId: string | undefined;
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  path: string;
  status: number;
  /** Response bytes relayed to the client. */
  bytes: number;
  durationMs: number;
  sourceIp: string | undefined;
  /** Why Hawser refused or failed it, when it did. */
  reason?: string;
}

export interface ClusterRelayOptions {
  authenticate(authorization: string | undefined): Promise<OperatorIdentity>;
  findCluster(name: string): Promise<ClusterRecord | undefined>;
  tunnels: TunnelDirectory;
  authorization: AuthorizationConfig;
  audit(event: RelayAuditEvent): void;
  /**
   * Makes the request's audit record durable; awaited before a tunnel
   * stream opens. A rejection answers 503 and nothing reaches the cluster.
   */
  begin?(event: RelayAuditEvent): Promise<void>;
  log: Logger;
  /** How long the agent may take to answer with response headers. Default 60 s. */
  responseTimeoutMs?: number;
  /** Retry-After for "not connected", seconds. Default 5. */
  retryAfterSeconds?: number;
  /** Live requests by credential, so a revocation can end them (operator-streams.ts). */
  streams?: { track(credentialId: string, end: (reason: string) => void): () => void };
}

const PREFIX = '/clusters/';
/** How long an upgraded session may take to flush toward the agent after its client left. */
const UPGRADE_FLUSH_MS = 5_000;
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

/** Drops what the client must not pass on: credentials, impersonation, our own identity headers. */
function forwardable(name: string): boolean {
  return !hopByHop.has(name) && name !== 'authorization' && !name.startsWith('impersonate-') && !name.startsWith('x-hawser-');
}

interface Prepared {
  cluster: ClusterRecord;
  session: Session;
  path: string;
  headers: OutgoingHttpHeaders;
  info: RequestInfo;
  event: RelayAuditEvent;
  credentialId: string;
}

/**
 * The operator side of the relay: `https://SERVER/clusters/NAME/<kube API path>`.
 * Authenticates the caller, resolves the cluster, authorizes by mode, strips
 * every client-sent credential and impersonation header, names the operator
 * to the agent in X-Hawser-* headers, and runs the request over a fresh
 * tunnel stream (one per request, so a stalled watch stalls only itself).
 * Errors Hawser produces are Kubernetes Status objects.
 */
export class ClusterRelay {
  readonly #opts: ClusterRelayOptions;
  readonly #responseTimeoutMs: number;
  /** Events already audited: every request is recorded exactly once, whichever path ends it. */
  readonly #finished = new WeakSet<RelayAuditEvent>();

  constructor(opts: ClusterRelayOptions) {
    this.#opts = opts;
    this.#responseTimeoutMs = opts.responseTimeoutMs ?? 60_000;
  }

  /** Whether this request is for the relay (as opposed to the admin API). */
  static matches(url: string | undefined): boolean {
    return url !== undefined && url.startsWith(PREFIX);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const prepared = await this.#prepare(req, (code, message, headers, event) => {
      sendKubeStatus(res, code, message, headers);
      this.#finish(event, code, 0, started, message);
    });
    if (!prepared) return;
    const unrecorded = await this.#begin(prepared);
    if (unrecorded) {
      sendKubeStatus(res, 503, unrecorded, { 'retry-after': '1' });
      this.#finish(prepared.event, 503, 0, started, unrecorded);
      return;
    }
    const { session, path, headers, event, info, cluster } = prepared;
    let bytes = 0;
    let answered = false;
    const upstream = request({
      method: req.method,
      path,
      headers,
      agent: tunnelAgentFor(session),
    });
    const timer = setTimeout(() => {
      if (answered) return;
      answered = true;
      upstream.destroy();
      sendKubeStatus(res, 504, `cluster "${cluster.name}" did not answer within ${Math.round(this.#responseTimeoutMs / 1000)} s`);
      this.#finish(event, 504, 0, started, 'upstream timeout');
    }, this.#responseTimeoutMs);
    upstream.on('response', (up) => {
      answered = true;
      clearTimeout(timer);
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(up.headersDistinct)) if (v && !hopByHop.has(k)) out[k] = v;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
      // A watch may be silent for minutes; the client must see headers now.
      // A body of known length follows at once: its headers go out with
      // its first bytes, one write and one TLS record fewer per request.
      if (up.headers['content-length'] === undefined) res.flushHeaders();
      up.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // Backpressure: a slow client pauses this stream only; the tunnel
        // credit window then pauses the agent for this stream only.
        if (!res.write(chunk)) up.pause();
      });
      res.on('drain', () => up.resume());
      up.on('end', () => {
        res.end();
        this.#finish(event, up.statusCode ?? 502, bytes, started);
      });
      up.on('error', () => {
        // The tunnel went away mid-body. A watch ends cleanly, so informers
        // re-list; any other body is cut so the client sees it incomplete.
        if (info.verb === 'watch') res.end();
        else res.destroy();
        this.#finish(event, up.statusCode ?? 502, bytes, started, 'tunnel lost mid-response');
      });
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      if (answered) return;
      answered = true;
      const message = `cluster "${cluster.name}" disconnected while handling the request (${err.message}); retry`;
      sendKubeStatus(res, 503, message, { 'retry-after': String(this.#opts.retryAfterSeconds ?? 5) });
      this.#finish(event, 503, 0, started, err.message);
    });
    // The client went away: abort the stream so the agent aborts upstream.
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) upstream.destroy();
    });
    // A revoked credential ends its requests, a watch included.
    const untrack = this.#opts.streams?.track(prepared.credentialId, (reason) => {
      upstream.destroy(new Error(reason));
      res.destroy();
    });
    if (untrack) res.on('close', untrack);
    req.pipe(upstream);
  }

  /** exec, attach, port-forward: an HTTP upgrade carried over one tunnel stream. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = performance.now();
    // A client that resets during authentication must not become an
    // unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const prepared = await this.#prepare(req, (code, message, headers, event) => {
      writeKubeStatus(socket, code, message, headers);
      this.#finish(event, code, 0, started, message);
    });
    if (!prepared) return;
    const unrecorded = await this.#begin(prepared);
    if (unrecorded) {
      writeKubeStatus(socket, 503, unrecorded, { 'retry-after': '1' });
      this.#finish(prepared.event, 503, 0, started, unrecorded);
      return;
    }
    const { session, path, headers, event } = prepared;
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade;
    let stream: ReturnType<Session['openStream']>;
    try {
      stream = session.openStream();
    } catch (err) {
      writeKubeStatus(socket, 503, `cluster "${prepared.cluster.name}" cannot take another stream now (${(err as Error).message}); retry`, { 'retry-after': '1' });
      this.#finish(event, 503, 0, started, (err as Error).message);
      return;
    }
    // Write the request head ourselves and splice bytes both ways: the
    // agent's reply (101 or an error) reaches the client unchanged.
    const lines = [`${req.method} ${path} HTTP/1.1`];
    for (const [k, v] of Object.entries(headers)) {
      for (const value of Array.isArray(v) ? v : [v]) if (value !== undefined) lines.push(`${k}: ${value}`);
    }
    stream.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) stream.write(head);
    let bytes = 0;
    let status = 0;
    stream.on('data', (d: Buffer) => {
      // The first bytes are the answer's status line: 101, or the agent's
      // or API server's refusal, which the audit must record as such.
      if (!status) status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(d.toString('latin1', 0, 16))?.[1] ?? 502);
      bytes += d.length;
    });
    const untrack = this.#opts.streams?.track(prepared.credentialId, (reason) => {
      stream.destroy(new Error(reason));
      socket.destroy();
    });
    if (untrack) stream.on('close', untrack);
    stream.pipe(socket);
    socket.pipe(stream);
    // pipe() carries clean ends both ways after what is queued (the exec
    // exit status is among the last bytes); only an abrupt close on one
    // side destroys the other.
    stream.on('error', () => socket.destroy());
    socket.on('error', () => stream.destroy());
    stream.on('close', () => {
      if (!stream.readableEnded) socket.destroy();
      this.#finish(event, status || 502, bytes, started, status >= 400 || !status ? 'upgrade refused or failed' : undefined);
    });
    socket.on('close', () => {
      // The client is gone. Bytes it sent last may still be queued toward
      // the agent: let them leave, then close the stream (a session whose
      // far end never ends must not outlive its client).
      if (!socket.readableEnded || stream.writableFinished) return void stream.destroy();
      const timer = setTimeout(() => stream.destroy(), UPGRADE_FLUSH_MS);
      stream.once('finish', () => {
        clearTimeout(timer);
        stream.destroy();
      });
    });
  }

  async #prepare(
    req: IncomingMessage,
    refuse: (code: number, message: string, headers: Record<string, string>, event: RelayAuditEvent) => void,
  ): Promise<Prepared | undefined> {
    const requestId = randomUUID();
    const rest = (req.url ?? '').slice(PREFIX.length);
    const slash = rest.indexOf('/');
    const name = decodeURIComponent(slash < 0 ? rest.split('?')[0]! : rest.slice(0, slash));
    const path = slash < 0 ? `/${rest.includes('?') ? rest.slice(rest.indexOf('?')) : ''}` : rest.slice(slash);
    const info = parseRequestInfo(req.method ?? 'GET', path);
    const event: RelayAuditEvent = {
      requestId,
      user: 'anonymous',
      groups: [],
      tier: undefined,
      cluster: name,
      clusterId: undefined,
      verb: info.verb,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
      path: path.split('?')[0]!,
      status: 0,
      bytes: 0,
      durationMs: 0,
      sourceIp: req.socket.remoteAddress,
    };

    let identity: OperatorIdentity;
    try {
      identity = await this.#opts.authenticate(req.headers.authorization);
    } catch (err) {
      this.#opts.log.info({ requestId, reason: (err as Error).message }, 'relay: authentication failed');
      refuse(401, 'Unauthorized: present a valid OIDC ID token or Hawser API token as a bearer token', {}, { ...event, reason: (err as Error).message });
      return undefined;
    }
    event.user = identity.username;
    event.groups = identity.groups;

    let cluster: ClusterRecord | undefined;
    try {
      cluster = await this.#opts.findCluster(name);
    } catch (err) {
      // The store failed: answer, never leave the request hanging or let
      // the rejection escape the relay.
      this.#opts.log.error({ requestId, err }, 'relay: cluster lookup failed');
      refuse(500, `Hawser could not look up cluster "${name}" (request ${requestId}); retry`, {}, { ...event, reason: (err as Error).message });
      return undefined;
    }
    if (!cluster) {
      refuse(404, `cluster "${name}" is not registered with Hawser`, {}, event);
      return undefined;
    }
    event.clusterId = cluster.id;

    const authz: Authorization = authorize(identity, this.#opts.authorization);
    if (!authz.allowed) {
      refuse(403, `Hawser refused this request: ${authz.reason}`, {}, event);
      return undefined;
    }
    event.tier = authz.tier;

    const session = this.#opts.tunnels.session(cluster.id);
    if (!session || session.isClosed || session.draining) {
      const seen = cluster.lastSeen ? `last seen ${cluster.lastSeen.toISOString()}` : 'never connected';
      refuse(503, `cluster "${name}" is not connected (${seen})`, { 'retry-after': String(this.#opts.retryAfterSeconds ?? 5) }, event);
      return undefined;
    }

    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headersDistinct)) {
      if (v && forwardable(k)) headers[k] = v.length === 1 ? v[0] : v;
    }
    headers.host = 'kubernetes';
    if (authz.user) headers[IdentityHeaders.USER] = authz.user;
    if (authz.groups.length) headers[IdentityHeaders.GROUP] = [...authz.groups];
    headers[IdentityHeaders.REQUEST_ID] = requestId;
    return { cluster, session, path, headers, info, event, credentialId: identity.credentialId };
  }

  /** Awaits the durable audit record; returns why it failed, or undefined. */
  async #begin(prepared: Prepared): Promise<string | undefined> {
    try {
      await this.#opts.begin?.(prepared.event);
      return undefined;
    } catch (err) {
      this.#opts.log.error({ requestId: prepared.event.requestId, err }, 'relay: audit record not durable; request refused');
      return `Hawser could not record this request in its audit trail, so it was not sent to cluster "${prepared.cluster.name}" (${(err as Error).message}); retry`;
    }
  }

  #finish(event: RelayAuditEvent, status: number, bytes: number, started: number, reason?: string): void {
    if (this.#finished.has(event)) return;
    this.#finished.add(event);
    this.#opts.audit({
      ...event,
      status,
      bytes,
      durationMs: Math.round(performance.now() - started),
      ...(reason ? { reason } : {}),
    });
  }
}
