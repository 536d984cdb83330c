import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Policy, Relay } from '@hawser/agent';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { startRecordingUpstream, type RecordingUpstream } from '../../../agent/test/support/recording-upstream.js';
import { ClusterRelay, type ClusterRelayOptions, type RelayAuditEvent } from '../../src/relay/cluster-relay.js';
import { operatorServerFactory } from '../../src/relay/relay-listener.js';
import { createCertificate } from '../../../../test/controlplane/pki.js';
import type { ClusterRecord } from '../../src/store/store.js';

export { rawExchange, parseResponses, type RawResponse } from '../../../../test/support/raw-http.js';

export const cluster: ClusterRecord = {
  id: 'c-1',
  name: 'prod',
  labels: {},
  status: 'active',
  createdAt: new Date(0),
  deregisteredAt: null,
  lastSeen: null,
  agentVersion: null,
  kubernetesVersion: null,
  clusterUid: null,
  certificateNotAfter: null, agentMode: null, chartVersion: null,
};

/** Bearer tokens the stub authenticator knows: mallory is read tier, alice admin. */
export const operators: Record<string, { username: string; groups: string[] }> = {
  mallory: { username: 'mallory', groups: ['readers'] },
  alice: { username: 'alice', groups: ['admins'] },
};

/** The agent's real Relay toward the recording upstream, with the agent's own ServiceAccount token. */
export function agentRelay(upstream: RecordingUpstream): Relay {
  return new Relay({
    target: { url: upstream.url, agent: upstream.agent, authorization: () => 'Bearer agent-sa-token' },
    policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [] }),
    log: pino({ level: 'silent' }),
  });
}

/** What every in-process relay here shares: the stub operators, the one cluster, tier groups, audit into `audit`. */
export function relayTestOptions(audit: RelayAuditEvent[]): Omit<ClusterRelayOptions, 'tunnels'> {
  return {
    authenticate: async (authorization) => {
      const who = operators[authorization?.replace(/^Bearer /, '') ?? ''];
      if (!who) throw new Error('unknown token');
      return { ...who, via: 'api-token', credentialId: `api-token:${who.username}` };
    },
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['readers'], triage: [], write: [], maintain: [], admin: ['admins'] } },
    audit: (e) => audit.push(e),
    log: pino({ level: 'silent' }),
  };
}

/**
 * An agent's tunnel over the in-memory transport: the server's end
 * (`server`), the agent's real Relay toward a recording HTTPS stand-in for
 * the API server (or `onStream`), and every stream the agent was handed.
 */
export async function startAgentTunnel(
  cleanup: (() => unknown)[],
  opts: Pick<RelayPairOptions, 'capable' | 'onStream'> = {},
): Promise<{ upstream: RecordingUpstream; server: Session; agentStreams: TunnelStream[] }> {
  const upstream = await startRecordingUpstream();
  cleanup.push(() => upstream.close());
  const [agentSide, serverSide] = createMemoryTransportPair();
  const agent = new Session(agentSide, {
    role: 'client',
    software: 'hawser-agent/test',
    ...(opts.capable === false ? {} : { capabilities: [REQUEST_HEAD_CAPABILITY] }),
  });
  const server = new Session(serverSide, { role: 'server', software: 'hawser-server/test' });
  await Promise.all([agent.ready, server.ready]);
  cleanup.push(() => agent.destroy(), () => server.destroy());
  const relay = agentRelay(upstream);
  const agentStreams: TunnelStream[] = [];
  agent.on('stream', (s: TunnelStream) => {
    agentStreams.push(s);
    if (opts.onStream) opts.onStream(s);
    else relay.accept(s);
  });
  return { upstream, server, agentStreams };
}

export interface RelayPair {
  /** The relay's listener (plain HTTP on 127.0.0.1; TLS changes nothing the relay sees). */
  port: number;
  upstream: RecordingUpstream;
  audit: RelayAuditEvent[];
  /** Every stream the agent was handed. */
  agentStreams: TunnelStream[];
  /** With `http2`: the listener's certificate, to trust; and the TLS connections it accepted. */
  ca?: string;
  connections?: () => number;
}

export interface RelayPairOptions {
  /** Announce request heads in the agent's HELLO (default true). */
  capable?: boolean;
  /** Replace the real agent relay with this stream handler. */
  onStream?: (stream: TunnelStream) => void;
  responseTimeoutMs?: number;
  /**
   * Serve the relay as the operator listener does: TLS with ALPN h2 and
   * http/1.1 (relay-listener.ts); `ca` in the result trusts it.
   */
  http2?: boolean;
}

/**
 * The whole relay in one process: the server's ClusterRelay behind an HTTP
 * listener, a tunnel over the in-memory transport, the agent's real Relay,
 * and a recording HTTPS stand-in for the API server.
 */
export async function startRelayPair(cleanup: (() => unknown)[], opts: RelayPairOptions = {}): Promise<RelayPair> {
  const { upstream, server, agentStreams } = await startAgentTunnel(cleanup, opts);
  const audit: RelayAuditEvent[] = [];
  const clusterRelay = new ClusterRelay({
    ...relayTestOptions(audit),
    tunnels: { session: (id) => (id === cluster.id ? server : undefined) },
    ...(opts.responseTimeoutMs ? { responseTimeoutMs: opts.responseTimeoutMs } : {}),
  });
  if (opts.http2) {
    const tls = createCertificate({ subject: { cn: 'hawser' }, serverNames: { ip: ['127.0.0.1'] } });
    const notFound = (_req: unknown, res: { writeHead(s: number): void; end(b: string): void }): void => {
      res.writeHead(404);
      res.end('not the relay');
    };
    const h2 = operatorServerFactory(clusterRelay, tls, pino({ level: 'silent' }))(notFound);
    let connections = 0;
    h2.on('secureConnection', () => connections++);
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => {
      h2.closeAllConnections();
      h2.close(resolve);
    }));
    return { port: (h2.address() as AddressInfo).port, upstream, audit, agentStreams, ca: tls.cert, connections: () => connections };
  }
  // A larger header limit than Node's default, so the relay's own 431 is reachable.
  const http: Server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => void clusterRelay.handle(req, res));
  http.on('upgrade', (req, socket, head) => void clusterRelay.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => {
    http.closeAllConnections();
    http.close(resolve);
  }));
  return { port: (http.address() as AddressInfo).port, upstream, audit, agentStreams };
}

/** What a GET on the relay answered. */
export type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** One GET on a fresh connection to a relay, as the operator `token` names, with extra headers. */
export function getAs(port: number, path: string, token = 'alice', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}`, ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
