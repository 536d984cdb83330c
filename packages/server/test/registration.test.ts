import { createHmac, generateKeyPairSync } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_AUDIENCE, BOOTSTRAP_TOKEN_TYPE, TOKEN_REFUSED_MESSAGE } from '../src/index.js';
import { addCluster, agentKey, httpsJson, register, startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('agent registration with bootstrap tokens', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startServer();
  }, 60_000);
  afterAll(async () => h?.stop());

  /** Asserts the one generic refusal, and that the log and audit name `reason`. */
  async function expectRefused(token: unknown, reason: string, extra: Record<string, unknown> = {}): Promise<void> {
    const res = await register(h, token as string, extra);
    expect(res.status).toBe(401);
    // Exactly the generic answer, whatever the reason.
    expect(res.body).toEqual({
      error: { code: 'HSR_ERR_TOKEN_INVALID', message: TOKEN_REFUSED_MESSAGE, requestId: expect.any(String) },
    });
    const requestId = (res.body as { error: { requestId: string } }).error.requestId;
    const events = await h.server.context.store.listAuditEvents({ type: 'token.refused' });
    const event = events.find((e) => e.requestId === requestId);
    expect(event).toMatchObject({ outcome: 'failure', reason, actor: 'anonymous' });
    const logged = h.logs.lines.find(
      (l) => (l.audit as { requestId?: string; reason?: string } | undefined)?.requestId === requestId,
    );
    expect((logged?.audit as { reason?: string }).reason).toBe(reason);
  }

  /** A token with the server's claims, signed by `sign` (for forgeries). */
  async function claimsOf(name: string): Promise<Record<string, unknown>> {
    const added = await addCluster(h, name);
    return decodeJwt(added.bootstrap.token);
  }

  it('registers an agent: token + CSR give a certificate for the cluster and the CA bundle', async () => {
    const added = await addCluster(h, 'reg-ok', { labels: { env: 'test' } });
    const claims = decodeJwt(added.bootstrap.token);
    expect(claims).toMatchObject({
      cid: added.cluster.id,
      cnm: 'reg-ok',
      url: h.agentUrl,
      cah: h.server.context.ca.caHash,
      aud: BOOTSTRAP_AUDIENCE,
      iss: h.server.context.tokens.issuer,
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(3600);
    const res = await register(h, added.bootstrap.token, { clusterUID: 'uid-ok', agentVersion: '0.1.0', kubernetesVersion: 'v1.35.0' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ clusterId: added.cluster.id, clusterName: 'reg-ok', caBundle: [h.ca] });
    expect(String(res.body.certificate)).toContain('BEGIN CERTIFICATE');
    expect(new Date(String(res.body.notAfter)).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const cluster = await h.server.context.store.getCluster(added.cluster.id);
    expect(cluster).toMatchObject({ agentVersion: '0.1.0', kubernetesVersion: 'v1.35.0', clusterUid: 'uid-ok' });
    const types = (await h.server.context.store.listAuditEvents({ clusterId: added.cluster.id })).map((e) => e.type);
    expect(types).toEqual(['cluster.added', 'token.minted', 'token.used', 'certificate.issued']);
  });

  it('refuses a replayed token', async () => {
    const added = await addCluster(h, 'reg-replay');
    expect((await register(h, added.bootstrap.token)).status).toBe(200);
    await expectRefused(added.bootstrap.token, 'replayed');
  });

  it('lets exactly one of two agents racing with one token register', async () => {
    const added = await addCluster(h, 'reg-race');
    const results = await Promise.all([register(h, added.bootstrap.token), register(h, added.bootstrap.token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });

  it('refuses a forged token signed with another key', async () => {
    const claims = await claimsOf('reg-forged');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: BOOTSTRAP_TOKEN_TYPE }).sign(privateKey);
    await expectRefused(forged, 'bad-signature');
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const added = await addCluster(h, 'reg-tampered');
    const [header, , signature] = added.bootstrap.token.split('.');
    const claims = { ...decodeJwt(added.bootstrap.token), cnm: 'someone-else' };
    await expectRefused(`${header}.${b64(claims)}.${signature}`, 'bad-signature');
  });

  it('refuses an expired token', async () => {
    const added = await addCluster(h, 'reg-expired');
    const { token } = await h.server.context.tokens.mint({
      clusterId: added.cluster.id,
      clusterName: 'reg-expired',
      agentUrl: h.agentUrl,
      caHash: h.server.context.ca.caHash,
      ttlMs: 60_000,
      now: new Date(Date.now() - 3_600_000),
    });
    await expectRefused(token, 'expired');
  });

  it('refuses a token used for another cluster than it was minted for', async () => {
    const a = await claimsOf('reg-wrong-a');
    const b = await addCluster(h, 'reg-wrong-b');
    // Validly signed by the server, but its jti belongs to cluster a.
    const { token } = await h.server.context.tokens.mint({
      clusterId: b.cluster.id,
      clusterName: 'reg-wrong-b',
      agentUrl: h.agentUrl,
      caHash: h.server.context.ca.caHash,
      ttlMs: 60_000,
      jti: a.jti as string,
    });
    await expectRefused(token, 'wrong-cluster');
  });

  it('refuses a validly signed token that was never minted', async () => {
    const b = await addCluster(h, 'reg-unminted');
    const { token } = await h.server.context.tokens.mint({
      clusterId: b.cluster.id,
      clusterName: 'reg-unminted',
      agentUrl: h.agentUrl,
      caHash: h.server.context.ca.caHash,
      ttlMs: 60_000,
    });
    await expectRefused(token, 'unknown-token');
  });

  it('refuses an unsigned token (alg: none)', async () => {
    const claims = await claimsOf('reg-none');
    await expectRefused(`${b64({ alg: 'none', typ: BOOTSTRAP_TOKEN_TYPE })}.${b64(claims)}.`, 'algorithm-not-allowed');
  });

  it('refuses algorithm confusion: HS256 keyed with the public key', async () => {
    const claims = await claimsOf('reg-hs256');
    const publicPem = h.server.context.tokens.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const input = `${b64({ alg: 'HS256', typ: BOOTSTRAP_TOKEN_TYPE })}.${b64(claims)}`;
    const mac = createHmac('sha256', publicPem).update(input).digest('base64url');
    await expectRefused(`${input}.${mac}`, 'algorithm-not-allowed');
  });

  it('refuses a server-signed JWT with another audience or type', async () => {
    const claims = await claimsOf('reg-aud');
    // Signed with the server's own key, so only the claim checks can stop them.
    const { readFileSync } = await import('node:fs');
    const { createPrivateKey } = await import('node:crypto');
    const signing = createPrivateKey(readFileSync(`${h.dataDir}/token-signing-key.pem`, 'utf8'));
    const wrongAud = await new SignJWT({ ...claims, aud: 'kubernetes' })
      .setProtectedHeader({ alg: 'ES256', typ: BOOTSTRAP_TOKEN_TYPE })
      .sign(signing);
    await expectRefused(wrongAud, 'wrong-audience');
    const wrongTyp = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT' }).sign(signing);
    await expectRefused(wrongTyp, 'wrong-type');
  });

  it('refuses garbage and missing tokens with the same message', async () => {
    await expectRefused('not-a-jwt', 'malformed');
    await expectRefused(undefined, 'malformed');
  });

  it('refuses a token of a deregistered cluster', async () => {
    const added = await addCluster(h, 'reg-removed');
    const rm = await httpsJson(`${h.publicUrl}/api/v1/clusters/reg-removed`, { method: 'DELETE', ca: h.ca, token: h.adminToken });
    expect(rm.status).toBe(200);
    await expectRefused(added.bootstrap.token, 'cluster-not-active');
  });

  it('refuses a re-registration from a different Kubernetes cluster UID', async () => {
    const added = await addCluster(h, 'reg-uid');
    expect((await register(h, added.bootstrap.token, { clusterUID: 'uid-1' })).status).toBe(200);
    const again = await httpsJson<{ bootstrap: { token: string } }>(`${h.publicUrl}/api/v1/clusters/reg-uid/tokens`, {
      method: 'POST',
      ca: h.ca,
      token: h.adminToken,
    });
    await expectRefused(again.body.bootstrap.token, 'cluster-uid-mismatch', { clusterUID: 'uid-2' });
  });

  it('does not consume the token when the CSR is invalid', async () => {
    const added = await addCluster(h, 'reg-badcsr');
    const bad = await httpsJson(`${h.agentUrl}/agent/v1/register`, {
      method: 'POST',
      ca: h.ca,
      body: { token: added.bootstrap.token, csr: 'garbage' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'HSR_ERR_CSR_INVALID' } });
    const good = await httpsJson(`${h.agentUrl}/agent/v1/register`, {
      method: 'POST',
      ca: h.ca,
      body: { token: added.bootstrap.token, csr: agentKey().csrPem },
    });
    expect(good.status).toBe(200);
  });

  it('never writes a bootstrap token or the admin token into the log', async () => {
    // A registration and a refusal of this test's own, so the log has
    // something to leak; the checks below pass on an empty log too.
    const added = await addCluster(h, 'reg-log');
    expect((await register(h, added.bootstrap.token)).status).toBe(200);
    await expectRefused(added.bootstrap.token, 'replayed');
    const tokenShape = /eyJhbGciOiJFUzI1NiIsInR5cCI6Imhhd3Nlci1ib290c3RyYXArand0In0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
    expect(added.bootstrap.token).toMatch(tokenShape);
    const text = h.logs.text();
    expect(text).toContain('reg-log');
    expect(h.logs.lines.some((l) => (l.audit as { type?: string } | undefined)?.type === 'token.refused')).toBe(true);
    expect(text).not.toContain(h.adminToken);
    expect(text).not.toMatch(tokenShape);
    expect(text).not.toContain('BEGIN CERTIFICATE REQUEST');
  });
});
