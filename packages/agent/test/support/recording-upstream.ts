import { createServer, Agent as HttpsAgent, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createCertificate } from '../../../../test/controlplane/pki.js';

/** One request as the stand-in API server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  /** Lower-case name -> every value, in order. */
  headers: Record<string, string[]>;
  /** Raw header names as sent (framing checks). */
  rawNames: string[];
  body: Buffer;
  /** The request was cut before its body ended. */
  aborted: boolean;
}

export interface RecordingUpstream {
  url: URL;
  /** Trusts the upstream's certificate: what KubeTarget's agent is. */
  agent: HttpsAgent;
  seen: SeenRequest[];
  /** Resolves when `n` requests have been seen in full (or aborted). */
  waitFor(n: number): Promise<SeenRequest[]>;
  close(): Promise<void>;
}

let tls: { cert: string; key: string } | undefined;

/**
 * A stand-in API server on 127.0.0.1 over real TLS that records every
 * request and answers with who it was asked as (the impersonated user and
 * groups), like a SelfSubjectReview would. `/hang` never answers; an
 * upgrade answers 101 and echoes bytes upper-cased.
 */
export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  tls ??= createCertificate({ subject: { cn: 'upstream' }, serverNames: { ip: ['127.0.0.1'] } });
  const seen: SeenRequest[] = [];
  const waiters: (() => void)[] = [];
  const record = (req: IncomingMessage, body: Buffer, aborted: boolean): SeenRequest => {
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(req.headersDistinct)) if (v) headers[k] = v;
    const r = { method: req.method ?? '', url: req.url ?? '', headers, rawNames: req.rawHeaders.filter((_, i) => i % 2 === 0), body, aborted };
    seen.push(r);
    for (const w of waiters.splice(0)) w();
    return r;
  };
  const server: Server = createServer({ ...tls }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      if (!req.complete) record(req, Buffer.concat(chunks), true);
    });
    req.on('end', () => {
      const r = record(req, Buffer.concat(chunks), false);
      if (r.url.startsWith('/hang')) return;
      const answer = JSON.stringify({
        method: r.method,
        url: r.url,
        user: r.headers['impersonate-user'] ?? [],
        groups: r.headers['impersonate-group'] ?? [],
        bodyBytes: r.body.length,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer), 'x-upstream': 'yes' });
      res.end(answer);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    record(req, head, false);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Upstream: yes\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const agent = new HttpsAgent({ keepAlive: true, ca: tls.cert });
  return {
    url: new URL(`https://127.0.0.1:${port}`),
    agent,
    seen,
    waitFor: (n) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (seen.length >= n) resolve(seen);
          else waiters.push(check);
        };
        check();
      }),
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
