import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { fromWebSocket, Session } from '../src/index.js';
import type { SessionOptions, TunnelStream } from '../src/index.js';

/** An http.Agent whose connections are tunnel streams: how the server relays requests. */
export class TunnelAgent extends http.Agent {
  #session: () => Session;
  constructor(session: () => Session, options: http.AgentOptions = {}) {
    super(options);
    this.#session = session;
  }

  // Report a refused open (stream limit, draining) through the callback, as
  // net does: a throw here would escape http.request() in the caller.
  override createConnection(_options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | undefined {
    try {
      return this.#session().openStream('http');
    } catch (err) {
      callback?.(err as Error, undefined as unknown as Duplex);
      return undefined;
    }
  }
}

export interface TunnelFixture {
  server: Session;
  agent: Session;
  httpAgent: TunnelAgent;
  /** The agent-side http.Server that tunnel streams are fed into. */
  agentHttp: http.Server;
  wss: WebSocketServer;
  clientSocket: WebSocket;
  close(): Promise<void>;
}

type Overrides = Partial<Omit<SessionOptions, 'role'>>;

/** Server session and agent session over a real ws on 127.0.0.1, with HTTP served on the agent side. */
export async function startTunnel(handler: http.RequestListener, options: { server?: Overrides; agent?: Overrides; keepAlive?: boolean } = {}): Promise<TunnelFixture> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const serverReady = new Promise<Session>((resolve) => {
    wss.once('connection', (ws) => {
      resolve(new Session(fromWebSocket(ws), { software: 'hawser-server/test', ...options.server, role: 'server' }));
    });
  });
  const clientSocket = new WebSocket(`ws://127.0.0.1:${port}/tunnel`);
  // Wrap at once: the server's HELLO may arrive with the upgrade response.
  const agent = new Session(fromWebSocket(clientSocket), { software: 'hawser-agent/test', metadata: { clusterUid: 'uid-1' }, ...options.agent, role: 'client' });
  const server = await serverReady;
  await Promise.all([server.ready, agent.ready]);
  const agentHttp = http.createServer(handler);
  agent.on('stream', (stream: TunnelStream) => agentHttp.emit('connection', stream));
  const httpAgent = new TunnelAgent(() => server, { keepAlive: options.keepAlive ?? false });
  return {
    server, agent, httpAgent, agentHttp, wss, clientSocket,
    async close() {
      httpAgent.destroy();
      agent.destroy();
      server.destroy();
      clientSocket.terminate();
      agentHttp.close();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

export function request(agent: http.Agent, options: http.RequestOptions & { body?: Buffer | string } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, host: 'cluster.invalid', path: '/', ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
