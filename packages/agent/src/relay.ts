import { STATUS_CODES, createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { AgentErrorCodes } from './errors.js';
import type { KubeTarget } from './kube-target.js';
import { kubeStatus, sendStatus } from './kube-status.js';
import type { Logger } from './log.js';
import type { Identity, Policy } from './policy.js';
import { classifyRequest } from './request-info.js';

/** Headers the server uses to tell the agent who is asking; never forwarded. */
export const IdentityHeaders = {
  USER: 'x-hawser-user',
  GROUP: 'x-hawser-group',
  REQUEST_ID: 'x-hawser-request-id',
} as const;

/** The extra the cluster's audit log shows, matching Hawser's own audit event. */
export const REQUEST_ID_EXTRA = 'hawser.dev/request-id';

/** Hop-by-hop headers (RFC 9110 7.6.1) plus every credential a caller might smuggle. */
const dropped = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'x-remote-user',
  'x-remote-group',
]);

function forwardable(name: string): boolean {
  return !dropped.has(name) && !name.startsWith('impersonate-') && !name.startsWith('x-hawser-') && !name.startsWith('x-remote-extra-');
}

/**
 * The agent's HTTP side: an `http.Server` fed tunnel streams (never a
 * listening socket). Each request is checked against the local policy,
 * stripped of any credentials the server sent, given the agent's own
 * ServiceAccount token and impersonation headers, and relayed to the API
 * server with bodies streamed both ways.
 */
export class Relay {
  readonly server: Server;
  readonly #target: KubeTarget;
  readonly #policy: Policy;
  readonly #log: Logger;

  constructor(opts: { target: KubeTarget; policy: Policy; log: Logger }) {
    this.#target = opts.target;
    this.#policy = opts.policy;
    this.#log = opts.log;
    this.server = createServer({ keepAliveTimeout: 0, requestTimeout: 0, headersTimeout: 30_000 });
    // A bug or a header Node refuses must cost one request, never the agent.
    this.server.on('request', (req, res) => {
      try {
        this.#onRequest(req, res);
      } catch (err) {
        this.#log.error({ err }, 'relay failed');
        if (!res.headersSent) sendStatus(res, 500, `hawser-agent failed to relay this request: ${(err as Error).message}`);
        else res.destroy();
      }
    });
    this.server.on('upgrade', (req, socket, head) => {
      try {
        this.#onUpgrade(req, socket, head);
      } catch (err) {
        this.#log.error({ err }, 'relay upgrade failed');
        socket.destroy();
      }
    });
    this.server.on('clientError', onClientError);
  }

  /** Serves HTTP on one tunnel stream. */
  accept(stream: Duplex): void {
    this.server.emit('connection', stream);
  }

  /** Checks policy and builds the upstream headers; undefined when refused (response already sent). */
  #prepare(req: IncomingMessage, refuse: (code: number, body: string) => void): OutgoingHttpHeaders | undefined {
    const classified = classifyRequest(req.method ?? '', req.url ?? '');
    if (!classified.ok) {
      this.#log.warn({ code: AgentErrorCodes.REQUEST_AMBIGUOUS, requestId: headerValue(req, IdentityHeaders.REQUEST_ID), url: req.url }, `refused an ambiguous request target: ${classified.reason}`);
      refuse(400, kubeStatus(400, `hawser-agent refused this request target: ${classified.reason}`, { causes: [{ reason: AgentErrorCodes.REQUEST_AMBIGUOUS, message: classified.reason }] }));
      return undefined;
    }
    const info = classified.info;
    const identity: Identity = {
      ...(headerValue(req, IdentityHeaders.USER) ? { user: headerValue(req, IdentityHeaders.USER)! } : {}),
      groups: req.headersDistinct[IdentityHeaders.GROUP] ?? [],
    };
    const requestId = headerValue(req, IdentityHeaders.REQUEST_ID);
    const decision = this.#policy.decide(info, identity);
    if (!decision.allowed) {
      this.#log.warn(
        { code: AgentErrorCodes.POLICY_DENIED, requestId, rule: decision.rule, verb: info.verb, resource: info.resource, subresource: info.subresource, namespace: info.namespace, user: identity.user },
        `refused by agent policy: ${decision.reason}`,
      );
      const details = { name: info.name || undefined, group: info.apiGroup || undefined, kind: info.resource || undefined, causes: [{ reason: decision.rule, message: decision.reason }] };
      refuse(403, kubeStatus(403, `hawser-agent policy refused this request (rule ${decision.rule}): ${decision.reason}`, details));
      return undefined;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [name, values] of Object.entries(req.headersDistinct)) {
      if (values && forwardable(name)) headers[name] = values.length === 1 ? values[0] : values;
    }
    headers.host = this.#target.url.host;
    const authorization = this.#target.authorization();
    if (authorization) headers.authorization = authorization;
    if (decision.impersonate) {
      headers['impersonate-user'] = decision.impersonate.user;
      if (decision.impersonate.groups.length) headers['impersonate-group'] = decision.impersonate.groups;
      if (requestId) headers[`impersonate-extra-${encodeURIComponent(REQUEST_ID_EXTRA)}`] = requestId;
    }
    return headers;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const headers = this.#prepare(req, (code, body) => {
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    if (!headers) return;
    const upstream = httpsRequest(this.#target.url, {
      method: req.method,
      path: req.url,
      headers,
      agent: this.#target.agent,
    });
    upstream.on('response', (up) => {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, filterResponseHeaders(up.headersDistinct));
      // Flush headers now: a watch may send nothing for minutes. A body of
      // known length follows at once, and its headers go out with it.
      if (up.headers['content-length'] === undefined) res.flushHeaders();
      up.pipe(res);
      up.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (res.headersSent) {
        res.destroy(err);
        return;
      }
      this.#log.warn({ code: AgentErrorCodes.UPSTREAM_FAILED, err: err.message, url: req.url }, 'API server request failed');
      sendStatus(res, 502, `hawser-agent could not reach the API server: ${err.message}`);
    });
    // The caller went away (tunnel stream reset, client cancelled): abort
    // the upstream request so a watch does not outlive its reader.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const headers = this.#prepare(req, (code, body) => writeRaw(socket, code, { 'content-type': 'application/json' }, body));
    if (!headers) return;
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade;
    // Upgraded connections are never returned to a pool, so they get a
    // fresh TLS connection with the same trust and credentials.
    const { ca, cert, key } = this.#target.agent.options;
    const upstream = httpsRequest(this.#target.url, { method: req.method, path: req.url, headers, agent: false, ca, cert, key });
    socket.on('error', () => upstream.destroy());
    upstream.on('upgrade', (up, upSocket, upHead) => {
      const lines = [`HTTP/1.1 ${up.statusCode ?? 101} ${up.statusMessage ?? STATUS_CODES[101]}`];
      for (let i = 0; i < up.rawHeaders.length; i += 2) lines.push(`${up.rawHeaders[i]}: ${up.rawHeaders[i + 1]}`);
      socket.write(lines.join('\r\n') + '\r\n\r\n');
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      upSocket.pipe(socket);
      socket.pipe(upSocket);
      // Ends travel (pipe() ends the other side after what is queued, so the
      // exit status the API server writes last still reaches kubectl); only
      // an abrupt close on one side destroys the other.
      upSocket.on('error', () => socket.destroy());
      upSocket.on('close', () => {
        if (!upSocket.readableEnded) socket.destroy();
      });
      socket.on('close', () => {
        // The tunnel stream is fully closed: nothing more can reach kubectl.
        // Let what the client sent last reach the API server, then close.
        if (!socket.readableEnded || upSocket.writableFinished) return void upSocket.destroy();
        upSocket.once('finish', () => upSocket.destroy());
        setTimeout(() => upSocket.destroy(), 5_000).unref();
      });
    });
    // No upgrade: the API server answered with an error (403, 404, 400);
    // pass it through unchanged.
    upstream.on('response', (up) => {
      let body = '';
      up.setEncoding('utf8');
      up.on('data', (d: string) => (body += d));
      up.on('end', () => writeRaw(socket, up.statusCode ?? 502, { 'content-type': up.headers['content-type'] ?? 'text/plain' }, body));
    });
    upstream.on('error', (err) => {
      writeRaw(socket, 502, { 'content-type': 'application/json' }, kubeStatus(502, `hawser-agent could not reach the API server: ${err.message}`));
    });
    upstream.end();
  }

  close(): Promise<void> {
    this.#target.agent.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headersDistinct[name];
  return v?.[0];
}

function filterResponseHeaders(headers: NodeJS.Dict<string[]>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, values] of Object.entries(headers)) {
    if (values && name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding') out[name] = values;
  }
  return out;
}

function writeRaw(socket: Duplex, code: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  lines.push(`content-length: ${Buffer.byteLength(body)}`, 'connection: close');
  socket.end(lines.join('\r\n') + '\r\n\r\n' + body);
}

function onClientError(err: Error, socket: Duplex): void {
  // Malformed HTTP on a tunnel stream: answer 400 and drop only that stream.
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${err.message}`);
}
