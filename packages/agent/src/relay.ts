import { request as httpRequest, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TunnelStream } from '@hawser/protocol';
import { AgentErrorCodes } from './errors.js';
import type { RelayTarget } from './relay-target.js';
import type { Logger } from './log.js';
import type { Identity, Policy, PolicyDecision } from './policy.js';
import { RelayResetCode, endWithStatus, relayResponse } from './relay-response.js';
import { relayUpgrade } from './relay-upgrade.js';
import { REQUEST_ID_EXTRA, classifyRequest, decodeRequestHead, forwardableCookie, isForwardableRequestHeader, type RequestHead } from '@hawser/contract';

/** Methods whose body the head declares as unknown get chunked framing explicitly: Node would not add it for DELETE. */
const BODYLESS_BY_DEFAULT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']);

/**
 * The agent's side of a relayed request. Each tunnel stream is one request,
 * never reused: its OPEN payload is the request head (docs/protocol.md,
 * "Requests on streams"), its bytes are the body, and the identity to
 * impersonate exists only in the head, checked against the local policy.
 * No HTTP parser reads the stream, so body bytes can only ever be body
 * bytes. The request goes to the API server with `https.request` and the
 * agent's own credentials; the response returns as a response head and the
 * raw body.
 */
export class Relay {
  readonly #target: RelayTarget;
  readonly #policy: Policy;
  readonly #log: Logger;
  readonly #open = new Set<TunnelStream>();

  constructor(opts: { target: RelayTarget; policy: Policy; log: Logger }) {
    this.#target = opts.target;
    this.#policy = opts.policy;
    this.#log = opts.log;
  }

  /** Serves one request stream the server opened. */
  accept(stream: TunnelStream): void {
    // A reset by the server (client gone) must never be an unhandled error.
    stream.on('error', () => {});
    this.#open.add(stream);
    stream.once('close', () => this.#open.delete(stream));
    try {
      this.#serve(stream);
    } catch (err) {
      // A bug must cost one request, never the agent.
      this.#log.error({ err }, 'relay failed');
      stream.reset(RelayResetCode.UPSTREAM_FAILED, `hawser-agent failed to relay this request: ${(err as Error).message}`);
    }
  }

  #serve(stream: TunnelStream): void {
    let head: RequestHead;
    try {
      head = decodeRequestHead(stream.openPayload);
    } catch (err) {
      // An old server speaking HTTP on streams, or garbage: never guess.
      const message = `${AgentErrorCodes.REQUEST_HEAD_INVALID}: ${(err as Error).message}`;
      this.#log.warn({ code: AgentErrorCodes.REQUEST_HEAD_INVALID, err: (err as Error).message }, 'stream without a valid request head: reset');
      stream.reset(RelayResetCode.HEAD_INVALID, message);
      return;
    }
    // Read the target exactly as the API server will, or refuse it when two
    // HTTP stacks could read it differently: policy must judge what runs.
    const classified = classifyRequest(head.method, head.target);
    if (!classified.ok) {
      this.#log.warn({ code: AgentErrorCodes.REQUEST_AMBIGUOUS, requestId: head.requestId, target: head.target }, `refused an ambiguous request target: ${classified.reason}`);
      endWithStatus(stream, 400, AgentErrorCodes.REQUEST_AMBIGUOUS, `hawser-agent refused this request target: ${classified.reason}`);
      return;
    }
    const info = classified.info;
    // The head is the only place an identity can come from.
    const identity: Identity = head.identity ? { user: head.identity.user, groups: [...head.identity.groups] } : { groups: [] };
    const decision = this.#policy.decide(info, identity);
    if (!decision.allowed) {
      this.#log.warn(
        { code: decision.code ?? AgentErrorCodes.POLICY_DENIED, requestId: head.requestId, rule: decision.rule, verb: info.verb, resource: info.resource, subresource: info.subresource, namespace: info.namespace, user: identity.user },
        `refused by agent policy: ${decision.reason}`,
      );
      // Whatever body follows is discarded; the server ends the stream once it has our answer.
      stream.resume();
      endWithStatus(stream, 403, decision.code ?? AgentErrorCodes.POLICY_DENIED, `hawser-agent policy refused this request (rule ${decision.rule}): ${decision.reason}`, {
        name: info.name || undefined,
        group: info.apiGroup || undefined,
        kind: info.resource || undefined,
        causes: [{ reason: decision.rule, message: decision.reason }],
      });
      return;
    }
    const headers = this.#upstreamHeaders(head, decision);
    if (head.upgrade !== undefined) {
      relayUpgrade({ stream, head, headers, target: this.#target, log: this.#log });
      return;
    }
    this.#forward(stream, head, headers);
  }

  /** The operator's forwarded headers, re-filtered, plus the agent's credential and the head's identity. */
  #upstreamHeaders(head: RequestHead, decision: PolicyDecision & { allowed: true }): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of head.headers) {
      // Defence in depth: the server filters too, but only the head names who asks.
      if (!isForwardableRequestHeader(name)) continue;
      const kept = name === 'cookie' ? forwardableCookie(value) : value;
      if (kept === undefined) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? kept : Array.isArray(prev) ? [...prev, kept] : [String(prev), kept];
    }
    headers.host = this.#target.url.host;
    const authorization = this.#target.authorization();
    if (authorization) headers.authorization = authorization;
    if (decision.impersonate) {
      headers['impersonate-user'] = decision.impersonate.user;
      if (decision.impersonate.groups.length) headers['impersonate-group'] = decision.impersonate.groups;
      headers[`impersonate-extra-${encodeURIComponent(REQUEST_ID_EXTRA)}`] = head.requestId;
    }
    return headers;
  }

  #forward(stream: TunnelStream, head: RequestHead, headers: OutgoingHttpHeaders): void {
    const declared = head.bodyLength;
    // Re-frame toward the API server: an exact length when declared, else chunked.
    if (declared === undefined) headers['transfer-encoding'] = 'chunked';
    else if (declared > 0 || !BODYLESS_BY_DEFAULT.has(head.method)) headers['content-length'] = String(declared);
    const send = this.#target.url.protocol === 'http:' ? httpRequest : httpsRequest;
    const upstream: ClientRequest = send(this.#target.url, { method: head.method, path: head.target, headers, agent: this.#target.agent });
    let answered = false;
    upstream.on('response', (up: IncomingMessage) => {
      answered = true;
      relayResponse(stream, up);
      up.on('error', () => stream.reset(RelayResetCode.UPSTREAM_FAILED, 'the API server failed mid-response'));
    });
    upstream.on('error', (err) => {
      if (stream.destroyed) return;
      if (answered) return void stream.reset(RelayResetCode.UPSTREAM_FAILED, `the API server failed mid-response: ${err.message}`);
      this.#log.warn({ code: AgentErrorCodes.UPSTREAM_FAILED, err: err.message, requestId: head.requestId }, 'API server request failed');
      stream.resume();
      endWithStatus(stream, 502, AgentErrorCodes.UPSTREAM_FAILED, `hawser-agent could not reach the API server: ${err.message}`);
    });
    // The server reset the stream (client gone, timeout): abort upstream so
    // a watch does not outlive its reader.
    stream.once('close', () => {
      if (!stream.writableFinished || !stream.readableEnded) upstream.destroy();
    });

    let received = 0;
    const mismatch = (): void => {
      const message = `${AgentErrorCodes.REQUEST_BODY_MISMATCH}: the body was ${received}${stream.readableEnded ? '' : '+'} bytes, the head declared ${declared}`;
      this.#log.warn({ code: AgentErrorCodes.REQUEST_BODY_MISMATCH, requestId: head.requestId, received, declared }, 'request body does not match its declared length');
      upstream.destroy();
      stream.reset(RelayResetCode.BODY_MISMATCH, message);
    };
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (declared !== undefined && received > declared) return mismatch();
      // Backpressure: a slow API server pauses this stream only.
      if (!upstream.write(chunk)) stream.pause();
    });
    upstream.on('drain', () => stream.resume());
    stream.on('end', () => {
      if (declared !== undefined && received !== declared) return mismatch();
      upstream.end();
    });
  }

  /** Stops serving: open requests are reset, the API server pool closed. */
  close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    this.#target.agent.destroy();
    return Promise.resolve();
  }
}
