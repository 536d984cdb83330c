import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from './hawser.js';
import { createNamespace, uniqueName } from './kube.js';
import { OidcIssuer } from './oidc-issuer.js';

/** Debian's Chromium (scripts/system-deps.sh installs it); playwright-core never downloads a browser. */
export const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of each page, kept as test artifacts (git ignores the folder). */
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-results', 'console');

/**
 * What the console's browser tests share: a real server with a local
 * OpenID issuer, two registered clusters (one with a real agent as its
 * chart's ServiceAccount, tier groups bound; one whose agent is never
 * installed), an operator's API token in tier read, and headless Chromium.
 * The server's certificate comes from its own CA, which this throwaway
 * browser profile is told to accept (ignoreHTTPSErrors); everything else is
 * as an operator's browser sees it.
 */
export interface ConsoleHarness {
  readonly server: TestServer;
  readonly issuer: OidcIssuer;
  /** Replaced by the test when it restarts the agent. */
  agent: TestAgent;
  readonly browser: Browser;
  readonly context: BrowserContext;
  readonly page: Page;
  /** An API token of `carol`, group idp-read (tier read: the `view` ClusterRole). */
  readonly token: string;
  /** The connected cluster. */
  readonly cluster: string;
  /** Registered, its agent never installed. */
  readonly offline: string;
  /** A fresh browser profile (no cookies), for a second operator or a deep link opened elsewhere. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

export async function startConsoleHarness(prefix = 'console'): Promise<ConsoleHarness> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const cluster = uniqueName(prefix);
  const offline = uniqueName('offline');
  const issuer = await OidcIssuer.start();
  const server = await startServer({ args: ['--tier', 'read=idp-read', '--oidc-issuer', issuer.issuer, '--oidc-audience', 'hawser-console'] });
  issuer.client({
    clientId: 'hawser-console',
    redirectUri: `${server.publicUrl}/console/v1/oidc/callback`,
    users: { dana: { email: 'dana@example.com', groups: ['idp-read'] } },
  });
  const added = await addCluster(server, cluster);
  await addCluster(server, offline);
  const agentNs = await createNamespace();
  const agent = await deployAgent({ namespace: agentNs.name, server, token: added.token, values: { set: ['tierBindings.enabled=true'] } });
  await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  const created = await server.cli(['token', 'create', '--user', 'carol', '--group', 'idp-read', '-o', 'json']);
  expect(created.code, created.stderr).toBe(0);
  const token = (JSON.parse(created.stdout) as { token: string }).token;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  const harness: ConsoleHarness = {
    server,
    issuer,
    agent,
    browser,
    context,
    page,
    token,
    cluster,
    offline,
    newContext: () => browser.newContext({ ignoreHTTPSErrors: true }),
    close: async () => {
      await browser.close();
      await harness.agent.remove();
      await agentNs.remove();
      await server.remove();
      await issuer.close();
    },
  };
  return harness;
}

/** Signs `page` in with an API token at `url` (the sign-in form shows wherever a signed-out page opens). */
export async function signInWithToken(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=who]');
}
