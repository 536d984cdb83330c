import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { applyYaml, createNamespace, kubectl, kubeRequest, serviceAccountToken, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

interface Answer {
  status: number;
  body: { kind?: string; status?: string; code?: number; error?: { code?: string; message?: string } };
}

/**
 * Issue 20, joining without a secret: the real server, the real control
 * plane's service-account issuer (keys from the API server's own discovery
 * endpoints, or copied into a static JWKS), tokens minted by TokenRequest
 * (`kubectl create token --audience`), and the real agent from the chart.
 */
describe.skipIf(testCluster().external)('joining with a projected ServiceAccount token', () => {
  let server: TestServer;
  let files: string;
  const cleanup: (() => Promise<unknown>)[] = [];
  const discoveryBinding = uniqueName('hawser-e2e-issuer-discovery');
  const testKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const testKid = 'hawser-e2e';

  async function cli(args: string[]): Promise<Record<string, unknown>> {
    const res = await server.cli([...args, '-o', 'json']);
    if (res.code !== 0) throw new Error(`hawser ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return JSON.parse(res.stdout) as Record<string, unknown>;
  }

  async function mint(namespace: string, serviceAccount: string, audience: string): Promise<string> {
    const res = await kubectl(['create', 'token', serviceAccount, '-n', namespace, '--audience', audience, '--duration', '10m']);
    if (res.code !== 0) throw new Error(`kubectl create token failed: ${res.stderr}`);
    return res.stdout.trim();
  }

  /** What an agent sends to register, with whatever token the case needs. */
  function register(cluster: string, token: string): Promise<Answer> {
    const url = new URL('/agent/v1/register', server.agentUrl);
    const body = JSON.stringify({ serviceAccountToken: token, cluster, csr: 'not checked before the token' });
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  function testToken(claims: { iss: string; sub: string; aud: string; exp: number }): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: testKid })
      .setIssuer(claims.iss)
      .setSubject(claims.sub)
      .setAudience(claims.aud)
      .setIssuedAt(claims.exp - 600)
      .setExpirationTime(claims.exp)
      .sign(testKey.privateKey);
  }

  async function installJoining(name: string, namespace: string): Promise<TestAgent> {
    // The pod's projected token, as the kubelet would write it: audience = this server's agent URL.
    const tokenFile = join(files, `${name}.token`);
    // The chart creates the ServiceAccount too (server-side apply adopts it); the token is needed before the agent starts.
    await serviceAccountToken(namespace, 'hawser-agent');
    await writeFile(tokenFile, await mint(namespace, 'hawser-agent', server.agentUrl), { mode: 0o600 });
    const agent = await deployAgent({
      namespace,
      server,
      token: '',
      values: { set: ['join.method=kubernetes', `join.cluster=${name}`, `server.caHash=${server.caHash}`] },
      env: { HAWSER_JOIN_TOKEN_FILE: tokenFile },
    });
    cleanup.push(() => agent.remove());
    return agent;
  }

  beforeAll(async () => {
    files = await mkdtemp(join(tmpdir(), 'hawser-join-'));
    // Short certificates: the expired-certificate case below waits one out.
    server = await startServer({ args: ['--certificate-ttl', '30s'] });
    // Discovery is open to ServiceAccounts by default; the server asks anonymously.
    await applyYaml(JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: discoveryBinding },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
    }));
    cleanup.push(() => kubectl(['delete', 'clusterrolebinding', discoveryBinding, '--ignore-not-found']));
    await writeFile(join(files, 'apiserver-ca.crt'), testCluster().ca);
  }, 120_000);
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
    await server?.remove();
    await rm(files, { recursive: true, force: true });
  });

  it('joins by the issuer\'s discovery endpoints, re-joins by itself after its certificate expired, and refuses other audiences, ServiceAccounts and issuers', async () => {
    const ns = await createNamespace();
    cleanup.push(() => ns.remove());
    const name = uniqueName('join');
    const added = await cli([
      'cluster', 'add', name, '--join', 'kubernetes', '--issuer', ISSUER,
      '--discovery-url', testCluster().server, '--discovery-ca-file', join(files, 'apiserver-ca.crt'),
      '--service-account', `${ns.name}:hawser-agent`,
    ]);
    expect(added.bootstrap).toBeUndefined();
    expect(added.join).toMatchObject({ issuer: ISSUER, serviceAccount: `system:serviceaccount:${ns.name}:hawser-agent`, audience: server.agentUrl, keys: 'discovery' });
    expect(String((added.join as { helm: string }).helm)).toContain('join.method=kubernetes');

    const agent = await installJoining(name, ns.name);
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 60_000);

    // Away longer than its certificate lives: back, it joins again with no one's help.
    await agent.stop();
    await new Promise((r) => setTimeout(r, 31_000));
    const back = await agent.restart();
    await back.process.waitForLog((e) => String(e.msg).includes('joining again with the ServiceAccount token'), 30_000);
    await eventually(async () => expect((await agentReadiness(back)).body.status).toBe('connected'), 60_000);
    await back.stop();

    // Refusals: 401 Status with the stable code, each audited with its reason.
    const otherAudience = await register(name, await mint(ns.name, 'hawser-agent', 'https://somewhere-else.example'));
    await serviceAccountToken(ns.name, 'not-the-agent');
    const otherAccount = await register(name, await mint(ns.name, 'not-the-agent', server.agentUrl));
    const otherIssuer = await register(name, await testToken({ iss: ISSUER, sub: `system:serviceaccount:${ns.name}:hawser-agent`, aud: server.agentUrl, exp: Math.floor(Date.now() / 1000) + 600 }));
    for (const answer of [otherAudience, otherAccount, otherIssuer]) {
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: { code: 'HSR_ERR_JOIN_TOKEN_INVALID' } });
    }
    expect(otherAudience.body.error?.message).toContain('wrong-audience');
    expect(otherAccount.body.error?.message).toContain('wrong-service-account');
    expect(otherIssuer.body.error?.message).toContain('bad-signature');
    const audit = (await cli(['audit', '--cluster', name, '--type', 'join.refused'])).events as { reason: string }[];
    expect(audit.map((e) => e.reason).sort()).toEqual(['bad-signature', 'wrong-audience', 'wrong-service-account']);
  }, 300_000);

  it('joins with a static JWKS copied from the cluster (--jwks-file); refuses a token past its expiry and one from another issuer', async () => {
    const ns = await createNamespace();
    cleanup.push(() => ns.remove());
    // The keys as an operator would copy them for a server that cannot reach the issuer.
    const jwks = await kubeRequest('/openid/v1/jwks', { token: await serviceAccountToken(ns.name, 'reader'), headers: { accept: 'application/jwk-set+json' } });
    expect(jwks.status).toBe(200);
    await writeFile(join(files, 'cluster.jwks'), jwks.body);
    const name = uniqueName('join-static');
    const added = await cli(['cluster', 'add', name, '--join', 'kubernetes', '--issuer', ISSUER, '--jwks-file', join(files, 'cluster.jwks'), '--service-account', `${ns.name}:hawser-agent`]);
    expect(added.join).toMatchObject({ keys: 'static' });
    const agent = await installJoining(name, ns.name);
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 60_000);
    await agent.stop();

    // A TokenRequest token lives at least 10 minutes, so expiry and a foreign
    // issuer are shown with a cluster whose JWKS is a key of this test.
    await writeFile(join(files, 'test.jwks'), JSON.stringify({ keys: [{ ...(await exportJWK(testKey.publicKey)), kid: testKid, use: 'sig', alg: 'ES256' }] }));
    const own = uniqueName('join-test-issuer');
    await cli(['cluster', 'add', own, '--join', 'kubernetes', '--issuer', 'https://issuer.hawser.test', '--jwks-file', join(files, 'test.jwks')]);
    const sub = 'system:serviceaccount:hawser-system:hawser-agent';
    const now = Math.floor(Date.now() / 1000);
    const expired = await register(own, await testToken({ iss: 'https://issuer.hawser.test', sub, aud: server.agentUrl, exp: now - 120 }));
    const foreign = await register(own, await testToken({ iss: 'https://other.hawser.test', sub, aud: server.agentUrl, exp: now + 600 }));
    const unknown = await register(uniqueName('no-such-cluster'), await testToken({ iss: 'https://issuer.hawser.test', sub, aud: server.agentUrl, exp: now + 600 }));
    expect([expired.status, foreign.status, unknown.status]).toEqual([401, 401, 401]);
    expect(expired.body.error?.message).toContain('expired');
    expect(foreign.body.error?.message).toContain('wrong-issuer');
    expect(unknown.body.error?.message).toContain('cluster-does-not-join-with-kubernetes');
    const audit = (await cli(['audit', '--cluster', own, '--type', 'join.refused'])).events as { reason: string }[];
    expect(audit.map((e) => e.reason).sort()).toEqual(['expired', 'wrong-issuer']);
  }, 240_000);
});
