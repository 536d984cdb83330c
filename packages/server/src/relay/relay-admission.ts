import { randomUUID } from 'node:crypto';
import {
  REQUEST_HEAD_CAPABILITY,
  StreamHeadError,
  classifyRequest,
  encodeRequestHead,
  isDiscoveryPath,
  isForwardableRequestHeader,
  forwardableCookie,
  parseRequestInfo,
  type HeaderPair,
  type RequestHead,
  type RequestInfo,
} from '@hawser/contract';
import { HtnErrorCode, isHtnError, type TunnelStream } from '@hawser/protocol';
import { authorize, type OperatorIdentity } from '../auth/authorization.js';
import type { ClusterRelayOptions, RelayAuditEvent, RelayTunnel } from './relay-options.js';
import { ErrorCodes } from '../errors.js';
import type { Refusal } from './kube-status.js';
import { isHttp2, type OperatorRequest } from './operator-http.js';
import { parseRelayRoute } from './relay-route.js';
import type { ClusterRecord } from '../store/store.js';

/** Methods no Kubernetes API gives a body; a body on them is only ever an attack. */
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Admission =
  | {
      ok: true;
      stream: TunnelStream;
      session: RelayTunnel;
      cluster: ClusterRecord;
      info: RequestInfo;
      event: RelayAuditEvent;
      credentialId: string;
      /** The head says no body although the HTTP/2 stream is still open for DATA: relay none. */
      bodyless: boolean;
    }
  | { ok: false; refusal: Refusal; event: RelayAuditEvent };

/**
 * Everything before the first byte goes to an agent: the route, the body's
 * shape, who is asking and whether they may, a live agent that reads
 * request heads, and the head itself as the new stream's OPEN payload. The
 * identity the agent will impersonate is decided here and travels only in
 * that head; every credential and identity header the client sent stays
 * behind.
 */
export async function admit(opts: ClusterRelayOptions, req: OperatorRequest, upgrade: boolean): Promise<Admission> {
  const requestId = randomUUID();
  const method = req.method ?? 'GET';
  const route = parseRelayRoute(req.url ?? '/');
  // The agent's own gate and reading: the audit names what the cluster's API
  // server will see, and a target two stacks could read differently never
  // opens a stream.
  const classified = classifyRequest(method, route.target);
  const info = classified.ok ? classified.info : parseRequestInfo(method, route.target);
  const event: RelayAuditEvent = {
    requestId,
    user: 'anonymous',
    groups: [],
    tier: undefined,
    cluster: route.cluster,
    clusterId: undefined,
    verb: info.verb,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
    path: route.target.split('?')[0]!,
    status: 0,
    bytes: 0,
    durationMs: 0,
    sourceIp: req.socket.remoteAddress,
  };
  const discovery = isDiscoveryPath(route.target);
  const refuse = (status: number, code: Refusal['code'], message: string, headers?: Record<string, string>): Admission => ({
    ok: false,
    refusal: { status, code, message, ...(route.ok ? { cluster: route.cluster } : {}), ...(headers ? { headers } : {}), ...(discovery ? { warn: true } : {}) },
    event,
  });
  const retryAfter = { 'retry-after': String(opts.retryAfterSeconds ?? 5) };

  if (!route.ok) return refuse(400, ErrorCodes.RELAY_PATH_INVALID, route.reason);
  // Node has already framed the body (and refused TE with CL, or two
  // differing lengths); what is left to decide is whether one may exist.
  const length = req.headers['content-length'];
  // HTTP/2 has no Transfer-Encoding: a body of unknown length is DATA after
  // a HEADERS frame that did not end the stream. Clients that send GET that
  // way (Node's http2 client unless told endStream) carry no body in
  // practice, so for GET/HEAD/OPTIONS the head says "no body" and none is
  // relayed rather than refusing them.
  const openH2 = isHttp2(req) && length === undefined && !req.stream.endAfterHeaders;
  const bodyless = openH2 && NO_BODY_METHODS.has(method);
  const chunked = req.headers['transfer-encoding'] !== undefined || (openH2 && !bodyless);
  const hasBody = chunked || (length !== undefined && Number(length) > 0);
  if (hasBody && (upgrade || NO_BODY_METHODS.has(method))) {
    return refuse(400, ErrorCodes.RELAY_BODY_NOT_ALLOWED, `a ${upgrade ? 'connection upgrade' : method} request must not carry a body`);
  }

  let identity: OperatorIdentity;
  try {
    identity = await opts.authenticate(req.headers.authorization, req);
  } catch (err) {
    opts.log.info({ requestId, reason: (err as Error).message }, 'relay: authentication failed');
    event.reason = (err as Error).message;
    return refuse(401, ErrorCodes.UNAUTHORIZED, 'Hawser did not accept the bearer token: present a valid OIDC ID token or Hawser API token');
  }
  event.user = identity.username;
  event.groups = identity.groups;
  if (!classified.ok) {
    event.reason = `${ErrorCodes.RELAY_TARGET_AMBIGUOUS}: ${classified.reason}`;
    return refuse(400, ErrorCodes.RELAY_TARGET_AMBIGUOUS, `Hawser refused this request target: ${classified.reason}`);
  }

  let cluster: ClusterRecord | undefined;
  try {
    cluster = await opts.findCluster(route.cluster);
  } catch (err) {
    // The store failed: answer, never leave the request hanging.
    opts.log.error({ requestId, err }, 'relay: cluster lookup failed');
    event.reason = (err as Error).message;
    return refuse(500, ErrorCodes.STORE_FAILED, `Hawser could not look up cluster "${route.cluster}" (request ${requestId}); retry`);
  }
  if (!cluster) return refuse(404, ErrorCodes.CLUSTER_NOT_FOUND, `cluster "${route.cluster}" is not registered with Hawser`);
  event.clusterId = cluster.id;

  const authz = authorize(identity, opts.authorization);
  if (!authz.allowed) return refuse(403, ErrorCodes.RELAY_FORBIDDEN, `Hawser refused this request: ${authz.reason}`);
  event.tier = authz.tier;

  const impersonation = impersonationHeaders(req);
  if (impersonation.length) {
    const as = authz.user ? `"${authz.user}"${authz.groups.length ? ` in groups ${authz.groups.join(', ')}` : ''}` : `the agent's own identity (tier ${authz.tier ?? 'shared'})`;
    event.reason = `${ErrorCodes.RELAY_IMPERSONATION_REFUSED}: ${impersonation.join(', ')}`;
    return refuse(400, ErrorCodes.RELAY_IMPERSONATION_REFUSED, `Hawser does not pass client impersonation (${impersonation.join(', ')}; kubectl --as/--as-group/--as-uid): this request would have run as ${as}`);
  }

  const session = opts.tunnels.session(cluster.id);
  if (!session || session.isClosed || session.draining) {
    const seen = cluster.lastSeen ? `last seen ${cluster.lastSeen.toISOString()}` : 'never connected';
    // Retry-After only when a reconnect is expected shortly: client-go
    // retries such answers up to 10 times, which for a cluster that is not
    // coming back hides this sentence behind a minute and a half of waiting.
    const lost = opts.tunnels.lastLost?.(cluster.id);
    const expected = session?.draining === true || (lost !== undefined && Date.now() - lost < (opts.reconnectWindowMs ?? 30_000));
    return refuse(503, ErrorCodes.CLUSTER_NOT_CONNECTED, `cluster "${route.cluster}" is not connected (${seen})${expected ? '; its agent is expected to reconnect shortly' : ''}`, expected ? retryAfter : undefined);
  }
  // Never fall back to HTTP on streams: that is what let bodies smuggle identities.
  if (!session.peer?.capabilities.includes(REQUEST_HEAD_CAPABILITY)) {
    return refuse(503, ErrorCodes.AGENT_OUTDATED, `the agent of cluster "${route.cluster}" (${session.peer?.software ?? 'unknown'}) is too old for this server: upgrade it to a version that announces ${REQUEST_HEAD_CAPABILITY}`);
  }

  const headers: HeaderPair[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are the request line, already in the head.
    if (name.startsWith(':') || !isForwardableRequestHeader(name)) continue;
    if (name !== 'cookie') {
      headers.push([name, raw[i + 1]!]);
      continue;
    }
    // The console's session cookie is a Hawser credential: never toward a cluster.
    const cookie = forwardableCookie(raw[i + 1]!);
    if (cookie !== undefined) headers.push([name, cookie]);
  }
  const head: RequestHead = {
    v: 1,
    method,
    target: route.target,
    headers,
    identity: authz.user ? { user: authz.user, groups: [...authz.groups] } : null,
    requestId,
    ...(chunked ? {} : { bodyLength: length === undefined ? 0 : Number(length) }),
    ...(upgrade ? { upgrade: String(req.headers.upgrade ?? '') } : {}),
  };
  let payload: Buffer;
  try {
    payload = encodeRequestHead(head, session.peer.settings.maxHeaderSize);
  } catch (err) {
    if (err instanceof StreamHeadError && err.tooLarge) {
      return refuse(431, ErrorCodes.RELAY_HEAD_TOO_LARGE, `the request's path and headers are too large to relay (${err.message})`);
    }
    return refuse(400, ErrorCodes.REQUEST_INVALID, `the request cannot be relayed: ${(err as Error).message}`);
  }
  // The audit record is durable before a single byte reaches the cluster.
  try {
    await opts.begin?.(event);
  } catch (err) {
    opts.log.error({ requestId, err }, 'relay: audit record not durable; request refused');
    event.reason = (err as Error).message;
    return refuse(503, ErrorCodes.AUDIT_UNAVAILABLE, `Hawser could not record this request in its audit trail, so it was not sent to cluster "${route.cluster}" (${(err as Error).message}); retry`, { 'retry-after': '1' });
  }
  if (session.isClosed || session.draining) {
    return refuse(503, ErrorCodes.CLUSTER_NOT_CONNECTED, `cluster "${route.cluster}" disconnected while the request was being admitted; retry`, retryAfter);
  }
  try {
    const stream = session.openStream(payload);
    return { ok: true, stream, session, cluster, info, event, credentialId: identity.credentialId, bodyless };
  } catch (err) {
    if (isHtnError(err) && err.code === HtnErrorCode.HEADER_TOO_LARGE) {
      return refuse(431, ErrorCodes.RELAY_HEAD_TOO_LARGE, `the request's path and headers are too large to relay (${err.message})`);
    }
    event.reason = (err as Error).message;
    return refuse(503, ErrorCodes.TUNNEL_BUSY, `cluster "${route.cluster}" cannot take another request now (${(err as Error).message}); retry`, { 'retry-after': '1' });
  }
}

/** The client-impersonation headers kubectl --as/--as-group/--as-uid send, by name, in a fixed order. */
function impersonationHeaders(req: OperatorRequest): string[] {
  const names = Object.keys(req.headers);
  const found: string[] = [];
  for (const [name, shown] of [['impersonate-user', 'Impersonate-User'], ['impersonate-group', 'Impersonate-Group'], ['impersonate-uid', 'Impersonate-Uid']] as const) {
    if (names.includes(name)) found.push(shown);
  }
  if (names.some((n) => n.startsWith('impersonate-extra-'))) found.push('Impersonate-Extra-*');
  return found;
}
