import type { IncomingMessage } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { CertificateAuthority, createCaCertificate, generateRsaKeyPem } from '../src/registration/certificate-authority.js';
import { ReplicaIdentity, replicaIdOfCertificate } from '../src/fleet/replica-certificate.js';
import { PEER_TUNNEL_PATH } from '../src/fleet/peer-session.js';
import { createCsr } from './support/csr.js';
import { FRONT, OWNER, getAs, startFleetPair, testCa } from './support/fleet-pair.js';
import { startServer } from './support/harness.js';

/**
 * Who may speak on the peer listener and the agent listener: replica
 * certificates of our CA between replicas, agent certificates from agents,
 * and nothing signed by another CA, either way.
 */
// RSA key generation (the CA, replica certificates) is slow on a loaded 2-core machine.
vi.setConfig({ testTimeout: 60_000 });
beforeAll(() => void testCa(), 120_000);

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const PODS = '/clusters/prod/api/v1/namespaces/default/pods';

/** Opens a WebSocket with a client certificate; resolves with the refusal's status and code, or 101. */
function upgradeWith(url: string, ca: readonly string[], cert: string, key: string): Promise<{ status: number; code: string | undefined; error?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { ca: [...ca], cert, key });
    ws.on('unexpected-response', (_req: unknown, res: IncomingMessage) => {
      resolve({ status: res.statusCode ?? 0, code: res.headers['x-hawser-error'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => {
      resolve({ status: 101, code: undefined });
      ws.terminate();
    });
    ws.on('error', (err) => resolve({ status: 0, code: undefined, error: err.message }));
  });
}

function agentCertificate(ca: CertificateAuthority): { cert: string; key: string } {
  const key = generateRsaKeyPem().privateKeyPem;
  const issued = ca.issueClientCertificate({ csrPem: createCsr(key), clusterId: 'c-1', ttlMs: 3_600_000, backdateMs: 60_000 });
  return { cert: issued.certPem, key };
}

let otherCa: CertificateAuthority | undefined;
function foreignCa(): CertificateAuthority {
  otherCa ??= new CertificateAuthority(createCaCertificate('Another fleet CA'));
  return otherCa;
}

describe('replica certificates', () => {
  it('name the replica, carry the replica marker and both usages, and are told apart from agent and serving certificates', () => {
    const ca = testCa();
    const replica = ca.issueReplicaCertificate({ replicaId: 'r-abc', names: ['127.0.0.1', 'replica-0.hawser'], ttlMs: 3_600_000 });
    const x509 = new X509Certificate(replica.certPem);
    expect(x509.subject).toContain('CN=hawser-replica:r-abc');
    expect(x509.subject).toContain('OU=hawser:replica');
    expect(x509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    // Short-lived: a day, not an agent's month.
    expect(new Date(x509.validTo).getTime() - Date.now()).toBeLessThanOrEqual(3_600_000 + 1000);
    const asPeer = (pem: string) => {
      const c = new X509Certificate(pem);
      const subject = Object.fromEntries(c.subject.split('\n').map((l) => l.split('=') as [string, string]));
      return { raw: c.raw, subject, ext_key_usage: c.keyUsage ?? [] } as never;
    };
    expect(replicaIdOfCertificate(asPeer(replica.certPem), 'client')).toBe('r-abc');
    expect(replicaIdOfCertificate(asPeer(replica.certPem), 'server')).toBe('r-abc');
    expect(replicaIdOfCertificate(asPeer(agentCertificate(ca).cert), 'client')).toBeUndefined();
    expect(replicaIdOfCertificate(asPeer(ca.issueServingCertificate(['127.0.0.1']).certPem), 'server')).toBeUndefined();
  });
});

describe('the peer listener', () => {
  it('refuses an agent certificate of the same CA with 403 HSR_ERR_PEER_CERTIFICATE_REFUSED', async () => {
    const p = await startFleetPair(cleanup);
    const agent = agentCertificate(testCa());
    const refused = await upgradeWith(`${p.peerUrl}${PEER_TUNNEL_PATH}`, testCa().bundle, agent.cert, agent.key);
    expect(refused).toMatchObject({ status: 403, code: 'HSR_ERR_PEER_CERTIFICATE_REFUSED' });
    expect(p.listener.sessionCount).toBe(0);
  });

  it('accepts a replica certificate of the same CA', async () => {
    const p = await startFleetPair(cleanup);
    const replica = testCa().issueReplicaCertificate({ replicaId: 'r-x', names: [], ttlMs: 60_000 });
    expect(await upgradeWith(`${p.peerUrl}${PEER_TUNNEL_PATH}`, testCa().bundle, replica.certPem, replica.keyPem)).toMatchObject({ status: 101 });
  });

  it('fails the TLS handshake of a replica whose certificate comes from another CA, and the forward is a 503 with Retry-After', async () => {
    const p = await startFleetPair(cleanup, { frontIdentity: new ReplicaIdentity(foreignCa(), FRONT, ['127.0.0.1']) });
    const res = await getAs(p.port, PODS);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_FORWARD_REFUSED');
    expect(res.body).toContain(`(${OWNER}) could not be reached`);
    expect(p.listener.sessionCount).toBe(0);
    expect(p.upstream.seen).toHaveLength(0);
  });
});

describe('the peer listener after a CA rotation', () => {
  it('trusts a CA added to the bundle once the TLS is refreshed, without waiting for its own certificate\'s half-life', async () => {
    let trusted = [...testCa().bundle];
    const ownerIdentity = new ReplicaIdentity(testCa(), OWNER, ['127.0.0.1']);
    cleanup.push(() => ownerIdentity.close());
    const p = await startFleetPair(cleanup, { ownerIdentity, ownerTrust: () => trusted });
    const rotated = foreignCa().issueReplicaCertificate({ replicaId: 'r-rotated', names: [], ttlMs: 60_000 });
    const url = `${p.peerUrl}${PEER_TUNNEL_PATH}`;
    expect(await upgradeWith(url, testCa().bundle, rotated.certPem, rotated.keyPem)).toMatchObject({ status: 0 });
    trusted = [...trusted, ...foreignCa().bundle];
    ownerIdentity.renew();
    expect(await upgradeWith(url, testCa().bundle, rotated.certPem, rotated.keyPem)).toMatchObject({ status: 101 });
  });
});

describe('the peer dialer', () => {
  it('refuses an owner whose serving certificate comes from another CA', async () => {
    const p = await startFleetPair(cleanup, { ownerIdentity: new ReplicaIdentity(foreignCa(), OWNER, ['127.0.0.1']) });
    const res = await getAs(p.port, PODS);
    expect(res.status).toBe(503);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_FORWARD_REFUSED');
    expect(p.upstream.seen).toHaveLength(0);
  });

  it('refuses a peer whose replica certificate names another replica than the lease', async () => {
    const p = await startFleetPair(cleanup, { ownerIdentity: new ReplicaIdentity(testCa(), 'r-impostor', ['127.0.0.1']) });
    const res = await getAs(p.port, PODS);
    expect(res.status).toBe(503);
    expect(res.headers['x-hawser-error']).toBe('HSR_ERR_RELAY_FORWARD_REFUSED');
    expect(p.upstream.seen).toHaveLength(0);
  });

  it('redials after its backoff once the peer is reachable again', async () => {
    const p = await startFleetPair(cleanup);
    expect((await getAs(p.port, PODS)).status).toBe(200);
    // The owner's peer sessions end (as in a restart of its listener side); the next request dials anew.
    p.dialer.session({ replicaId: OWNER, peerUrl: p.peerUrl })!.destroy(new Error('lost'));
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await getAs(p.port, PODS)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });
});

describe('the agent listener', () => {
  it('refuses a replica certificate of its own CA (certificate-replica)', async () => {
    const h = await startServer();
    cleanup.push(() => h.stop());
    const replica = h.server.context.ca.issueReplicaCertificate({ replicaId: 'r-x', names: [], ttlMs: 60_000 });
    const refused = await upgradeWith(`${h.agentUrl.replace(/^https/, 'wss')}/agent/v1/tunnel`, h.server.context.ca.bundle, replica.certPem, replica.keyPem);
    expect(refused).toMatchObject({ status: 403, code: 'HSR_ERR_CERTIFICATE_INVALID' });
    const line = h.logs.lines.find((l) => l.msg === 'tunnel refused');
    expect(line).toMatchObject({ reason: 'certificate-replica' });
  }, 60_000);
});
