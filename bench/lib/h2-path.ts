import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createWebSocketStream, WebSocket, WebSocketServer } from 'ws';

/**
 * The alternative design, prototyped for the measurement in
 * docs/protocol.md: one node:http2 session carried over the WebSocket
 * (ws's createWebSocketStream as the Duplex), HTTP/2 streams instead of
 * Hawser frames. Same relay to the same upstream on the agent side.
 */
export interface H2Path {
  session: http2.ClientHttp2Session;
  close(): Promise<void>;
}

export async function startH2Path(upstreamPort: number, windowBytes = 256 * 1024): Promise<H2Path> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const settings = { initialWindowSize: windowBytes, maxConcurrentStreams: 1024 };
  const serverSide = new Promise<http2.ClientHttp2Session>((resolve) => {
    wss.once('connection', (ws) => {
      const duplex = createWebSocketStream(ws);
      const session = http2.connect('http://tunnel.invalid', { createConnection: () => duplex, settings });
      session.on('error', () => {});
      resolve(session);
    });
  });
  // Masking (RFC 6455 5.3) protects browser-era proxies from cache poisoning; the
  // agent is not a browser and production runs over TLS, so the bench (like the
  // agent, see docs/protocol.md) uses an all-zero key, which ws skips entirely.
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false, generateMask: zeroMask });
  // Wrap at once: the server's preface can arrive with the upgrade response.
  const clientDuplex = createWebSocketStream(ws);
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const h2server = http2.createServer({ settings }, (req, res) => {
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, agent: upstreamAgent }, (upRes) => {
      const headers = { ...upRes.headers };
      delete headers.connection;
      delete headers['keep-alive'];
      delete headers['transfer-encoding'];
      res.writeHead(upRes.statusCode ?? 502, headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    // Cancel upstream only if the client left early; destroying a finished
    // request would also kill its pooled keep-alive connection.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.end();
  });
  h2server.emit('connection', clientDuplex);
  const session = await serverSide;
  await new Promise<void>((resolve) => (session.connecting ? session.once('connect', () => resolve()) : resolve()));
  return {
    session,
    async close() {
      session.destroy();
      ws.terminate();
      h2server.close();
      upstreamAgent.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}
