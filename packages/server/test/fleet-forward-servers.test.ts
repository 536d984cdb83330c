import { cpSync } from 'node:fs';
import { request } from 'node:https';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Policy, Relay } from '@hawser/agent';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { Session, fromWebSocket, type TunnelStream } from '@hawser/protocol';
import { startPostgres, type TestPostgres } from '../../../test/support/postgres.js';
import { startRecordingUpstream, type RecordingUpstream } from '../../agent/test/support/recording-upstream.js';
import type { LeaseOwnership } from '../src/fleet/lease-ownership.js';
import { httpsJson, openTunnel, registeredAgent, startServer, tempDir, type Harness } from './support/harness.js';

/** Resolves once `ownership` names the replica at `peerUrl` as the cluster's owner (it hears by notification). */
function ownerKnown(ownership: LeaseOwnership, clusterId: string, peerUrl: string | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = (): boolean => ownership.owner(clusterId)?.peerUrl === peerUrl;
    if (check()) return resolve();
    const off = ownership.onOwnerChange(() => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}

/**
 * Two real servers in one process on one PostgreSQL, sharing the data
 * directory's CA (as replicas share one Secret): the agent's tunnel is on
 * A, its lease in PostgreSQL; an operator asks B, whose owner cache (fed
 * by notifications) names A and A's peer listener.
 */
describe('two server replicas forwarding over their peer listeners', () => {
  let postgres: TestPostgres;
  let a: Harness;
  let b: Harness;
  let upstream: RecordingUpstream;
  let operatorToken = '';
  let databaseUrl = '';
  const dirB = tempDir();
  const cleanup: (() => unknown)[] = [];

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = (databaseUrl = await postgres.createDatabase('fleet_forward'));
    a = await startServer({ databaseUrl: url, replicaId: 'fwd-a', tierGroups: { read: ['ops'] } });
    cpSync(a.dataDir, dirB.path, { recursive: true });
    b = await startServer({ dataDir: dirB.path, databaseUrl: url, replicaId: 'fwd-b', tierGroups: { read: ['ops'] } });
    const minted = await httpsJson<{ token: string }>(`${a.publicUrl}/api/v1/tokens`, { method: 'POST', ca: a.ca, token: a.adminToken, body: { user: 'alice', groups: ['ops'] } });
    operatorToken = minted.body.token;
    upstream = await startRecordingUpstream();
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
    await upstream?.close();
    await b?.stop();
    await a?.stop();
    await postgres?.stop();
    dirB.remove();
  });

  it('answers a request on the replica without the tunnel from the agent on the other, audited once', async () => {
    expect(a.server.context.peerUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const registered = await registeredAgent(a, 'fleet-a');
    const out = await openTunnel(a, { cert: registered.certificate, key: registered.keyPem });
    if (out.kind !== 'open') throw new Error(`tunnel refused: ${out.status}`);
    const agent = new Session(fromWebSocket(out.ws), { role: 'client', software: 'hawser-agent/0.1.0', capabilities: [REQUEST_HEAD_CAPABILITY] });
    cleanup.push(() => agent.destroy());
    const relay = new Relay({
      target: { url: upstream.url, agent: upstream.agent, authorization: () => 'Bearer agent-sa-token' },
      policy: new Policy({ mode: 'full', authzMode: 'tier', impersonationPrefix: 'hawser:', denyResources: [] }),
      log: pino({ level: 'silent' }),
    });
    agent.on('stream', (s: TunnelStream) => relay.accept(s));
    // Ready on A once the registry has the session (its watch fires after the agent info is recorded).
    await new Promise<void>((resolve) => {
      if (a.server.context.tunnels.session(registered.clusterId)) return resolve();
      const stop = a.server.context.tunnels.watch((id) => {
        if (id === registered.clusterId && a.server.context.tunnels.session(id)) {
          stop();
          resolve();
        }
      });
    });
    // B hears of A's lease by notification, with the peer URL A advertised.
    const ownership = b.server.context.ownership as LeaseOwnership;
    await ownerKnown(ownership, registered.clusterId, a.server.context.peerUrl);
    expect(ownership.owner(registered.clusterId)).toMatchObject({ replicaId: 'fwd-a' });
    expect(b.server.context.tunnels.session(registered.clusterId)).toBeUndefined();

    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${b.publicUrl}/clusters/fleet-a/api/v1/namespaces/default/pods`, { ca: b.ca, agent: false, headers: { authorization: `Bearer ${operatorToken}` } }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ method: 'GET', url: '/api/v1/namespaces/default/pods', user: ['hawser:alice'], groups: ['hawser:tier:read'] });
    // Both replicas write the one store: the request is in it once.
    let rows = await a.server.context.store.listAuditEvents({ type: 'request.relayed' });
    for (let i = 0; i < 40 && rows.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      rows = await a.server.context.store.listAuditEvents({ type: 'request.relayed' });
    }
    expect(rows.filter((r) => r.clusterId === registered.clusterId)).toHaveLength(1);
  }, 60_000);

  it('answers a forwarded request still unanswered at the drain deadline with 503 + Retry-After, not a cut connection', async () => {
    // A third replica with a short drain: its peer session to A must end by
    // that deadline too, so the relay answers before the connection closes.
    const dirC = tempDir();
    cleanup.push(() => dirC.remove());
    cpSync(a.dataDir, dirC.path, { recursive: true });
    const c = await startServer({ dataDir: dirC.path, databaseUrl, replicaId: 'fwd-c', drainTimeout: 300, tierGroups: { read: ['ops'] } });
    cleanup.push(() => c.stop());
    const registered = await registeredAgent(a, 'fleet-stuck');
    const out = await openTunnel(a, { cert: registered.certificate, key: registered.keyPem });
    if (out.kind !== 'open') throw new Error(`tunnel refused: ${out.status}`);
    const agent = new Session(fromWebSocket(out.ws), { role: 'client', software: 'hawser-agent/0.1.0', capabilities: [REQUEST_HEAD_CAPABILITY] });
    cleanup.push(() => agent.destroy());
    // The agent takes the request and never answers it.
    const taken = new Promise<TunnelStream>((resolve) => agent.on('stream', resolve));
    await ownerKnown(c.server.context.ownership as LeaseOwnership, registered.clusterId, a.server.context.peerUrl);
    const answered = new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const req = request(`${c.publicUrl}/clusters/fleet-stuck/api/v1/nodes`, { ca: c.ca, agent: false, headers: { authorization: `Bearer ${operatorToken}` } }, (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode ?? 0, retryAfter: r.headers['retry-after'] }));
      });
      req.on('error', reject);
      req.end();
    });
    await taken;
    await c.server.close();
    expect(await answered).toMatchObject({ status: 503, retryAfter: expect.any(String) as unknown });
  }, 60_000);
});
