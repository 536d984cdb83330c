import { cpSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { REQUEST_HEAD_CAPABILITY } from '@hawser/contract';
import { fromWebSocket, Session, type TunnelStream } from '@hawser/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '../../../test/support/postgres.js';
import type { TestPostgres } from '../../../test/support/postgres.js';
import type { LeaseOwnership } from '../src/fleet/lease-ownership.js';
import { httpsJson, openTunnel, registeredAgent, startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

/** An agent's tunnel to `h` with a real protocol session; resolves once the session is ready. */
async function agentTunnel(h: Harness, identity: { cert: string; key: string }): Promise<{ session: Session; closed: Promise<number> }> {
  const out = await openTunnel(h, identity);
  if (out.kind !== 'open') throw new Error(`tunnel refused: ${out.status} ${out.body}`);
  const closed = new Promise<number>((resolve) => out.ws.once('close', (code) => resolve(code)));
  const session = new Session(fromWebSocket(out.ws), { role: 'client', software: 'hawser-agent/test', capabilities: [REQUEST_HEAD_CAPABILITY] });
  await session.ready;
  return { session, closed };
}

/** Resolves once `h`'s registry has the cluster's session ready (its lease claimed). */
function readyOn(h: Harness, clusterId: string): Promise<void> {
  return new Promise((resolve) => {
    const off = h.server.context.tunnels.watch((id) => {
      if (id !== clusterId || !h.server.context.tunnels.session(id)) return;
      off();
      resolve();
    });
  });
}

/** Resolves once `h`'s owner cache names `replicaId` as the cluster's owner. */
function ownerIs(h: Harness, clusterId: string, replicaId: string): Promise<void> {
  const ownership = h.server.context.ownership as LeaseOwnership;
  return new Promise((resolve) => {
    const check = (): boolean => ownership.owner(clusterId)?.replicaId === replicaId;
    if (check()) return resolve();
    const off = ownership.onOwnerChange(() => {
      if (!check()) return;
      off();
      resolve();
    });
  });
}

describe('two server replicas on one PostgreSQL', () => {
  let postgres: TestPostgres;
  let a: Harness;
  let b: Harness;
  const bDir = tempDir();

  beforeAll(async () => {
    postgres = await startPostgres();
    const url = await postgres.createDatabase('fleet_server');
    a = await startServer({ databaseUrl: url, replicaId: 'replica-a', tierGroups: { read: ['devs'] } });
    // Replicas share the CA, signing key and admin token (one Secret in Kubernetes).
    cpSync(a.dataDir, bDir.path, { recursive: true });
    b = await startServer({ dataDir: bDir.path, databaseUrl: url, replicaId: 'replica-b', tierGroups: { read: ['devs'] } });
  }, 60_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    await postgres?.stop();
    bDir.remove();
  });

  it('records the tunnel on the replica the agent reached, and every replica sees that owner', async () => {
    const agent = await registeredAgent(a, 'fleet-owner-seen');
    const seen = ownerIs(a, agent.clusterId, 'replica-b');
    const ready = readyOn(b, agent.clusterId);
    const { session } = await agentTunnel(b, { cert: agent.certificate, key: agent.keyPem });
    await Promise.all([seen, ready]);
    expect(b.server.context.ownership.holds(agent.clusterId)).toBe(true);
    expect(a.server.context.ownership.holds(agent.clusterId)).toBe(false);
    expect(a.server.context.ownership.owner(agent.clusterId)).toMatchObject({ replicaId: 'replica-b', agent: { software: 'hawser-agent/test' } });
    session.destroy();
  });

  it('closes a tunnel held by replica B within a second when the cluster is deregistered on replica A', async () => {
    const agent = await registeredAgent(a, 'fleet-dereg');
    const seen = ownerIs(a, agent.clusterId, 'replica-b');
    const { closed } = await agentTunnel(b, { cert: agent.certificate, key: agent.keyPem });
    await seen;
    const started = performance.now();
    const rm = await httpsJson(`${a.publicUrl}/api/v1/clusters/fleet-dereg`, { method: 'DELETE', ca: a.ca, token: a.adminToken });
    expect(rm.status).toBe(200);
    expect(await closed).toBe(4403);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('ends a watch relayed by replica B within a second when its API token is revoked on replica A', async () => {
    const agent = await registeredAgent(a, 'fleet-revoke');
    const seen = ownerIs(a, agent.clusterId, 'replica-b');
    const { session } = await agentTunnel(b, { cert: agent.certificate, key: agent.keyPem });
    await seen;
    // The "agent" takes the watch and keeps it open, answering nothing: only a revocation can end it.
    const watching = new Promise<TunnelStream>((resolve) => session.on('stream', resolve));
    const minted = await httpsJson<{ token: string; id: string }>(`${a.publicUrl}/api/v1/tokens`, {
      method: 'POST',
      ca: a.ca,
      token: a.adminToken,
      body: { user: 'dev', groups: ['devs'] },
    });
    expect(minted.status).toBe(201);
    const ended = new Promise<string>((resolve) => {
      const req = httpsRequest(`${b.publicUrl}/clusters/fleet-revoke/api/v1/pods?watch=1`, {
        ca: b.ca,
        headers: { authorization: `Bearer ${minted.body.token}` },
      });
      req.on('error', (err) => resolve(err.message));
      req.on('response', (res) => {
        res.resume();
        res.on('close', () => resolve(`response closed (${res.statusCode})`));
      });
      req.end();
    });
    await watching;
    const started = performance.now();
    const revoked = await httpsJson(`${a.publicUrl}/api/v1/tokens/${minted.body.id}`, { method: 'DELETE', ca: a.ca, token: a.adminToken });
    expect(revoked.status).toBe(200);
    expect(await ended).toMatch(/socket hang up|ECONNRESET|closed/);
    expect(performance.now() - started).toBeLessThan(1_000);
    session.destroy();
  });

  it('moves the lease when the agent reconnects to the other replica, and closes the old tunnel so it cannot serve as the owner', async () => {
    const agent = await registeredAgent(a, 'fleet-move');
    const identity = { cert: agent.certificate, key: agent.keyPem };
    const first = await agentTunnel(a, identity);
    await ownerIs(b, agent.clusterId, 'replica-a');
    const ready = readyOn(b, agent.clusterId);
    const second = await agentTunnel(b, identity);
    await ready;
    // A heard B's claim: its lease is lost and its tunnel closed with 1012 (reconnect at once).
    expect(await first.closed).toBe(1012);
    expect(a.server.context.ownership.holds(agent.clusterId)).toBe(false);
    expect(b.server.context.ownership.holds(agent.clusterId)).toBe(true);
    second.session.destroy();
  });
});

describe('one server on the embedded store', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startServer();
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
  });

  it('owns the tunnels its registry holds, and nothing else', async () => {
    const agent = await registeredAgent(h, 'local-owner');
    const ownership = h.server.context.ownership;
    expect(ownership.replicaId).toMatch(/^r-[a-z2-7]{8}$/);
    expect(ownership.owner(agent.clusterId)).toBeUndefined();
    const ready = readyOn(h, agent.clusterId);
    const { session, closed } = await agentTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    await ready;
    expect(ownership.holds(agent.clusterId)).toBe(true);
    expect(ownership.owner(agent.clusterId)?.replicaId).toBe(ownership.replicaId);
    session.destroy();
    await closed;
  });
});
