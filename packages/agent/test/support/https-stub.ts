import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Issued } from './test-pki.js';

/** One request the stub saw, with its body read. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** Subject CN of the client certificate, when one was presented. */
  clientCn?: string | string[];
}

export type StubHandler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

/**
 * A real HTTPS server on 127.0.0.1, port 0, for the agent's unit tests: the
 * handler answers, and every request is recorded and announced, so a test
 * waits for the request it expects instead of sleeping.
 */
export class HttpsStub {
  readonly #server: Server;
  readonly seen: SeenRequest[] = [];
  readonly #waiters: { match: (r: SeenRequest) => boolean; resolve: (r: SeenRequest) => void }[] = [];
  handler: StubHandler;

  private constructor(server: Server, handler: StubHandler) {
    this.#server = server;
    this.handler = handler;
  }

  /** `chain` is sent as the server's certificate chain (serving certificate first). */
  static start(serving: Issued, chain: string[], handler: StubHandler, clientCa?: string): Promise<HttpsStub> {
    return HttpsStub.startOn(0, serving, chain, handler, clientCa);
  }

  /** Like `start`, on a given port of 127.0.0.1 (a server that comes up late). */
  static async startOn(port: number, serving: Issued, chain: string[], handler: StubHandler, clientCa?: string): Promise<HttpsStub> {
    const server = createServer({ cert: chain.join('\n'), key: serving.key, ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {}) });
    const stub = new HttpsStub(server, handler);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void stub.#onRequest(req, res));
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    return stub;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Resolves with the first request (seen already or still to come) that matches. */
  next(match: (r: SeenRequest) => boolean): Promise<SeenRequest> {
    const seen = this.seen.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    req.setEncoding('utf8');
    for await (const chunk of req) body += chunk as string;
    const socket = req.socket as TLSSocket;
    const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
    const seen: SeenRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, ...(peer?.subject ? { clientCn: peer.subject.CN } : {}) };
    this.seen.push(seen);
    try {
      await this.handler(seen, res);
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
    for (const w of this.#waiters.filter((w) => w.match(seen))) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(seen);
    }
  }

  /** Stops listening and cuts open connections. */
  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Sends `body` as JSON with `status`. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
