import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransportPair, Session, type TunnelStream } from '@hawser/protocol';
import { ClusterRelay, type RelayAuditEvent } from '../src/cluster-relay.js';
import type { ClusterRecord } from '../src/store.js';

/**
 * The relay's own timeout, which no end-to-end test can reach without an
 * agent that takes a request and never answers: here the agent's end of an
 * in-memory tunnel does exactly that.
 */
const cluster: ClusterRecord = {
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

interface Setup {
  url: string;
  audit: RelayAuditEvent[];
  agentStreams: TunnelStream[];
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(): Promise<Setup> {
  const [agentSide, serverSide] = createMemoryTransportPair();
  const agent = new Session(agentSide, { role: 'client', software: 'hawser-agent/test', metadata: { clusterUid: 'uid-1' } });
  const server = new Session(serverSide, { role: 'server', software: 'hawser-server/test' });
  await Promise.all([agent.ready, server.ready]);
  cleanup.push(() => agent.destroy(), () => server.destroy());
  const agentStreams: TunnelStream[] = [];
  // Reads the request and never answers: a wedged API server behind the agent.
  agent.on('stream', (s: TunnelStream) => {
    agentStreams.push(s);
    s.resume();
  });
  const audit: RelayAuditEvent[] = [];
  const relay = new ClusterRelay({
    authenticate: async () => ({ username: 'alice', groups: ['ops'], via: 'api-token', credentialId: 'api-token:test' }),
    findCluster: async (name) => (name === cluster.name ? cluster : undefined),
    tunnels: { session: (id) => (id === cluster.id ? server : undefined) },
    authorization: { mode: 'tier', prefix: 'hawser:', tierGroups: { read: ['ops'], triage: [], write: [], maintain: [], admin: [] } },
    audit: (e) => audit.push(e),
    log: pino({ level: 'silent' }),
    responseTimeoutMs: 300,
  });
  const http: Server = createServer((req, res) => void relay.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => http.close(resolve)));
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, audit, agentStreams };
}

function get(url: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: 'Bearer x' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ClusterRelay', () => {
  it('answers 504 as a Status when the agent takes a request and never answers, and resets the stream', async () => {
    const s = await setup();
    const started = performance.now();
    const res = await get(`${s.url}/clusters/prod/api/v1/namespaces/default/pods`);
    const waited = performance.now() - started;

    expect(res.status).toBe(504);
    expect(res.headers['content-type']).toBe('application/json');
    const status = JSON.parse(res.body) as { kind: string; code: number; message: string };
    expect(status).toMatchObject({ kind: 'Status', code: 504 });
    expect(status.message).toContain('cluster "prod" did not answer within');
    expect(waited).toBeGreaterThanOrEqual(250);

    // The request reached the agent, and the agent's stream is torn down
    // with it: nothing is left running in the cluster for a client that left.
    expect(s.agentStreams).toHaveLength(1);
    await new Promise<void>((resolve) => (s.agentStreams[0]!.destroyed ? resolve() : s.agentStreams[0]!.once('close', () => resolve())));

    expect(s.audit).toHaveLength(1);
    expect(s.audit[0]).toMatchObject({ user: 'alice', cluster: 'prod', verb: 'list', resource: 'pods', status: 504, reason: 'upstream timeout' });
  });

  it('answers 404 for an unknown cluster without opening a stream', async () => {
    const s = await setup();
    const res = await get(`${s.url}/clusters/nope/api/v1/pods`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 404, message: 'cluster "nope" is not registered with Hawser' });
    expect(s.agentStreams).toHaveLength(0);
    expect(s.audit[0]).toMatchObject({ status: 404, cluster: 'nope' });
  });
});
