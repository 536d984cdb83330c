import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { fromWebSocket, Session } from '../../packages/protocol/src/index.js';
import type { SessionLimits, TunnelStream } from '../../packages/protocol/src/index.js';

/** An http.Agent whose connections are tunnel streams (the server's relay). */
class TunnelAgent extends http.Agent {
  #session: Session;
  constructor(session: Session, keepAlive: boolean) {
    super({ keepAlive, maxSockets: Infinity });
    this.#session = session;
  }
  // Report a refused open (stream limit, draining) through the callback, as
  // net does: a throw here would escape http.request() in the caller.
  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    try {
      return this.#session.openStream('http');
    } catch (err) {
      callback?.(err as Error, undefined as unknown as Duplex);
      return undefined;
    }
  }
}

export interface TunnelPath {
  /** Agent to give http.request: requests go through the tunnel to the upstream, one stream per request. */
  agent: http.Agent;
  /** Same, but idle streams are kept and reused (keep-alive). */
  keepAliveAgent: http.Agent;
  server: Session;
  client: Session;
  close(): Promise<void>;
}

/**
 * HTTP client -> http.Agent over a stream -> session over real ws on
 * loopback -> session -> http.Server (the agent) -> upstream.
 */
export async function startTunnelPath(upstreamPort: number, limits: Partial<SessionLimits> = {}): Promise<TunnelPath> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const serverSession = new Promise<Session>((resolve) => {
    wss.once('connection', (ws) => resolve(new Session(fromWebSocket(ws), { role: 'server', software: 'bench-server', limits })));
  });
  // Masking (RFC 6455 5.3) protects browser-era proxies from cache poisoning; the
  // agent is not a browser and production runs over TLS, so the bench (like the
  // agent, see docs/protocol.md) uses an all-zero key, which ws skips entirely.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, generateMask: zeroMask });
  const client = new Session(fromWebSocket(ws), { role: 'client', software: 'bench-agent', metadata: { clusterUid: 'bench' }, limits });
  const server = await serverSession;
  await Promise.all([client.ready, server.ready]);

  // The agent's relay: an http.Server fed tunnel streams, proxying to the upstream.
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const relay = http.createServer((req, res) => {
    // Hop-by-hop headers stay on their hop: forwarding "Connection: close"
    // would cost the relay its keep-alive connection to the upstream.
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['keep-alive'];
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers, agent: upstreamAgent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    // Cancel upstream only if the client left early; destroying a finished
    // request would also kill its pooled keep-alive connection.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  client.on('stream', (stream: TunnelStream) => relay.emit('connection', stream));
  const agent = new TunnelAgent(server, false);
  const keepAliveAgent = new TunnelAgent(server, true);
  return {
    agent, keepAliveAgent, server, client,
    async close() {
      agent.destroy();
      keepAliveAgent.destroy();
      server.destroy();
      client.destroy();
      ws.terminate();
      upstreamAgent.destroy();
      relay.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
