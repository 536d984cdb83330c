import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { AgentProcess } from './agent-ipc.js';

/**
 * The alternative design, prototyped for the measurement in
 * docs/protocol.md: one node:http2 session carried over the WebSocket
 * (ws's createWebSocketStream as the Duplex), HTTP/2 streams instead of
 * Hawser frames. The agent process runs the http2 server end and the same
 * relay to the same upstream.
 */
export interface H2Path {
  session: http2.ClientHttp2Session;
  close(): Promise<void>;
}

export async function startH2Path(agentProcess: AgentProcess, windowBytes = 1024 * 1024): Promise<H2Path> {
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
  await agentProcess.request({ type: 'connect-h2', url: `ws://127.0.0.1:${port}/` });
  const session = await serverSide;
  await new Promise<void>((resolve) => (session.connecting ? session.once('connect', () => resolve()) : resolve()));
  return {
    session,
    async close() {
      session.destroy();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
