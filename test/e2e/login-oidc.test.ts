import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium, type Browser } from 'playwright-core';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, SERVER_CLI, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, createNamespace, kubectl, uniqueName } from '../support/kube.js';
import { OidcIssuer } from '../support/oidc-issuer.js';
import { testCluster } from '../support/test-cluster.js';

/** Debian's Chromium (scripts/system-deps.sh installs it); playwright-core never downloads a browser. */
const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
/** The workspace's bin link, as `npm install` leaves it: what kubectl runs for tokens. */
const HAWSER_BIN = resolve(import.meta.dirname, '../../node_modules/.bin/hawser');
const CLIENT_ID = 'hawser-cli';

interface Kubeconfig {
  users: { name: string; user: { exec?: { apiVersion: string; command: string; args: string[] }; token?: string } }[];
  contexts: { name: string }[];
}

/**
 * `hawser login --oidc` as an operator runs it: the real CLI process, a real
 * OpenID provider (npm oidc-provider, a native public client with a
 * loopback redirect), its sign-in and consent pages filled in by headless
 * Chromium, then real kubectl running the exec credential plugin the login
 * wrote (`hawser oidc-token`) against the real server, agent and API server.
 */
describe.skipIf(testCluster().external)('hawser login --oidc', () => {
  let issuer: OidcIssuer;
  let server: TestServer;
  let agent: TestAgent;
  let browser: Browser;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let work: string;
  const cluster = uniqueName('login');

  beforeAll(async () => {
    issuer = await OidcIssuer.start();
    issuer.client({ clientId: CLIENT_ID, redirectUri: 'http://127.0.0.1/callback', native: true, users: { dana: { email: 'dana@example.com', groups: ['idp-read'] } } });
    server = await startServer({ args: ['--tier', 'read=idp-read', '--oidc-issuer', issuer.issuer, '--oidc-audience', CLIENT_ID] });
    const added = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({ namespace: agentNs.name, server, token: added.token, values: { set: ['tierBindings.enabled=true'] } });
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    ns = await createNamespace();
    await adminCore().createNamespacedPod({ namespace: ns.name, body: { metadata: { name: 'signed-in' }, spec: { containers: [{ name: 'c', image: 'registry.invalid/none:1' }] } } });
    work = await mkdtemp(join(tmpdir(), 'hawser-login-oidc-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await agent?.remove();
    await ns?.remove();
    await server?.remove();
    await issuer?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('signs in through the browser, writes an exec credential user, and kubectl lists pods as that user; an expired ID token is refreshed', async () => {
    const kubeconfig = join(work, 'config');
    const cacheDir = join(work, 'cache');
    const login = spawn(
      process.execPath,
      [SERVER_CLI, 'login', '--oidc', '--no-browser', '--server', server.publicUrl, '--data-dir', server.dataDir, '--kubeconfig', kubeconfig, '--cache-dir', cacheDir, '--exec-command', HAWSER_BIN, '--timeout', '2m'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    login.stdout.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((done) => login.on('close', done));
    // The URL the operator would open: the provider's authorization endpoint.
    const url = await new Promise<string>((found, failed) => {
      const lines = createInterface({ input: login.stderr });
      lines.on('line', (line) => {
        stderr += `${line}\n`;
        if (line.trim().startsWith(`${issuer.issuer}/`)) found(line.trim());
      });
      void exited.then(() => failed(new Error(`hawser login exited before printing a URL:\n${stderr}`)));
    });
    expect(new URL(url).searchParams.get('code_challenge_method')).toBe('S256');

    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(url);
      // The provider's own login and consent pages, filled in as a person would.
      await page.fill('input[name=login]', 'dana');
      await page.fill('input[name=password]', 'any');
      await page.click('button[type=submit]');
      await page.click('button[type=submit]');
      await page.waitForURL((u) => u.hostname === '127.0.0.1' && u.pathname === '/callback');
      expect(await page.textContent('h1')).toBe('Signed in');
    } finally {
      await context.close();
    }
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain('as dana@example.com');

    const config = parse(await readFile(kubeconfig, 'utf8')) as Kubeconfig;
    expect(config.users).toHaveLength(1);
    const exec = config.users[0]!.user.exec!;
    expect(config.users[0]!.user.token).toBeUndefined();
    expect(exec).toMatchObject({ apiVersion: 'client.authentication.k8s.io/v1', command: HAWSER_BIN, args: ['oidc-token', `--issuer=${issuer.issuer}`, `--client-id=${CLIENT_ID}`, `--cache-dir=${cacheDir}`] });
    const [cacheFile] = (await readdir(cacheDir)).filter((f) => f.endsWith('.json'));
    expect(((await stat(join(cacheDir, cacheFile!))).mode & 0o777).toString(8)).toBe('600');
    const cached = JSON.parse(await readFile(join(cacheDir, cacheFile!), 'utf8')) as { idToken: string; refreshToken?: string };
    expect(cached.refreshToken).toBeTruthy();

    const context0 = config.contexts[0]!.name;
    const pods = await kubectl(['--context', context0, 'get', 'pods', '-n', ns.name, '-o', 'name'], { kubeconfig });
    expect(pods.code, pods.stderr).toBe(0);
    expect(pods.stdout.trim()).toBe('pod/signed-in');
    const who = await kubectl(['--context', context0, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig });
    expect(who.stdout).toBe('hawser:dana@example.com');

    // The ID token has run out: the plugin refreshes it with the refresh token
    // (the provider rotates that), and kubectl never notices.
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const expired = `${part({ alg: 'none' })}.${part({ iss: issuer.issuer, aud: CLIENT_ID, exp: Math.floor(Date.now() / 1000) - 10 })}.`;
    await writeFile(join(cacheDir, cacheFile!), JSON.stringify({ ...cached, idToken: expired }), { mode: 0o600 });
    const again = await kubectl(['--context', context0, 'get', 'pods', '-n', ns.name, '-o', 'name'], { kubeconfig });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('pod/signed-in');
    const refreshed = JSON.parse(await readFile(join(cacheDir, cacheFile!), 'utf8')) as { idToken: string; refreshToken?: string };
    expect(refreshed.idToken).not.toBe(expired);
    expect(refreshed.idToken).not.toBe(cached.idToken);
    expect(refreshed.refreshToken).toBeTruthy();

    // Without a sign-in, kubectl shows the plugin's sentence and code.
    await rm(cacheDir, { recursive: true, force: true });
    const signedOut = await kubectl(['--context', context0, 'get', 'pods', '-n', ns.name], { kubeconfig });
    expect(signedOut.code).not.toBe(0);
    expect(signedOut.stderr).toContain('HSR_ERR_OIDC_LOGIN_REQUIRED');
  }, 180_000);
});
