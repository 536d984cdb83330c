import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentReadiness, clusterWithOperator, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

/** Debian's Chromium (scripts/system-deps.sh installs it); playwright-core never downloads a browser. */
const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of each page, kept as test artifacts (git ignores the folder). */
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-results', 'console');

/**
 * The console's admin pages, command palette and session end, in a real
 * browser (headless Chromium through playwright-core) against the real
 * server, a real agent and the real API server. Two operators: ana (IdP
 * group idp-admin -> tier admin) and carol (idp-read -> tier read).
 */
describe.skipIf(testCluster().external)('the console admin pages, palette and session end in a real browser', () => {
  let server: TestServer;
  let agent: TestAgent;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  let adminToken: string;
  const cluster = uniqueName('admin-console');
  const added = uniqueName('added');

  async function newContext(): Promise<BrowserContext> {
    return browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1300, height: 850 } });
  }

  async function signIn(p: Page, token: string): Promise<void> {
    await p.goto(server.publicUrl);
    await p.fill('input[name=token]', token);
    await p.click('button[type=submit]');
    await p.waitForSelector('[data-testid=who]');
  }

  async function operatorToken(user: string, group: string): Promise<{ token: string; id: string }> {
    const created = await server.cli(['token', 'create', '--user', user, '--group', group, '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    return JSON.parse(created.stdout) as { token: string; id: string };
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ args: ['--tier', 'read=idp-read', '--tier', 'admin=idp-admin'] });
    ({ agent, token: adminToken } = await clusterWithOperator(server, cluster, { user: 'ana', group: 'idp-admin' }));
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 60_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    admin = await newContext();
    page = await admin.newPage();
    await signIn(page, adminToken);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await agent?.remove();
    await server?.remove();
  });

  it('an admin registers a cluster and sees the helm line with a copy button', async () => {
    await page.click('[data-testid=admin-link]');
    await page.waitForURL((u) => u.pathname === '/admin');
    await page.fill('[data-testid=register-form] input[name=name]', added);
    await page.fill('[data-testid=register-form] input[name=labels]', 'env=prod, team=payments');
    await page.fill('[data-testid=register-form] input[name=ttl]', '30m');
    await page.click('[data-testid=register-form] button[type=submit]');
    const helm = await page.waitForSelector('[data-testid=helm-line]');
    expect(await helm.textContent()).toMatch(/^helm install hawser-agent .*bootstrap\.token='[^']+'/);
    expect(await page.isVisible('[data-testid=copy-helm]')).toBe(true);
    await page.waitForSelector(`[data-testid=admin-clusters] tr[data-cluster="${added}"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'admin-clusters.png'), fullPage: true });
  });

  it('deregistering needs the name typed again', async () => {
    const row = `[data-testid=admin-clusters] tr[data-cluster="${added}"]`;
    await page.click(`${row} >> text=Deregister…`);
    const confirm = page.locator(`${row} button.danger`);
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill(`${row} input`, added.slice(0, -1));
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill(`${row} input`, added);
    await confirm.click();
    await expect.poll(() => page.textContent('[data-testid=admin-done]')).toContain(`${added} is deregistered`);
    await page.waitForSelector(row, { state: 'detached' });
    const list = await server.cli(['cluster', 'list', '-o', 'json']);
    expect(list.stdout).not.toContain(`"${added}"`);
  });

  it('an admin creates a token, sees its secret once, and revokes it', async () => {
    await page.click('text=API tokens');
    await page.fill('[data-testid=token-form] input[name=user]', 'erin');
    await page.fill('[data-testid=token-form] input[name=groups]', 'idp-read');
    await page.fill('[data-testid=token-form] input[name=ttl]', '1d');
    await page.click('[data-testid=token-form] button[type=submit]');
    const secret = (await (await page.waitForSelector('[data-testid=token-value]')).textContent())!;
    expect(secret.length).toBeGreaterThan(20);
    const row = page.locator('[data-testid=admin-tokens] tr[data-user=erin]');
    await row.waitFor();
    expect(await page.textContent('[data-testid=admin-tokens]')).not.toContain(secret);
    await page.screenshot({ path: join(ARTIFACTS, 'admin-tokens.png'), fullPage: true });
    // The new token works until it is revoked.
    const probe = await newContext();
    await signIn(await probe.newPage(), secret);
    await probe.close();
    await row.locator('text=Revoke…').click();
    await row.locator('button.danger').click();
    await row.waitFor({ state: 'detached' });
    const list = await server.cli(['token', 'list', '-o', 'json']);
    expect(list.stdout).not.toContain('"erin"');
  });

  it('the audit log filters by user, type, verb and status', async () => {
    await page.click('text=Audit log');
    await page.waitForSelector('[data-testid=audit] tbody tr');
    await page.fill('[data-testid=audit-filters] input[name=user]', 'ana');
    await page.fill('[data-testid=audit-filters] input[name=type]', 'cluster.added');
    await page.click('[data-testid=audit-filters] button[type=submit]');
    await page.waitForURL((u) => u.searchParams.get('type') === 'cluster.added');
    await expect.poll(() => page.locator('[data-testid=audit] tbody tr').count()).toBe(1);
    expect(await page.getAttribute('[data-testid=audit] tbody tr', 'data-actor')).toBe('ana');
    expect(await page.textContent('[data-testid=audit] tbody tr')).toContain(`name=${added}`);
    // The relayed requests the palette and pages made, by verb and status.
    await page.fill('[data-testid=audit-filters] input[name=type]', '');
    await page.fill('[data-testid=audit-filters] input[name=verb]', 'create');
    await page.click('[data-testid=audit-filters] button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=audit]')).not.toContain('cluster.added');
    await page.fill('[data-testid=audit-filters] input[name=verb]', '');
    await page.fill('[data-testid=audit-filters] input[name=user]', '');
    await page.fill('[data-testid=audit-filters] input[name=status]', 'maybe');
    await page.click('[data-testid=audit-filters] button[type=submit]');
    await expect.poll(() => page.textContent('[data-testid=admin-error]')).toContain('status: expected success, failure or an HTTP status');
    await page.fill('[data-testid=audit-filters] input[name=status]', 'success');
    await page.click('[data-testid=audit-filters] button[type=submit]');
    await page.waitForSelector('[data-testid=audit] tbody tr[data-type="api-token.revoked"]');
    await page.screenshot({ path: join(ARTIFACTS, 'admin-audit.png'), fullPage: true });
  });

  it('the palette (Ctrl-K) jumps to a cluster, then to a kind that cluster serves', async () => {
    await page.goto(`${server.publicUrl}/fleet`);
    await page.waitForSelector(`tr[data-cluster="${cluster}"][data-state=connected]`);
    await page.keyboard.press('Control+k');
    await page.waitForSelector('[data-testid=palette] input');
    await page.keyboard.type(cluster);
    await page.waitForSelector(`[data-testid=palette] li.chosen >> text=${cluster}`);
    await page.screenshot({ path: join(ARTIFACTS, 'palette.png'), fullPage: true });
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/c/${cluster}`);
    await page.keyboard.press('Control+k');
    // Kinds come from the cluster's discovery, through the relay as ana.
    await page.keyboard.type('deployments.apps');
    await page.waitForSelector('[data-testid=palette] li.chosen >> text=Deployment (deployments.apps)', { timeout: 30_000 });
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === `/c/${cluster}/deployments.apps`);
  });

  it('an operator below the admin tier sees no admin link, and the URL gives the sentence', async () => {
    const { token } = await operatorToken('carol', 'idp-read');
    const ctx = await newContext();
    try {
      const p = await ctx.newPage();
      await signIn(p, token);
      await p.waitForSelector(`tr[data-cluster="${cluster}"]`);
      expect(await p.$('[data-testid=admin-link]')).toBeNull();
      await p.goto(`${server.publicUrl}/admin/tokens`);
      await expect.poll(() => p.textContent('[data-testid=admin-refused]')).toBe('The admin pages are for operators of the admin tier; carol is of the read tier.');
      await p.screenshot({ path: join(ARTIFACTS, 'admin-refused.png'), fullPage: true });
      // The server refuses by itself too, with its own sentence.
      const status = await p.evaluate(async () => {
        const res = await fetch('/console/v1/admin/tokens');
        return { code: res.status, body: (await res.json()) as { message: string } };
      });
      expect(status.code).toBe(403);
      expect(status.body.message).toContain('the admin pages are for operators of the admin tier; carol is of the read tier');
    } finally {
      await ctx.close();
    }
  });

  it('revoking the token a session was made from ends the session: the next call is a 401 and the sign-in page', async () => {
    const { token, id } = await operatorToken('dave', 'idp-read');
    const ctx = await newContext();
    try {
      const p = await ctx.newPage();
      await signIn(p, token);
      await p.waitForSelector(`tr[data-cluster="${cluster}"]`);
      // The admin revokes dave's token in the admin page.
      await page.goto(`${server.publicUrl}/admin/tokens`);
      const row = page.locator(`[data-testid=admin-tokens] tr[data-token="${id}"]`);
      await row.locator('text=Revoke…').click();
      await row.locator('button.danger').click();
      await row.waitFor({ state: 'detached' });
      // dave's next call (the palette asks for the fleet) is refused, and the page goes to sign-in.
      await p.keyboard.press('Control+k');
      await p.waitForSelector('input[name=token]');
      expect(await p.$('[data-testid=who]')).toBeNull();
      const again = await p.evaluate(async () => (await fetch('/console/v1/session')).status);
      expect(again).toBe(401);
    } finally {
      await ctx.close();
    }
  });
});
