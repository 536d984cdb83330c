import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildKubeconfig, namePrefix } from '../src/cli/kubeconfig.js';
import { runCli } from './support/cli-run.js';
import { httpsJson, startServer, tempDir } from './support/harness.js';
import type { Harness } from './support/harness.js';

/** The kubectl the e2e suite builds (cached), else the one on PATH. */
function kubectlBinary(): string {
  const cache = join(homedir(), '.cache', 'hawser');
  const built = existsSync(cache)
    ? readdirSync(cache).filter((d) => d.startsWith('kubernetes-')).map((d) => join(cache, d, 'bin', 'kubectl')).find((p) => existsSync(p))
    : undefined;
  return built ?? 'kubectl';
}

interface KubeconfigView {
  'current-context': string;
  clusters: { name: string; cluster: { server: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  users: { name: string; user: { token?: string } }[];
}

/** What real kubectl reads from the file. */
function kubectlView(file: string): KubeconfigView {
  return JSON.parse(execFileSync(kubectlBinary(), ['config', 'view', '--raw', '-o', 'json', '--kubeconfig', file], { encoding: 'utf8' })) as KubeconfigView;
}

const OTHER = `apiVersion: v1
kind: Config
preferences: {}
clusters:
- name: kind-dev
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: kind-dev
  context:
    cluster: kind-dev
    user: kind-dev
users:
- name: kind-dev
  user:
    token: other-token
current-context: kind-dev
`;

describe('kubeconfig entries', () => {
  it('have one context per cluster on the relay path, trusting the Hawser CA, named after the server', () => {
    const text = buildKubeconfig({
      publicUrl: 'https://hawser.example.com/',
      caBundle: ['-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n'],
      clusters: ['prod-eu', 'dev'],
      credential: { kind: 'token', token: 'hwt_x' },
    });
    expect(namePrefix('https://hawser.example.com/')).toBe('hawser-hawser.example.com/');
    expect(namePrefix('https://127.0.0.1:8443')).toBe('hawser-127.0.0.1:8443/');
    expect(text).toContain('server: "https://hawser.example.com/clusters/prod-eu"');
    expect(text).toContain('server: "https://hawser.example.com/clusters/dev"');
    expect(text).toContain(`certificate-authority-data: "${Buffer.from('-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n').toString('base64')}"`);
    expect(text).toContain('token: "hwt_x"');
    expect(text).toContain('current-context: "hawser-hawser.example.com/prod-eu"');
  });

  it('use the kubectl oidc-login exec plugin for OIDC users', () => {
    const text = buildKubeconfig({ publicUrl: 'https://h', caBundle: [], clusters: ['a'], credential: { kind: 'oidc', issuer: 'https://idp', clientId: 'hawser' } });
    expect(text).toContain('- "oidc-login"');
    expect(text).toContain('"--oidc-issuer-url=https://idp"');
    expect(text).not.toContain('token:');
  });
});

describe('hawser kubeconfig and hawser login', () => {
  let h: Harness;
  let global: string[];
  let dir: { path: string; remove(): void };
  let prefix: string;
  let tokenFile: string;
  let token: string;

  beforeAll(async () => {
    h = await startServer({ tierGroups: { read: ['devs'] } });
    global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
    dir = tempDir();
    prefix = namePrefix(h.publicUrl);
    for (const name of ['alpha', 'beta']) expect((await runCli(['cluster', 'add', name, ...global])).code).toBe(0);
    const created = await runCli(['token', 'create', '--user', 'alice', '--group', 'devs', '-o', 'json', ...global]);
    token = (JSON.parse(created.stdout) as { token: string }).token;
    tokenFile = join(dir.path, 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    dir?.remove();
  });

  it('merges into an existing kubeconfig: other entries and current-context stay, ours are replaced, not doubled', async () => {
    const file = join(dir.path, 'merge.yaml');
    writeFileSync(file, OTHER);
    for (let i = 0; i < 2; i++) {
      const out = await runCli(['kubeconfig', '--token-file', tokenFile, '--kubeconfig', file, ...global]);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toBe(`merged 2 context(s) into ${file}: ${prefix}alpha, ${prefix}beta\n`);
    }
    const view = kubectlView(file);
    expect(view['current-context']).toBe('kind-dev');
    expect(view.contexts.map((c) => c.name).sort()).toEqual([`${prefix}alpha`, `${prefix}beta`, 'kind-dev']);
    expect(view.clusters.find((c) => c.name === `${prefix}alpha`)?.cluster.server).toBe(`${h.publicUrl}/clusters/alpha`);
    expect(view.users.map((u) => u.name).sort()).toEqual([prefix.slice(0, -1), 'kind-dev']);
    expect(view.users.find((u) => u.name === 'kind-dev')?.user.token).toBe('other-token');
    expect(view.users.find((u) => u.name !== 'kind-dev')?.user.token).toBe(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // --use switches current-context to one of ours.
    await runCli(['kubeconfig', 'beta', '--token-file', tokenFile, '--kubeconfig', file, '--use', 'beta', ...global]);
    expect(kubectlView(file)['current-context']).toBe(`${prefix}beta`);
  });

  it('reads the token from standard input and from HAWSER_TOKEN; --token works but warns', async () => {
    const stdin = await runCli(['kubeconfig', 'alpha', '--token-file', '-', ...global], {}, `${token}\n`);
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toContain(`token: "${token}"`);
    const env = await runCli(['kubeconfig', 'alpha', ...global], { HAWSER_TOKEN: token });
    expect(env.stdout).toContain(`token: "${token}"`);
    const flag = await runCli(['kubeconfig', 'alpha', '--token', token, ...global]);
    expect(flag.code).toBe(0);
    expect(flag.stderr).toMatch(/^hawser: warning: --token puts the token in ps output and shell history/);
    const none = await runCli(['kubeconfig', 'alpha', ...global]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('needs a token (--token-file FILE, --token-file -, HAWSER_TOKEN)');
  });

  it('--context-prefix names the entries P<NAME> (the e2e suites keep cluster-named contexts with an empty one)', async () => {
    const file = join(dir.path, 'plain.yaml');
    const out = await runCli(['kubeconfig', '--token-file', tokenFile, '--kubeconfig', file, '--context-prefix', '', ...global]);
    expect(out.code, out.stderr).toBe(0);
    const view = kubectlView(file);
    expect(view.contexts.map((c) => c.name).sort()).toEqual(['alpha', 'beta']);
    expect(view['current-context']).toBe('alpha');
    expect(view.users.map((u) => u.name)).toEqual(['hawser']);
  });

  it('refuses to merge into a file that is not a kubeconfig, and leaves it as it was', async () => {
    const file = join(dir.path, 'broken.yaml');
    writeFileSync(file, 'clusters: {not: a list}\n');
    const out = await runCli(['kubeconfig', '--token-file', tokenFile, '--kubeconfig', file, ...global]);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(`hawser: ${file} is no kubeconfig Hawser can merge into: clusters is not a list of named entries; nothing was written (HSR_ERR_KUBECONFIG_INVALID)\n`);
    expect(readFileSync(file, 'utf8')).toBe('clusters: {not: a list}\n');
  });

  it('hawser login: an operator gets contexts for the clusters open to them with their own token, no admin token', async () => {
    const home = tempDir();
    try {
      // No admin token anywhere: a data dir with only the CA.
      const file = join(home.path, '.kube', 'config');
      const ca = join(home.path, 'ca.crt');
      writeFileSync(ca, h.ca);
      const out = await runCli(['login', '--server', h.publicUrl, '--token-file', tokenFile, '--ca-file', ca, '--data-dir', home.path], { HOME: home.path });
      expect(out.stderr).toBe(`merged 2 context(s) into ${file}: ${prefix}alpha, ${prefix}beta\n`);
      expect(out.code).toBe(0);
      expect(out.stdout).toBe(`Signed in to ${h.publicUrl} as alice (tier read); 2 cluster(s) in ${file}.\n`);
      const view = kubectlView(file);
      expect(view['current-context']).toBe(`${prefix}alpha`);
      expect(view.users[0]?.user.token).toBe(token);
      // KUBECONFIG names the file, as for kubectl.
      const other = join(home.path, 'other.yaml');
      writeFileSync(other, OTHER);
      await runCli(['login', '--server', h.publicUrl, '--token-file', '-', '--ca-file', ca], { HOME: home.path, KUBECONFIG: `${other}:${file}` }, token);
      expect(kubectlView(other).contexts).toHaveLength(3);
    } finally {
      home.remove();
    }
  });

  it('the operator endpoint takes operator credentials only: no admin token, no token outside every tier', async () => {
    const url = `${h.publicUrl}/api/v1/operator/clusters`;
    const ok = await httpsJson<{ user: string; clusters: { name: string }[] }>(url, { ca: h.ca, token });
    expect(ok.status).toBe(200);
    expect(ok.body.clusters.map((c) => c.name)).toEqual(['alpha', 'beta']);
    const admin = await httpsJson(url, { ca: h.ca, token: h.adminToken });
    expect(admin.status).toBe(401);
    expect(JSON.stringify(admin.body)).toContain('HSR_ERR_UNAUTHORIZED');
    const outsider = JSON.parse((await runCli(['token', 'create', '--user', 'bob', '--group', 'nobody', '-o', 'json', ...global])).stdout) as { token: string };
    const refused = await httpsJson(url, { ca: h.ca, token: outsider.token });
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).toContain('is in no group that maps to a Hawser tier');
    const login = await runCli(['login', '--server', h.publicUrl, '--ca-file', join(h.dataDir, 'ca.crt'), '--kubeconfig', join(dir.path, 'x')], { HAWSER_TOKEN: outsider.token });
    expect(login.code).toBe(1);
    expect(login.stderr).toMatch(/no cluster is open to you: .*\(HSR_ERR_RELAY_FORBIDDEN\)/);
  });
});
