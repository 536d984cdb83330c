import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, startConsoleHarness, type ConsoleHarness } from '../support/console-harness.js';
import type { TestServer } from '../support/hawser.js';
import { adminCore, createNamespace } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';
import type { OidcIssuer } from '../support/oidc-issuer.js';

/**
 * The web console in a real browser: headless Chromium driven by
 * playwright-core against the real server, a real agent as its chart's
 * ServiceAccount and the real API server (test/support/console-harness.ts).
 */
describe.skipIf(testCluster().external)('the web console in a real browser', () => {
  let h: ConsoleHarness;
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let token: string;
  let issuer: OidcIssuer;
  let cluster: string;
  /** Registered, its agent never installed: the fleet and search must say so. */
  let offline: string;

  beforeAll(async () => {
    h = await startConsoleHarness();
    ({ server, browser, context, page, token, issuer, cluster, offline } = h);
    ns = await createNamespace();
  }, 180_000);
  afterAll(async () => {
    await ns?.remove();
    await h?.close();
  });

  async function createPod(name: string): Promise<void> {
    await adminCore().createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.invalid/none:1' }] } },
    });
  }

  it('signs in with an API token; the session is an HttpOnly, Secure, SameSite=Strict cookie the page cannot read', async () => {
    await page.goto(server.publicUrl);
    await page.fill('input[name=token]', 'hsr_not-a-real-token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('[role=alert]')).toContain('did not accept');

    await page.fill('input[name=token]', token);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=who]');
    expect(await page.textContent('[data-testid=who]')).toBe('carol');
    const cookies = await context.cookies(server.publicUrl);
    const session = cookies.find((c) => c.name === '__Host-hawser-session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('the fleet page shows the cluster connected and the one without an agent as never connected, pushed from the server', async () => {
    await page.waitForSelector(`tr[data-cluster="${cluster}"][data-state=connected]`);
    await page.waitForSelector(`tr[data-cluster="${offline}"][data-state=never]`);
    await page.screenshot({ path: join(ARTIFACTS, 'fleet.png'), fullPage: true });
  });

  it('a pod created with the API appears in the open list without a reload', async () => {
    await createPod('before');
    await page.click(`a[href="/c/${cluster}"]`);
    await page.waitForSelector(`tr[data-pod="${ns.name}/before"]`);
    await expect.poll(() => page.textContent('[data-testid=watch-state]')).toBe('live');
    await createPod('while-open');
    await page.waitForSelector(`tr[data-pod="${ns.name}/while-open"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-pods.png'), fullPage: true });
  });

  it('search asks every cluster: finds the pod in one, says the other is not connected, and a forbidden kind gets its sentence', async () => {
    await page.goto(`${server.publicUrl}/search?kind=pods&name=while-open`);
    await page.waitForSelector(`tr[data-search-cluster="${cluster}"][data-state=answered] [data-match="${ns.name}/while-open"]`);
    await page.waitForSelector(`tr[data-search-cluster="${offline}"][data-state="not connected"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'search.png'), fullPage: true });
    await page.goto(`${server.publicUrl}/search?kind=secrets&namespace=${ns.name}`);
    const row = await page.waitForSelector(`tr[data-search-cluster="${cluster}"][data-state=forbidden]`);
    // The API server's own sentence, for the operator's own identity (tier read = view: no secrets).
    expect(await row.textContent()).toContain('cannot list resource "secrets"');
    await page.goto(`${server.publicUrl}/c/${cluster}`);
    await page.waitForSelector(`tr[data-pod="${ns.name}/while-open"]`);
  });

  it('the agent killed and restarted: the view says reconnecting, then resumes with what was created meanwhile', async () => {
    await h.agent.kill();
    await expect.poll(() => page.textContent('[data-testid=watch-state]'), { timeout: 30_000 }).toBe('reconnecting…');
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-reconnecting.png'), fullPage: true });
    await createPod('while-away');
    h.agent = await h.agent.restart();
    await page.waitForSelector(`tr[data-pod="${ns.name}/while-away"]`, { timeout: 60_000 });
    await expect.poll(() => page.textContent('[data-testid=watch-state]')).toBe('live');
  });

  it('a page on another origin cannot use the session: reads fail in the browser, writes are refused by Hawser', async () => {
    const evil: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    try {
      const other = await context.newPage();
      await other.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const target = `${server.publicUrl}/clusters/${cluster}/api/v1/namespaces/${ns.name}/configmaps`;
      const outcome = await other.evaluate(async (url) => {
        const results: string[] = [];
        for (const init of [{ credentials: 'include' }, { method: 'POST', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"metadata":{"name":"planted"}}' }] as RequestInit[]) {
          try {
            const res = await fetch(url, init);
            results.push(`status ${res.status}`);
          } catch (err) {
            results.push(`blocked: ${(err as Error).name}`);
          }
        }
        return results;
      }, target);
      expect(outcome).toEqual(['blocked: TypeError', 'blocked: TypeError']);
      await other.close();
      // Nothing was written, whatever the browser did with the response.
      const list = await adminCore().listNamespacedConfigMap({ namespace: ns.name });
      expect(list.items.map((c) => c.metadata?.name)).not.toContain('planted');
    } finally {
      evil.close();
    }
    // The same write with the cookie but a foreign Origin, as a same-site page could send it: refused by Hawser.
    const cookie = (await context.cookies(server.publicUrl)).find((c) => c.name === '__Host-hawser-session')!;
    const res = await page.evaluate(
      async ({ url }) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"metadata":{"name":"planted2"}}' })).status,
      { url: `/clusters/${cluster}/api/v1/namespaces/${ns.name}/configmaps` },
    );
    expect(res).toBe(401); // same origin, cookie sent, but no CSRF token on an unsafe method
    expect(cookie.value.length).toBeGreaterThan(20);
  });

  it('signs in with the OpenID provider (authorization code with PKCE) and browses as the IdP user', async () => {
    const fresh = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const p = await fresh.newPage();
      await p.goto(server.publicUrl);
      await p.click('[data-testid=oidc]');
      // The provider's own login and consent pages, filled in as a person would.
      await p.waitForURL((u) => u.origin === issuer.issuer);
      await p.fill('input[name=login]', 'dana');
      await p.fill('input[name=password]', 'any');
      await p.click('button[type=submit]');
      await p.click('button[type=submit]');
      await p.waitForSelector('[data-testid=who]');
      expect(await p.textContent('[data-testid=who]')).toBe('dana@example.com');
      await p.waitForSelector(`tr[data-cluster="${cluster}"][data-state=connected]`);
      await p.goto(`${server.publicUrl}/c/${cluster}`);
      await p.waitForSelector(`tr[data-pod="${ns.name}/while-open"]`);
      // A callback this browser did not start is refused with a sentence.
      const other = await browser.newContext({ ignoreHTTPSErrors: true });
      const q = await other.newPage();
      await q.goto(`${server.publicUrl}/console/v1/oidc/callback?code=stolen&state=forged`);
      await expect.poll(() => q.textContent('[role=alert]')).toContain('OIDC sign-in failed: no sign-in in progress');
      await other.close();
    } finally {
      await fresh.close();
    }
  });

  it('sign-out ends the session on the server, not only in the browser', async () => {
    const cookie = (await context.cookies(server.publicUrl)).find((c) => c.name === '__Host-hawser-session')!;
    await page.click('text=Sign out');
    await page.waitForSelector('input[name=token]');
    await page.screenshot({ path: join(ARTIFACTS, 'sign-in.png'), fullPage: true });
    // Replaying the old cookie by hand gets nothing.
    const again = await context.request.get(`${server.publicUrl}/clusters/${cluster}/api/v1/namespaces/${ns.name}/pods`, {
      headers: { cookie: `${cookie.name}=${cookie.value}` },
    });
    expect(again.status()).toBe(401);
  });
});
