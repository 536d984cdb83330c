import { createServer, Agent as HttpsAgent, type Server } from 'node:https';
import { Agent as HttpAgent, createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
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

/**
 * One end of an in-memory connection: what one end writes the other reads,
 * on the next tick (never re-entrantly), with the few socket methods Node's
 * HTTP server, client and agent call. No kernel socket, so a fuzzer can
 * feed Node's real HTTP parser hundreds of thousands of connections.
 */
export class MemorySocket extends Duplex {
  peer!: MemorySocket;
  remoteAddress: string;
  remotePort = 1;
  remoteFamily = 'IPv4';
  localAddress = '127.0.0.1';
  localPort = 2;
  encrypted = false;

  constructor(remoteAddress: string) {
    super({ allowHalfOpen: true });
    this.remoteAddress = remoteAddress;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    process.nextTick(() => {
      if (!peer.destroyed) peer.push(chunk);
    });
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    process.nextTick(() => {
      if (!peer.destroyed) peer.push(null);
    });
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    // A reset: the other end sees its connection close too.
    process.nextTick(() => {
      if (!peer.destroyed) peer.destroy();
    });
    cb(err);
  }

  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }
}

/** Two connected MemorySockets: [client end, server end]. */
export function memorySocketPair(clientAddress = '127.0.0.1'): [MemorySocket, MemorySocket] {
  const client = new MemorySocket('127.0.0.1');
  const server = new MemorySocket(clientAddress);
  client.peer = server;
  server.peer = client;
  return [client, server];
}

export interface MemoryUpstream {
  /** http://127.0.0.1:PORT: the listener only upgrades use (the agent makes those with agent:false). */
  url: URL;
  /** An http.Agent whose connections are in-memory pairs served by the recording server. */
  agent: HttpAgent;
  seen: SeenRequest[];
  /** Called for every request as it is recorded (the fuzz oracle checks here). */
  onSeen?: (r: SeenRequest) => void;
  close(): Promise<void>;
}

/**
 * The recording stand-in over plain HTTP and, for ordinary requests, no
 * sockets at all: what startRecordingUpstream records, at a fuzzer's pace.
 * Upgrades still arrive on a loopback listener (relay-upgrade.ts opens its
 * own connection); they answer 101 and then close.
 */
export async function startMemoryUpstream(opts: { keepSeen?: boolean } = {}): Promise<MemoryUpstream> {
  const seen: SeenRequest[] = [];
  const up: MemoryUpstream = {
    url: new URL('http://127.0.0.1'),
    agent: undefined as unknown as HttpAgent,
    seen,
    close: async () => {},
  };
  const record = (req: IncomingMessage, body: Buffer, aborted: boolean): void => {
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(req.headersDistinct)) if (v) headers[k] = v;
    const r: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers, rawNames: req.rawHeaders.filter((_, i) => i % 2 === 0), body, aborted };
    if (opts.keepSeen !== false) seen.push(r);
    up.onSeen?.(r);
  };
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    let recorded = false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () => {
      if (!recorded) {
        recorded = true;
        record(req, Buffer.concat(chunks), true);
      }
    });
    req.on('end', () => {
      recorded = true;
      record(req, Buffer.concat(chunks), false);
      const answer = `{"user":${JSON.stringify(req.headers['impersonate-user'] ?? null)}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
      res.end(answer);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    record(req, head, false);
    socket.on('error', () => {});
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  });
  server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  up.url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  class MemoryAgent extends HttpAgent {
    override createConnection(): Duplex {
      const [client, end] = memorySocketPair();
      server.emit('connection', end);
      return client;
    }
  }
  const agent = new MemoryAgent({ keepAlive: true, maxSockets: 256 });
  up.agent = agent;
  up.close = () =>
    new Promise((resolve) => {
      agent.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return up;
}
