import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HtnErrorCode, isHtnError, splice } from '@hawser/protocol';
import { ERROR_CODE_HEADER, ERROR_RULE_HEADER, type HeaderPair } from '@hawser/contract';
import { ErrorCodes } from '../errors.js';
import { kubeStatus, sendKubeStatus, writeKubeStatus, type Refusal } from './kube-status.js';
import { admit } from './relay-admission.js';
import { awaitResponseHead, rawHead, responseHeaders } from './relay-exchange.js';
import { RELAY_PREFIX } from './relay-route.js';
import { flushHead, isHttp2, needsDrain, responseEnded, writeBody, responseGone, writeResponseHead, type OperatorRequest, type OperatorResponse } from './operator-http.js';
import type { ClusterRelayOptions, RelayAuditEvent, RelayTunnel } from './relay-options.js';
import { PeerResetCodes, peerRefusal } from '../fleet/peer-envelope.js';

export type { ClusterRelayOptions, RelayAuditEvent, RelayTunnel, TunnelDirectory } from './relay-options.js';


/**
 * The operator side of the relay: `https://SERVER/clusters/NAME/<kube API path>`.
 * Admission (relay-admission.ts) authenticates, authorizes and opens one
 * fresh tunnel stream per request whose OPEN payload is the request head,
 * identity included; this class moves the body there and the agent's
 * response back. Streams are never reused, and no HTTP is parsed on either
 * side of the tunnel (docs/protocol.md, "Requests on streams").
 * Errors Hawser produces are Kubernetes Status objects with a stable code.
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
    return url !== undefined && url.startsWith(RELAY_PREFIX);
  }

  async handle(req: OperatorRequest, res: OperatorResponse): Promise<void> {
    const started = performance.now();
    const admitted = await admit(this.#opts, req, false);
    if (!admitted.ok) {
      sendKubeStatus(res, admitted.refusal);
      this.#finish(admitted.event, admitted.refusal.status, 0, started, admitted.refusal.message, admitted.refusal.code);
      return;
    }
    const { stream, event, info, cluster, session } = admitted;
    // A revoked credential ends its requests, a watch included.
    const untrack = this.#opts.streams?.track(admitted.credentialId, () => {
      stream.destroy();
      res.destroy();
    });
    if (untrack) res.once('close', untrack);
    if (responseGone(res) || req.socket.destroyed) {
      // The client left (or half-closed) while we authenticated.
      stream.destroy();
      this.#finish(event, 499, 0, started, 'client closed the connection before the request was relayed');
      return;
    }
    let bytes = 0;
    let answered = false;
    const fail = (refusal: Refusal, reason: string): void => {
      sendKubeStatus(res, refusal);
      this.#finish(event, refusal.status, 0, started, reason, refusal.code);
    };
    const timer = setTimeout(() => {
      if (answered) return;
      answered = true;
      stream.destroy();
      fail({ status: 504, code: ErrorCodes.RELAY_TIMEOUT, message: `cluster "${cluster.name}" did not answer within ${Math.round(this.#responseTimeoutMs / 1000)} s` }, 'upstream timeout');
    }, this.#responseTimeoutMs);
    awaitResponseHead(
      stream,
      (head, rest) => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        agentRefusalCode(event, head.headers);
        try {
          writeResponseHead(res, head.status, head.statusText, responseHeaders(head.headers));
        } catch (err) {
          stream.destroy();
          return fail(agentFailed(`the agent's response head cannot be sent on: ${(err as Error).message}`), (err as Error).message);
        }
        const declared = res.getHeader('content-length');
        // A watch may be silent for minutes; the client must see headers now.
        // A body of known length follows at once, with its headers.
        if (declared === undefined) flushHead(res);
        const onChunk = (chunk: Buffer): void => {
          bytes += chunk.length;
          try {
            // Backpressure: a slow client pauses this stream only; the
            // tunnel credit window then pauses the agent for it only.
            if (!writeBody(res, chunk)) stream.pause();
          } catch {
            // More body than its Content-Length: cut, never re-frame.
            res.destroy();
            stream.destroy();
          }
        };
        if (rest.length) onChunk(rest);
        stream.on('data', onChunk);
        res.on('drain', () => stream.resume());
        if (!needsDrain(res)) stream.resume();
        stream.on('end', () => {
          const short = declared !== undefined && bytes < Number(declared) && req.method !== 'HEAD' && head.status !== 204 && head.status !== 304;
          if (short) res.destroy();
          else res.end();
          // The answer is complete; an upload the agent no longer reads stops here.
          if (!stream.writableFinished) stream.destroy();
          this.#finish(event, head.status, bytes, started, short ? 'response shorter than its Content-Length' : undefined);
        });
        stream.on('error', (err) => {
          // The tunnel went away or the agent reset mid-body. A watch ends
          // cleanly, so informers re-list; any other body is cut so the
          // client sees it incomplete.
          if (info.verb === 'watch') {
            // A JSON watch says why in-stream (kubectl prints it; informers
            // re-list on an ERROR event); a protobuf watch just ends.
            if (isJson(head.headers)) {
              try {
                writeBody(res, watchError(cluster.name, session.isClosed || peerRefusal(err)?.code === PeerResetCodes.AGENT_GONE));
              } catch {
                // The client is gone too; nothing left to tell it.
              }
            }
            res.end();
          } else res.destroy();
          this.#finish(event, head.status, bytes, started, 'tunnel lost mid-response');
        });
      },
      (err, malformed) => {
        stream.on('error', () => {});
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        fail(failureBefore(cluster.name, session, err, malformed, this.#opts.retryAfterSeconds ?? 5), err.message);
      },
    );
    // The client went away: reset the stream so the agent aborts upstream,
    // and record the request (once) as the client left it.
    const gone = (): void => {
      clearTimeout(timer);
      if (responseEnded(res)) return;
      stream.destroy();
      this.#finish(event, res.headersSent ? res.statusCode : 499, bytes, started, 'client closed the connection before the response ended');
    };
    res.on('close', gone);
    // Node never emits 'close' on the response to a pipelined request still
    // queued behind another when the connection goes: watch the connection
    // too. (An HTTP/2 response always closes with its stream.)
    if (!isHttp2(req)) {
      const socket = req.socket;
      socket.once('close', gone);
      res.once('close', () => socket.off('close', gone));
    }
    if (admitted.bodyless) {
      // An HTTP/2 GET whose HEADERS frame did not end the stream: the head
      // said no body, so whatever DATA follows is dropped, never relayed.
      req.resume();
      stream.end();
    }
    // The body, exactly as Node de-framed it, is all the stream carries.
    else req.pipe(stream);
  }

  /** exec, attach, port-forward: the head asks for an upgrade; after a 101, bytes flow both ways raw. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, early: Buffer): Promise<void> {
    const started = performance.now();
    // A client that resets during authentication must not become an unhandled 'error'.
    socket.on('error', () => socket.destroy());
    const admitted = await admit(this.#opts, req, true);
    if (!admitted.ok) {
      writeKubeStatus(socket, admitted.refusal);
      this.#finish(admitted.event, admitted.refusal.status, 0, started, admitted.refusal.message, admitted.refusal.code);
      return;
    }
    const { stream, event, cluster, session } = admitted;
    const untrack = this.#opts.streams?.track(admitted.credentialId, () => {
      stream.destroy();
      socket.destroy();
    });
    if (untrack) socket.once('close', untrack);
    if (socket.destroyed) {
      stream.destroy();
      this.#finish(event, 499, 0, started, 'client closed the connection before the request was relayed');
      return;
    }
    stream.on('error', () => socket.destroy());
    let status = 0;
    let bytes = 0;
    const timer = setTimeout(() => {
      if (status) return;
      status = 504;
      stream.destroy();
      writeKubeStatus(socket, { status: 504, code: ErrorCodes.RELAY_TIMEOUT, message: `cluster "${cluster.name}" did not answer within ${Math.round(this.#responseTimeoutMs / 1000)} s` });
      this.#finish(event, 504, 0, started, 'upstream timeout');
    }, this.#responseTimeoutMs);
    awaitResponseHead(
      stream,
      (head, rest) => {
        clearTimeout(timer);
        if (status) return;
        status = head.status;
        agentRefusalCode(event, head.headers);
        const upgraded = head.status === 101;
        // We write the status line and headers ourselves: the agent sends structure, never HTTP.
        socket.write(rawHead(head, upgraded ? ['connection: Upgrade'] : ['connection: close']));
        if (rest.length) socket.write(rest);
        bytes += rest.length;
        stream.on('data', (d: Buffer) => (bytes += d.length));
        if (upgraded) {
          if (early.length) stream.write(early);
          // Both ways with the flush-then-destroy rule the agent uses too.
          splice(socket, stream);
        } else {
          stream.pipe(socket);
          socket.on('error', () => stream.destroy());
          socket.on('close', () => stream.destroy());
        }
        stream.resume();
      },
      (err, malformed) => {
        clearTimeout(timer);
        if (status) return;
        const refusal = failureBefore(cluster.name, session, err, malformed, this.#opts.retryAfterSeconds ?? 5);
        status = refusal.status;
        writeKubeStatus(socket, refusal);
      },
    );
    stream.on('close', () => {
      clearTimeout(timer);
      if (!stream.readableEnded) socket.destroy();
      this.#finish(event, status || 502, bytes, started, status >= 400 || !status ? 'upgrade refused or failed' : undefined);
    });
    socket.on('close', () => {
      if (!status) stream.destroy();
    });
  }

  #finish(event: RelayAuditEvent, status: number, bytes: number, started: number, reason?: string, code?: string): void {
    if (this.#finished.has(event)) return;
    this.#finished.add(event);
    this.#opts.audit({
      ...event,
      status,
      bytes,
      durationMs: Math.round(performance.now() - started),
      ...(reason ? { reason } : {}),
      ...(code ? { code } : {}),
    });
  }
}

/** The agent's own refusals carry their HAG_ERR_* code in a header (metrics count them by it). */
function agentRefusalCode(event: RelayAuditEvent, headers: readonly HeaderPair[]): void {
  const code = headers.find(([name]) => name === ERROR_CODE_HEADER)?.[1];
  const rule = headers.find(([name]) => name === ERROR_RULE_HEADER)?.[1];
  if (code) event.code = code;
  if (rule) event.rule = rule;
}

function agentFailed(message: string): Refusal {
  return { status: 502, code: ErrorCodes.RELAY_AGENT_FAILED, message };
}

/** No response head: the tunnel went away (503, retry), or the agent refused or broke the exchange (502). */
function failureBefore(name: string, session: RelayTunnel, err: Error, malformed: boolean, retryAfterSeconds: number): Refusal {
  if (malformed) return agentFailed(`the agent of cluster "${name}" sent a malformed response head (${err.message})`);
  // A forwarded request the owning replica would not take, or could not be reached for: the tunnel moved or is moving.
  const refused = session.forwardedTo === undefined ? undefined : peerRefusal(err) ?? (session.isClosed ? { why: `the replica holding its tunnel (${session.forwardedTo}) could not be reached` } : undefined);
  if (refused) {
    return { status: 503, code: ErrorCodes.RELAY_FORWARD_REFUSED, message: `cluster "${name}": ${refused.why}; retry`, headers: { 'retry-after': String(retryAfterSeconds) } };
  }
  if (session.isClosed) {
    return { ...agentFailed(`cluster "${name}" disconnected while handling the request (${err.message}); retry`), status: 503, headers: { 'retry-after': String(retryAfterSeconds) } };
  }
  // The agent refused the stream unprocessed (its session was going away: a
  // drain, a rolling restart), as HTTP/2's REFUSED_STREAM: nothing reached
  // the cluster, so the client may safely retry.
  if (session.draining || (isHtnError(err) && (err.code === HtnErrorCode.STREAM_REFUSED || err.code === HtnErrorCode.GOING_AWAY))) {
    return { ...agentFailed(`the tunnel to cluster "${name}" is moving (the request was not processed: ${err.message}); retry`), status: 503, headers: { 'retry-after': String(retryAfterSeconds) } };
  }
  return agentFailed(`the agent of cluster "${name}" did not answer the request: ${err.message}`);
}


/** Whether the agent's response is JSON (res.getHeader cannot tell: writeHead with an object keeps no header map). */
function isJson(headers: readonly (readonly [string, string])[]): boolean {
  return headers.some(([name, value]) => name.toLowerCase() === 'content-type' && /^application\/json\b/i.test(value));
}

/** One watch ERROR event (a JSON line) whose object is a Status saying why the watch ends. */
export function watchError(name: string, tunnelLost: boolean): string {
  const message = tunnelLost ? `the tunnel to cluster "${name}" was lost; the watch ended` : `the agent of cluster "${name}" reset the watch stream; the watch ended`;
  const object = JSON.parse(kubeStatus(503, message, { name, causes: [{ reason: ErrorCodes.RELAY_TUNNEL_LOST, message }] })) as unknown;
  return `${JSON.stringify({ type: 'ERROR', object })}\n`;
}
