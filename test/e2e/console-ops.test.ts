import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../controlplane/pki.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { adminCore, applyYaml, createNamespace, kubectl, uniqueName } from '../support/kube.js';
import { startTestKubelet, type TestKubelet } from '../support/test-kubelet.js';
import { testCluster } from '../support/test-cluster.js';
import { LOG_LINES_MAX, LogBuffer } from '../../packages/console/src/log-buffer.js';

/** Debian's Chromium (scripts/system-deps.sh installs it); playwright-core never downloads a browser. */
const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of each page, kept as test artifacts (git ignores the folder). */
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-results', 'console');

/**
 * Pod logs and the exec terminal in a real browser: headless Chromium
 * against the real server, two real agents (one in mode full, one
 * read-only) on the real API server, and the test kubelet
 * (go/testkubelet: the real streaming server over a fake container), so
 * the log stream and the exec WebSocket cross every real hop: browser ->
 * Hawser -> tunnel -> agent -> kube-apiserver -> kubelet.
 */
describe.skipIf(testCluster().external)('pod logs and the exec terminal in a real browser', () => {
  let server: TestServer;
  const agents: TestAgent[] = [];
  let kubelet: TestKubelet;
  let browser: Browser;
  let writer: BrowserContext;
  let reader: BrowserContext;
  let podReader: BrowserContext;
  /** The triage tier's role here: pods, but not their logs. */
  const podsOnly = uniqueName('pods-only');
  let page: Page;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const agentNamespaces: Awaited<ReturnType<typeof createNamespace>>[] = [];
  const clusters = { full: uniqueName('ops-full'), 'read-only': uniqueName('ops-ro') } as const;
  const pod = 'ops';
  /** Uncaught errors on the operator's page: there must be none. */
  const pageErrors: string[] = [];

  async function signedIn(user: string, group: string): Promise<BrowserContext> {
    const created = await server.cli(['token', 'create', '--user', user, '--group', group, '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 800 } });
    const p = await context.newPage();
    await p.goto(server.publicUrl);
    await p.fill('input[name=token]', (JSON.parse(created.stdout) as { token: string }).token);
    await p.click('button[type=submit]');
    await p.waitForSelector('[data-testid=who]');
    await p.close();
    return context;
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // write -> edit (has pods/exec), read -> view (has pods/log, no exec), triage -> pods only.
    server = await startServer({ args: ['--tier', 'write=idp-write', '--tier', 'read=idp-read', '--tier', 'triage=idp-triage'] });
    await applyYaml(
      JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: podsOnly }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] }),
    );
    for (const mode of ['full', 'read-only'] as const) {
      const { token } = await addCluster(server, clusters[mode]);
      // One namespace per agent: the chart's objects (its state Secret above all) have fixed names.
      const agentNs = await createNamespace();
      agentNamespaces.push(agentNs);
      agents.push(await deployAgent({ namespace: agentNs.name, server, token, values: { mode, set: ['tierBindings.enabled=true', `tierBindings.roles.triage=${podsOnly}`] } }));
    }
    for (const agent of agents) await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    kubelet = await startTestKubelet();
    ns = await createNamespace();
    // Bound to the test kubelet's Node: an init container and two containers to choose from.
    await adminCore().createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: pod },
        spec: {
          nodeName: kubelet.nodeName,
          initContainers: [{ name: 'setup', image: 'registry.invalid/testkubelet:1' }],
          containers: ['main', 'sidecar'].map((name) => ({ name, image: 'registry.invalid/testkubelet:1' })),
        },
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    writer = await signedIn('carol', 'idp-write');
    reader = await signedIn('dana', 'idp-read');
    podReader = await signedIn('erin', 'idp-triage');
    page = await writer.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    for (const agent of agents) await agent.remove();
    await kubelet?.remove();
    await ns?.remove();
    for (const n of agentNamespaces) await n.remove();
    await server?.remove();
    await kubectl(['delete', 'clusterrole', podsOnly, '--ignore-not-found']);
  });

  const opsUrl = (mode: keyof typeof clusters, view: 'logs' | 'exec') => `${server.publicUrl}/c/${clusters[mode]}/pods/${ns.name}/${pod}/${view}`;
  const logText = (p: Page) => p.textContent('[data-testid=log]');

  it('the pod list links to a pod\'s logs, which show the lines the container wrote and, following, new ones as they are written', async () => {
    await page.goto(`${server.publicUrl}/c/${clusters.full}`);
    await page.click(`tr[data-pod="${ns.name}/${pod}"] a:text("Logs")`);
    await page.waitForURL(opsUrl('full', 'logs'));
    await expect.poll(() => logText(page)).toContain('main line 1\nmain line 2\nmain line 3');
    expect(await page.textContent('[data-testid=log-state]')).toBe('following');
    // The kubelet writes a line every 100 ms after the first three: line 8
    // shows only if the body reaches the page as it is written.
    await expect.poll(() => logText(page), { timeout: 20_000 }).toContain('main line 8');
    await page.screenshot({ path: join(ARTIFACTS, 'pod-logs.png'), fullPage: true });
  });

  it('without follow the log is read once; the container choice offers the init container and the sidecar', async () => {
    await page.uncheck('[data-testid=log-follow]');
    await expect.poll(() => page.textContent('[data-testid=log-state]')).toBe('3 lines');
    expect(await logText(page)).toBe('main line 1\nmain line 2\nmain line 3');
    const options = await page.$$eval('[data-testid=log-container] option', (os) => os.map((o) => o.textContent));
    expect(options).toEqual(['setup (init)', 'main', 'sidecar']);
    await page.selectOption('[data-testid=log-container]', 'setup');
    await expect.poll(() => logText(page)).toBe('setup line 1\nsetup line 2\nsetup line 3');
    await page.selectOption('[data-testid=log-container]', 'sidecar');
    await expect.poll(() => logText(page)).toBe('sidecar line 1\nsidecar line 2\nsidecar line 3');
    const logs = kubelet.requests().filter((r) => r.kind === 'logs' && r.namespace === ns.name);
    expect(logs.map((r) => [r.container, r.follow])).toEqual(
      expect.arrayContaining([
        ['main', true],
        ['main', false],
        ['setup', false],
        ['sidecar', false],
      ]),
    );
  });

  it('exec runs a command in the container through the relay and shows its output and exit code, in the console\'s theme', async () => {
    await page.goto(opsUrl('full', 'exec'));
    await page.fill('[data-testid=exec-command]', 'echo hello from the console');
    await page.click('[data-testid=exec-connect]');
    await expect.poll(() => page.textContent('[data-testid=exec-state]'), { timeout: 20_000 }).toBe('exited with code 0');
    expect(await page.textContent('.xterm-rows')).toContain('hello from the console');
    expect(kubelet.requests().filter((r) => r.kind === 'exec' && r.namespace === ns.name).map((r) => r.command)).toContainEqual(['echo', 'hello', 'from', 'the', 'console']);
    // The theme xterm.js writes as <style> elements, which the CSP refuses,
    // applies through the constructed stylesheet (constructed-styles.ts).
    expect(await page.$eval('.xterm-rows', (el) => getComputedStyle(el).color)).toBe('rgb(227, 230, 236)');

    await page.fill('[data-testid=exec-command]', 'exit 3');
    await page.click('[data-testid=exec-connect]');
    await expect.poll(() => page.textContent('[data-testid=exec-state]'), { timeout: 20_000 }).toBe('exited with code 3');
  });

  it('the terminal is interactive: keystrokes reach the command\'s stdin over v5.channel.k8s.io and its output comes back', async () => {
    await page.fill('[data-testid=exec-command]', 'cat');
    await page.click('[data-testid=exec-connect]');
    await expect.poll(() => page.textContent('[data-testid=exec-state]'), { timeout: 20_000 }).toBe('connected (v5.channel.k8s.io)');
    await page.click('[data-testid=terminal]');
    await page.keyboard.type('typed into the terminal');
    await expect.poll(() => page.textContent('.xterm-rows')).toContain('typed into the terminal');
    await page.screenshot({ path: join(ARTIFACTS, 'pod-exec.png'), fullPage: true });
    await page.click('[data-testid=exec-disconnect]');
    await expect.poll(() => page.textContent('[data-testid=exec-state]')).toBe('not connected');
    expect(pageErrors).toEqual([]);
  });

  it('on a read-only agent the terminal is not offered and the sentence says why; its logs still show', async () => {
    await page.goto(opsUrl('read-only', 'exec'));
    const denied = await page.waitForSelector('[data-testid=exec-denied]');
    expect(await denied.textContent()).toBe(`this cluster's agent is read-only: exec needs an agent in mode full on ${clusters['read-only']}`);
    expect(await page.$('[data-testid=terminal]')).toBeNull();
    await page.screenshot({ path: join(ARTIFACTS, 'pod-exec-read-only.png'), fullPage: true });
    await page.goto(opsUrl('read-only', 'logs'));
    await expect.poll(() => logText(page)).toContain('main line 1');
  });

  it('an operator who may read the pod but not its log gets the API server\'s sentence where the log would be', async () => {
    const p = await podReader.newPage();
    await p.goto(opsUrl('full', 'logs'));
    const refusal = await p.waitForSelector('.pod-logs [role=alert]');
    expect(await refusal.textContent()).toContain('cannot get resource "pods/log"');
    expect(await p.textContent('[data-testid=log]')).toBe('');
    await p.screenshot({ path: join(ARTIFACTS, 'pod-logs-forbidden.png'), fullPage: true });
    await p.close();
  });

  it('an operator whose RBAC has no pods/exec gets the sentence, not the terminal, on a full agent', async () => {
    const p = await reader.newPage();
    await p.goto(opsUrl('full', 'exec'));
    const denied = await p.waitForSelector('[data-testid=exec-denied]');
    expect(await denied.textContent()).toContain(`you cannot create pods/exec in namespace ${ns.name} on ${clusters.full}: RBAC`);
    expect(await p.$('[data-testid=terminal]')).toBeNull();
    await p.close();
  });

  it('a page on another origin cannot open the exec WebSocket with the session; the console\'s own page can', async () => {
    const url = (marker: string) =>
      `${server.publicUrl.replace(/^https/, 'wss')}/clusters/${clusters.full}/api/v1/namespaces/${ns.name}/pods/${pod}/exec?container=main&stdout=true&command=echo&command=${marker}`;
    const attempt = (p: Page, target: string) =>
      p.evaluate(
        (u) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(u, ['v5.channel.k8s.io']);
            ws.onopen = () => resolve('opened');
            ws.onclose = (e) => resolve(`closed ${e.code}`);
          }),
        target,
      );
    // Same site (the cookie rides along: 127.0.0.1 is the site, ports do not count), another origin.
    const tls = createCertificate({ subject: { cn: 'elsewhere' }, serverNames: { ip: ['127.0.0.1'] } });
    const page200 = (_req: unknown, res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>elsewhere</title>');
    const sameSite: Server = createHttpsServer({ cert: tls.cert, key: tls.key }, page200);
    const crossSite: Server = createHttpServer(page200);
    for (const s of [sameSite, crossSite]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    try {
      const other = await writer.newPage();
      const sameSiteOrigin = `https://127.0.0.1:${(sameSite.address() as AddressInfo).port}`;
      await other.goto(`${sameSiteOrigin}/`);
      expect(await attempt(other, url('same-site-marker'))).toBe('closed 1006');
      // Refused by Hawser for its Origin (the cookie did arrive), before any byte went to the cluster.
      await eventually(async () => expect(server.process.lines.filter((l) => l.includes(`cross-origin request from ${sameSiteOrigin}`))).not.toEqual([]), 10_000);
      await other.goto(`http://127.0.0.1:${(crossSite.address() as AddressInfo).port}/`);
      expect(await attempt(other, url('cross-site-marker'))).toBe('closed 1006');
      await other.close();
    } finally {
      sameSite.close();
      crossSite.close();
    }
    // The control: the same WebSocket from the console's own page opens.
    await page.goto(server.publicUrl);
    expect(await attempt(page, url('same-origin-marker'))).toBe('opened');
    // An API server that chose v4 frames exec the same way (channel byte, Status on channel 3).
    const v4 = await page.evaluate(
      (u) =>
        new Promise<{ protocol: string; frames: [number, string][] }>((resolve) => {
          const ws = new WebSocket(u, ['v4.channel.k8s.io']);
          ws.binaryType = 'arraybuffer';
          const frames: [number, string][] = [];
          ws.onmessage = (e: MessageEvent<ArrayBuffer>) => {
            const b = new Uint8Array(e.data);
            if (b.length > 1) frames.push([b[0]!, new TextDecoder().decode(b.subarray(1))]);
          };
          ws.onclose = () => resolve({ protocol: ws.protocol, frames });
        }),
      url('v4-marker'),
    );
    expect(v4.protocol).toBe('v4.channel.k8s.io');
    expect(v4.frames[0]).toEqual([1, 'v4-marker\n']);
    expect(v4.frames[1]![0]).toBe(3);
    expect(JSON.parse(v4.frames[1]![1])).toMatchObject({ status: 'Success' });
    await eventually(async () => {
      const commands = kubelet.requests().filter((r) => r.kind === 'exec').map((r) => r.command?.[1]);
      expect(commands).toContain('same-origin-marker');
      expect(commands).not.toContain('same-site-marker');
      expect(commands).not.toContain('cross-site-marker');
    }, 10_000);
  });
});

/** The log view's memory bound, without a browser: the newest lines stay, the dropped ones are counted. */
describe('the log view keeps the newest lines of a long follow', () => {
  it('joins lines split across chunks, keeps the unfinished tail, and drops the oldest past the bound', () => {
    const buffer = new LogBuffer(3);
    buffer.append('one\ntw');
    expect(buffer.text).toBe('one\ntw');
    buffer.append('o\nthree\nfour\nfi');
    expect(buffer.text).toBe('two\nthree\nfour\nfi');
    expect(buffer.dropped).toBe(1);
    buffer.append('ve\n');
    expect(buffer.text).toBe('three\nfour\nfive');
    expect([buffer.lineCount, buffer.dropped]).toEqual([3, 2]);
  });

  it('holds 10,000 lines by default however many arrive', () => {
    const buffer = new LogBuffer();
    for (let i = 1; i <= 25_000; i++) buffer.append(`line ${i}\n`);
    expect(buffer.lineCount).toBe(LOG_LINES_MAX);
    expect(buffer.dropped).toBe(15_000);
    expect(buffer.text.startsWith('line 15001\n')).toBe(true);
  });
});
