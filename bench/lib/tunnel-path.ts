import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { fromWebSocket, Session } from '../../packages/protocol/src/index.js';
import type { SessionLimits } from '../../packages/protocol/src/index.js';
import type { AgentProcess } from './agent-ipc.js';

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
  /** Agent to give http.request: requests go through the tunnel, one stream per request. */
  agent: http.Agent;
  /** Same, but idle streams are kept and reused (keep-alive). */
  keepAliveAgent: http.Agent;
  server: Session;
  close(): Promise<void>;
}

/**
 * Server end of: HTTP client -> http.Agent over a stream -> session over
 * real ws on loopback -> session -> http.Server (agent relay, in the agent
 * process) -> upstream.
 */
export async function startTunnelPath(agentProcess: AgentProcess, limits: Partial<SessionLimits> = {}): Promise<TunnelPath> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as AddressInfo).port;
  const serverSession = new Promise<Session>((resolve) => {
    wss.once('connection', (ws) => resolve(new Session(fromWebSocket(ws), { role: 'server', software: 'bench-server', limits })));
  });
  await agentProcess.request({ type: 'connect-tunnel', url: `ws://127.0.0.1:${port}/` });
  const server = await serverSession;
  await server.ready;
  const agent = new TunnelAgent(server, false);
  const keepAliveAgent = new TunnelAgent(server, true);
  return {
    agent, keepAliveAgent, server,
    async close() {
      agent.destroy();
      keepAliveAgent.destroy();
      server.destroy();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
