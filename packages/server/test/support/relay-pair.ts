import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import pino from 'pino';
import { Policy, Relay, REQUEST_HEAD_CAPABILITY } from '@hawser/agent';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { startRecordingUpstream, type RecordingUpstream } from '../../../agent/test/support/recording-upstream.js';
import { ClusterRelay, type RelayAuditEvent } from '../../src/cluster-relay.js';
import type { ClusterRecord } from '../../src/store.js';

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
  certificateNotAfter: null,
};

/** Bearer tokens the stub authenticator knows: mallory is read tier, alice admin. */
export const operators: Record<string, { username: string; groups: string[] }> = {
  mallory: { username: 'mallory', groups: ['readers'] },
  alice: { username: 'alice', groups: ['admins'] },
};

export interface RelayPair {
  /** The relay's listener (plain HTTP on 127.0.0.1; TLS changes nothing the relay sees). */
  port: number;
  upstream: RecordingUpstream;
  audit: RelayAuditEvent[];
  /** Every stream the agent was handed. */
  agentStreams: TunnelStream[];
}

export interface RelayPairOptions {
  /** Announce request heads in the agent's HELLO (default true). */
  capable?: boolean;
  /** Replace the real agent relay with this stream handler. */
  onStream?: (stream: TunnelStream) => void;
  responseTimeoutMs?: number;
}

/**
 * The whole relay in one process: the server's ClusterRelay behind an HTTP
 * listener, a tunnel over the in-memory transport, the agent's real Relay,
 * and a recording HTTPS stand-in for the API server.
 */
export async function startRelayPair(cleanup: (() => unknown)[], opts: RelayPairOptions = {}): Promise<RelayPair> {
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
  const relay = new Relay({
    target: { url: upstream.url, agent: upstream.agent, authorization: () => 'Bearer agent-sa-token' },
    policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [] }),
    log: pino({ level: 'silent' }),
  });
  const agentStreams: TunnelStream[] = [];
  agent.on('stream', (s: TunnelStream) => {
    agentStreams.push(s);
    if (opts.onStream) opts.onStream(s);
    else relay.accept(s);
  });
  const audit: RelayAuditEvent[] = [];
  const clusterRelay = new ClusterRelay({
    authenticate: async (authorization) => {
      const who = operators[authorization?.replace(/^Bearer /, '') ?? ''];
      if (!who) throw new Error('unknown token');
      return { ...who, via: 'api-token' };
    },
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    tunnels: { session: (id) => (id === cluster.id ? server : undefined) },
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['readers'], triage: [], write: [], maintain: [], admin: ['admins'] } },
    audit: (e) => audit.push(e),
    log: pino({ level: 'silent' }),
    ...(opts.responseTimeoutMs ? { responseTimeoutMs: opts.responseTimeoutMs } : {}),
  });
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

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends raw bytes on one TCP connection and parses the responses that come
 * back: resolves once `count` complete responses are in, or when the
 * server closes the connection (a Node server aborts what is in flight
 * when a client half-closes, so `halfClose` is for that case only).
 */
export function rawExchange(port: number, bytes: string | Buffer, opts: { count?: number; halfClose?: boolean; timeoutMs?: number; heads?: boolean[] } = {}): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (opts.count !== undefined && parseResponses(Buffer.concat(chunks), false, opts.heads).length >= opts.count) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponses(Buffer.concat(chunks), true, opts.heads));
    });
    socket.write(bytes);
    if (opts.halfClose) socket.end();
  });
}

/** Complete responses in `buf`; `closed`: the connection is over, so a close-delimited body is whole. */
export function parseResponses(buf: Buffer, closed: boolean, heads: boolean[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...lines] = buf.toString('latin1', at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      const name = l.slice(0, i).trim().toLowerCase();
      headers[name] = headers[name] !== undefined ? `${headers[name]}, ${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
    }
    const status = Number(statusLine!.split(' ')[1]);
    at = end + 4;
    let body = '';
    if (heads[out.length]) {
      // The answer to a HEAD request: headers only, whatever they say.
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (status !== 101 && at + n > buf.length) break;
      body = buf.toString('utf8', at, at + n);
      at += n;
    } else if (headers['transfer-encoding'] === 'chunked') {
      let whole = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd < 0) break;
        const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
        at = lineEnd + 2;
        if (!size) {
          at += 2;
          whole = true;
          break;
        }
        body += buf.toString('utf8', at, at + size);
        at += size + 2;
      }
      if (!whole) break;
    } else if (status !== 101 && status !== 204 && status !== 304) {
      if (!closed) break;
      body = buf.toString('utf8', at);
      at = buf.length;
    }
    out.push({ status, headers, body });
    if (status === 101) break;
  }
  return out;
}
