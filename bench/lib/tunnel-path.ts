import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { WebSocketServer } from 'ws';
import { fromWebSocket, Session } from '../../packages/protocol/src/index.js';
import type { SessionLimits } from '../../packages/protocol/src/index.js';
import { ClusterRelay } from '../../packages/server/src/relay/cluster-relay.js';
import type { ClusterRecord } from '../../packages/server/src/store/store.js';
import type { AgentProcess } from './agent-ipc.js';

/** The cluster the bench relays to, as the store would return it. */
const cluster: ClusterRecord = {
  id: 'bench', name: 'bench', labels: {}, status: 'active', createdAt: new Date(0), deregisteredAt: null,
  lastSeen: null, agentVersion: null, kubernetesVersion: null, clusterUid: null, certificateNotAfter: null, agentMode: null, chartVersion: null,
};

export interface TunnelPath {
  /** Keep-alive agent for the relay listener; paths go under `prefix`. */
  agent: http.Agent;
  port: number;
  prefix: string;
  server: Session;
  close(): Promise<void>;
}

/**
 * Server end of: HTTP client -> the shipped ClusterRelay (admission, one
 * fresh stream per request with the request head in its OPEN payload) ->
 * session over real ws on loopback -> session -> the shipped agent Relay
 * (in the agent process) -> upstream. Authentication and the cluster
 * lookup are stubs that answer at once; everything after them is the code
 * that ships.
 */
export async function startTunnelPath(agentProcess: AgentProcess, limits: Partial<SessionLimits> = {}): Promise<TunnelPath> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 * 1024, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const wsPort = (wss.address() as AddressInfo).port;
  const serverSession = new Promise<Session>((resolve) => {
    wss.once('connection', (ws) => resolve(new Session(fromWebSocket(ws), { role: 'server', software: 'bench-server', limits })));
  });
  await agentProcess.request({ type: 'connect-tunnel', url: `ws://127.0.0.1:${wsPort}/` });
  const server = await serverSession;
  await server.ready;
  const relay = new ClusterRelay({
    authenticate: () => Promise.resolve({ username: 'bench', groups: [], via: 'api-token', credentialId: 'api-token:bench' }),
    findCluster: (name) => Promise.resolve(name === cluster.name ? cluster : undefined),
    tunnels: { session: () => server },
    authorization: { mode: 'shared', prefix: 'hawser:', tierGroups: { read: [], triage: [], write: [], maintain: [], admin: [] } },
    audit: () => {},
    log: pino({ level: 'silent' }),
  });
  const listener = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => void relay.handle(req, res));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  return {
    agent,
    port: (listener.address() as AddressInfo).port,
    prefix: `/clusters/${cluster.name}`,
    server,
    async close() {
      agent.destroy();
      listener.closeAllConnections();
      listener.close();
      server.destroy();
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
