import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary } from '../controlplane/binaries.js';
import { OidcProvider } from '../support/oidc-provider.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl, uniqueName } from '../support/kube.js';

const AUDIENCE = 'hawser';

/**
 * Operators who sign in with OIDC, end to end: ID tokens from a loopback
 * provider (the one stand-in: no identity provider can be built here), the
 * real server verifying them against the provider's JWKS, a real agent as
 * its chart's ServiceAccount, the real API server deciding, and real kubectl
 * with the kubeconfigs `hawser kubeconfig` writes: with a token, and with
 * its exec entry (`kubectl oidc-login get-token ...`), which kubectl runs
 * through its plugin mechanism. kubelogin is not in the module proxy this
 * machine reaches, so the plugin on PATH is a small script that speaks the
 * same ExecCredential protocol and gets its token from the provider's token
 * endpoint; what is proven is kubectl running the entry Hawser wrote, not
 * kubelogin itself.
 */
describe('operators signed in with OIDC', () => {
  let idp: OidcProvider;
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let cluster: string;
  let work: string;

  beforeAll(async () => {
    idp = await OidcProvider.start({ audience: AUDIENCE, users: { 'alice@example.com': ['sre'], 'bob@example.com': ['contractors'] } });
    server = await startServer({ args: ['--oidc-issuer', idp.issuer, '--oidc-audience', AUDIENCE, '--tier', 'read=sre'] });
    ns = await createNamespace();
    await adminCore().createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'settings' }, data: { a: 'b' } } });
    cluster = uniqueName('oidc');
    const { token } = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({ namespace: agentNs.name, server, token, values: { set: ['tierBindings.enabled=true'] } });
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    work = await mkdtemp(join(tmpdir(), 'hawser-oidc-'));
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
    await idp?.close();
  });

  async function tokenKubeconfig(token: string): Promise<string> {
    const path = join(work, `${uniqueName('token')}.kubeconfig`);
    const res = await server.cli(['kubeconfig', cluster, '--token', token, '--output', path]);
    expect(res.code, res.stderr).toBe(0);
    return path;
  }

  interface WhoAmI { status: { userInfo: { username: string; groups: string[]; extra?: Record<string, string[]> } } }

  it('an ID token is the operator: the cluster sees hawser:<email> in the tier of their IdP group', async () => {
    const kubeconfig = await tokenKubeconfig(await idp.idToken({ email: 'alice@example.com', groups: ['sre'] }, AUDIENCE));
    const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig });
    expect(who.code, who.stderr).toBe(0);
    const user = (JSON.parse(who.stdout) as WhoAmI).status.userInfo;
    expect(user.username).toBe('hawser:alice@example.com');
    expect(user.groups).toContain('hawser:tier:read');
    expect(Object.keys(user.extra ?? {}).some((k) => k.includes('request-id'))).toBe(true);

    const get = await kubectl(['get', 'configmap', 'settings', '-n', ns.name, '-o', 'jsonpath={.data.a}'], { kubeconfig });
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('b');
    // The read tier maps to view: the API server itself refuses secrets.
    const secrets = await kubectl(['get', 'secrets', '-n', ns.name], { kubeconfig });
    expect(secrets.code).not.toBe(0);
    expect(secrets.stderr).toContain('cannot list resource "secrets"');
    expect(secrets.stderr).toContain('hawser:alice@example.com');
  });

  it('a user whose groups map to no tier is refused by Hawser, not relayed', async () => {
    const kubeconfig = await tokenKubeconfig(await idp.idToken({ email: 'bob@example.com', groups: ['contractors'] }, AUDIENCE));
    const res = await kubectl(['get', 'configmaps', '-n', ns.name], { kubeconfig });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/forbidden/i);
    expect(res.stderr).toContain('tier');
  });

  it('forged, foreign and expired tokens get 401 and kubectl says so', async () => {
    const bad = [
      await idp.idToken({ email: 'alice@example.com', groups: ['sre'] }, AUDIENCE, { unpublishedKey: true }),
      await idp.idToken({ email: 'alice@example.com', groups: ['sre'] }, 'some-other-client'),
      await idp.idToken({ email: 'alice@example.com', groups: ['sre'] }, AUDIENCE, { expiresIn: '-10m' }),
    ];
    for (const token of bad) {
      const res = await kubectl(['get', 'configmaps', '-n', ns.name], { kubeconfig: await tokenKubeconfig(token) });
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/must be logged in|Unauthorized/);
    }
  });

  it('follows a key rotation at the provider: an unseen key id refetches the key set, at most every 30 s', async () => {
    await idp.rotate();
    const kubeconfig = await tokenKubeconfig(await idp.idToken({ email: 'alice@example.com', groups: ['sre'] }, AUDIENCE));
    const get = () => kubectl(['get', 'configmap', 'settings', '-n', ns.name, '-o', 'name'], { kubeconfig });
    const fetchesBefore = idp.jwksFetches.length;
    const lastFetch = idp.jwksFetches.at(-1) ?? 0;
    // Within 30 s of the last fetch the server does not refetch, so a flood
    // of made-up key ids cannot become a flood of fetches; the new key is
    // refused until the cooldown is over.
    const early = await get();
    if (Date.now() - lastFetch < 25_000) {
      expect(early.code).not.toBe(0);
      expect(early.stderr).toMatch(/must be logged in|Unauthorized/);
    }
    let attempts = 1;
    const res = await eventually(async () => {
      attempts++;
      const r = await get();
      if (r.code !== 0) throw new Error(r.stderr);
      return r;
    }, 45_000, 2_000);
    expect(res.stdout.trim()).toBe('configmap/settings');
    // Many requests with the unseen key id, one fetch of the key set.
    expect(attempts).toBeGreaterThan(1);
    expect(idp.jwksFetches.length - fetchesBefore).toBe(1);
  });

  it('kubectl runs the exec entry of an OIDC kubeconfig and relays as the signed-in user', async () => {
    const kubeconfig = join(work, 'exec.kubeconfig');
    const written = await server.cli(['kubeconfig', cluster, '--oidc-issuer', idp.issuer, '--oidc-client-id', AUDIENCE, '--output', kubeconfig]);
    expect(written.code, written.stderr).toBe(0);
    expect(await readFile(kubeconfig, 'utf8')).toContain('oidc-login');

    // kubectl finds `kubectl oidc-login` as the executable kubectl-oidc_login on PATH.
    const plugins = join(work, 'plugins');
    await mkdir(plugins, { recursive: true });
    const plugin = join(plugins, 'kubectl-oidc_login');
    await writeFile(plugin, `#!${process.execPath}
// Stand-in for kubelogin: kubectl oidc-login get-token --oidc-issuer-url=U --oidc-client-id=C
const arg = (name) => process.argv.find((a) => a.startsWith('--' + name + '='))?.slice(name.length + 3);
if (process.argv[2] !== 'get-token') { console.error('unexpected subcommand ' + process.argv[2]); process.exit(2); }
const issuer = arg('oidc-issuer-url');
const body = new URLSearchParams({ grant_type: 'password', client_id: arg('oidc-client-id'), username: process.env.HAWSER_TEST_OIDC_USER, password: 'x', scope: 'openid' });
const res = await fetch(issuer + '/token', { method: 'POST', body });
if (!res.ok) { console.error('token endpoint said ' + res.status); process.exit(1); }
const { id_token } = await res.json();
process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: id_token } }));
`);
    await chmod(plugin, 0o755);
    const env = { PATH: `${plugins}:${dirname(await binary('kubectl'))}:${process.env.PATH ?? ''}`, HAWSER_TEST_OIDC_USER: 'alice@example.com' };
    const before = idp.tokenRequests.length;
    const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig, env });
    expect(who.code, who.stderr).toBe(0);
    expect((JSON.parse(who.stdout) as WhoAmI).status.userInfo.username).toBe('hawser:alice@example.com');
    // The plugin got the issuer and client id from the entry Hawser wrote.
    expect(idp.tokenRequests.slice(before)).toContainEqual({ grantType: 'password', clientId: AUDIENCE, username: 'alice@example.com' });
  });
});
