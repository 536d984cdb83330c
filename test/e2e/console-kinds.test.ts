import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTIFACTS, signInWithToken, startConsoleHarness, type ConsoleHarness } from '../support/console-harness.js';
import { createNamespace, kubectl } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

/** kubectl as the cluster's admin; fails the test with kubectl's own words. */
async function kc(args: string[], input?: string): Promise<string> {
  const res = await kubectl(args, input === undefined ? {} : { input });
  expect(res.code, `kubectl ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout;
}

/**
 * The console's cluster page in a real browser against the real server,
 * agent and API server: every kind discovery finds (custom resources
 * included), live lists with selectors, the detail view, refusals as
 * sentences, and deep links.
 */
describe.skipIf(testCluster().external)('the console cluster page, every kind', () => {
  let h: ConsoleHarness;
  let page: Page;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  // A group of this run's own: the control plane is shared with other suites.
  const group = `k${randomBytes(4).toString('hex')}.hawser.test`;
  const widgets = `widgets.${group}`;
  const url = (path: string) => `${h.server.publicUrl}${path}`;

  beforeAll(async () => {
    h = await startConsoleHarness('kinds');
    page = h.page;
    ns = await createNamespace();
    // A custom resource, and `view` (tier read) extended to it the way a CRD's author would: an aggregated ClusterRole.
    await kc(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: widgets },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    }));
    await kc(['wait', '--for=condition=Established', `crd/${widgets}`, '--timeout=30s']);
    await kc(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `${group}-view`, labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } },
      rules: [{ apiGroups: [group], resources: ['widgets'], verbs: ['get', 'list', 'watch'] }],
    }));
    await kc(['apply', '-n', ns.name, '-f', '-'], JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'gizmo' }, spec: { size: 3 } }));
    await signInWithToken(page, url('/'), h.token);
  }, 180_000);
  afterAll(async () => {
    await kubectl(['delete', 'crd', widgets, '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await kubectl(['delete', 'clusterrole', `${group}-view`, '--ignore-not-found']).catch(() => undefined);
    await ns?.remove();
    await h?.close();
  });

  it('a deployment created with kubectl appears in the deployments list, opened from the kind menu, without a reload', async () => {
    await page.goto(url(`/c/${h.cluster}`));
    await page.click('a[data-kind="deployments.apps"]');
    await page.waitForSelector('table[data-testid=deployments]');
    await expect.poll(() => page.textContent('[data-testid=watch-state]')).toBe('live');
    await kc(['create', 'deployment', 'web', '-n', ns.name, '--image=registry.invalid/none:1']);
    await kc(['create', 'deployment', 'api', '-n', ns.name, '--image=registry.invalid/none:1']);
    await page.waitForSelector(`tr[data-row="${ns.name}/web"]`);
    await page.waitForSelector(`tr[data-row="${ns.name}/api"]`);
    expect(await page.textContent(`tr[data-row="${ns.name}/web"]`)).toContain('0/1');
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-deployments.png'), fullPage: true });
  });

  it('a label selector narrows the list, asked of the API server, and lands in the URL', async () => {
    await page.fill('input[name=ns]', ns.name);
    await page.fill('input[name=labels]', 'app=web');
    const asked = page.waitForRequest((r) => r.url().includes(`/namespaces/${ns.name}/deployments?labelSelector=app%3Dweb`));
    await page.click('.selectors button[type=submit]');
    await asked;
    await page.waitForSelector(`tr[data-row="${ns.name}/api"]`, { state: 'detached' });
    await page.waitForSelector(`tr[data-row="${ns.name}/web"]`);
    expect(new URL(page.url()).searchParams.get('labels')).toBe('app=web');
    expect(new URL(page.url()).searchParams.get('ns')).toBe(ns.name);
  });

  it('a field selector narrows the list too, and Back returns to the label-selected list', async () => {
    await page.fill('input[name=labels]', '');
    await page.fill('input[name=fields]', 'metadata.name=api');
    await page.click('.selectors button[type=submit]');
    await page.waitForSelector(`tr[data-row="${ns.name}/web"]`, { state: 'detached' });
    await page.waitForSelector(`tr[data-row="${ns.name}/api"]`);
    await page.goBack();
    await page.waitForSelector(`tr[data-row="${ns.name}/api"]`, { state: 'detached' });
    await page.waitForSelector(`tr[data-row="${ns.name}/web"]`);
    expect(await page.inputValue('input[name=labels]')).toBe('app=web');
  });

  it('a deep link opened in a fresh page lands on the same view, and one opened signed out lands there after sign-in', async () => {
    const link = page.url();
    const again = await h.context.newPage();
    await again.goto(link);
    await again.waitForSelector(`tr[data-row="${ns.name}/web"]`);
    expect(await again.inputValue('input[name=labels]')).toBe('app=web');
    expect(await again.$(`tr[data-row="${ns.name}/api"]`)).toBeNull();
    await again.close();

    const other = await h.newContext();
    try {
      const p = await other.newPage();
      await signInWithToken(p, link, h.token);
      await p.waitForSelector(`tr[data-row="${ns.name}/web"]`);
      expect(p.url()).toBe(link);
    } finally {
      await other.close();
    }
  });

  it('a custom resource kind found by discovery is in the menu and lists its objects live', async () => {
    await page.goto(url(`/c/${h.cluster}`));
    await page.click(`a[data-kind="${widgets}"]`);
    await page.waitForSelector(`tr[data-row="${ns.name}/gizmo"]`);
    await kc(['apply', '-n', ns.name, '-f', '-'], JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'sprocket' } }));
    await page.waitForSelector(`tr[data-row="${ns.name}/sprocket"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-custom-resource.png'), fullPage: true });
    // The text filter is the browser's: no new request, the rows it does not match go, and it is in the URL.
    await page.fill('input[name=q]', 'gizm');
    await page.waitForSelector(`tr[data-row="${ns.name}/sprocket"]`, { state: 'detached' });
    await page.waitForSelector(`tr[data-row="${ns.name}/gizmo"]`);
    expect(new URL(page.url()).searchParams.get('q')).toBe('gizm');
  });

  it('a custom resource list survives the agent restarting: reconnecting, then the watch resumes from its resourceVersion (no new list) with what was created meanwhile', async () => {
    await page.goto(url(`/c/${h.cluster}/${widgets}?ns=${ns.name}`));
    await page.waitForSelector(`tr[data-row="${ns.name}/sprocket"]`);
    await expect.poll(() => page.textContent('[data-testid=watch-state]')).toBe('live');
    const asked: string[] = [];
    const record = (r: { url(): string }) => {
      if (r.url().includes(`/${group}/`)) asked.push(r.url());
    };
    page.on('request', record);
    try {
      await h.agent.kill();
      await expect.poll(() => page.textContent('[data-testid=watch-state]'), { timeout: 30_000 }).toBe('reconnecting…');
      await kc(['apply', '-n', ns.name, '-f', '-'], JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'while-away' } }));
      h.agent = await h.agent.restart();
      await page.waitForSelector(`tr[data-row="${ns.name}/while-away"]`, { timeout: 60_000 });
      await expect.poll(() => page.textContent('[data-testid=watch-state]')).toBe('live');
    } finally {
      page.off('request', record);
    }
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((u) => u.includes('watch=1') && u.includes('resourceVersion='))).toBe(true);
  });

  it('the detail view shows status, conditions, the events about the object, its YAML and a link to its owner; Back returns', async () => {
    const rs = JSON.parse(await kc(['apply', '-n', ns.name, '-o', 'json', '-f', '-'], JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'web-5d8f', labels: { app: 'web' } },
      spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'registry.invalid/none:1' }] } } },
    }))) as { metadata: { uid: string } };
    const pod = JSON.parse(await kc(['apply', '-n', ns.name, '-o', 'json', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-5d8f-x2k', labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f', uid: rs.metadata.uid, controller: true }] },
      spec: { containers: [{ name: 'c', image: 'registry.invalid/none:1' }] },
    }))) as { metadata: { uid: string } };
    // No kubelet runs here: the test writes the status a kubelet would, and an event about the pod.
    await kc(['patch', 'pod', 'web-5d8f-x2k', '-n', ns.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'no nodes in this test cluster', lastTransitionTime: new Date().toISOString() }] },
    })]);
    await kc(['apply', '-n', ns.name, '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'web-5d8f-x2k.test' },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'web-5d8f-x2k', namespace: ns.name, uid: pod.metadata.uid },
      type: 'Warning',
      reason: 'FailedScheduling',
      message: 'no nodes available',
      lastTimestamp: new Date().toISOString(),
    }));

    await page.goto(url(`/c/${h.cluster}/pods?ns=${ns.name}`));
    await page.click(`tr[data-pod="${ns.name}/web-5d8f-x2k"] a`);
    await page.waitForSelector('[data-testid=detail] tr[data-condition=PodScheduled]');
    expect(await page.textContent('[data-testid=conditions]')).toContain('Unschedulable');
    expect(await page.textContent('[data-testid=status]')).toContain('Pending');
    await page.waitForSelector('[data-testid=events] tr[data-event=FailedScheduling]');
    const yaml = await page.textContent('[data-testid=yaml]');
    expect(yaml).toContain('kind: Pod');
    expect(yaml).toContain('name: web-5d8f-x2k');
    expect(yaml).not.toContain('managedFields');
    expect(new URL(page.url()).pathname).toBe(`/c/${h.cluster}/pods/${ns.name}/web-5d8f-x2k`);
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-detail.png'), fullPage: true });

    await page.click('[data-owner="ReplicaSet/web-5d8f"]');
    await page.waitForURL((u) => u.pathname === `/c/${h.cluster}/replicasets.apps/${ns.name}/web-5d8f`);
    await expect.poll(() => page.textContent('[data-testid=detail] h2')).toContain('ReplicaSet');
    await expect.poll(() => page.textContent('[data-testid=yaml]')).toContain('replicas: 1');
    await page.goBack();
    await page.waitForSelector('[data-testid=detail] tr[data-condition=PodScheduled]');
  });

  it('a cluster-scoped object has its own detail: a namespace, from the namespaces list, with links to its kinds', async () => {
    await page.goto(url(`/c/${h.cluster}/namespaces?q=${ns.name}`));
    await page.click(`tr[data-row="${ns.name}"] a`);
    await page.waitForURL((u) => u.pathname === `/c/${h.cluster}/namespaces/${ns.name}`);
    await expect.poll(() => page.textContent('[data-testid=status]')).toContain('Active');
    expect(await page.textContent('[data-testid=yaml]')).toContain(`name: ${ns.name}`);
    // From a namespace to its kinds.
    await page.click('[data-testid=in-namespace] a[data-kind="deployments.apps"]');
    await page.waitForSelector(`tr[data-row="${ns.name}/api"]`);
    expect(new URL(page.url()).searchParams.get('ns')).toBe(ns.name);
  });

  it('a kind the operator may not list shows the sentence where the rows would be', async () => {
    await page.goto(url(`/c/${h.cluster}/secrets?ns=${ns.name}`));
    const refusal = await page.waitForSelector('[data-testid=refusal]');
    expect(await refusal.textContent()).toContain(`you cannot list secrets in namespace ${ns.name} on ${h.cluster}`);
    await page.screenshot({ path: join(ARTIFACTS, 'cluster-forbidden.png'), fullPage: true });
  });
});
