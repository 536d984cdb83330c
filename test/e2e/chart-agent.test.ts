import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { V1PodSpec } from '@kubernetes/client-node';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentChart,
  applyChart,
  eventually,
  helmLint,
  helmTemplate,
  render,
  type Manifest,
  type PolicyRule,
} from '../support/charts.js';
import { applyYaml, createNamespace, kubeRequest, kubectl, serviceAccountToken, uniqueName } from '../support/kube.js';
import { testCluster } from '../support/test-cluster.js';

const modes = ['read-only', 'read-write', 'full'] as const;
const authz = ['tier', 'raw', 'shared'] as const;
const kubeVersions = ['1.35.0', '1.36.0'] as const;
const readVerbs = ['get', 'list', 'watch'];
const writeVerbs = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const tierGroups = ['read', 'triage', 'write', 'maintain', 'admin'].map((t) => `hawser:tier:${t}`);
const base = { 'server.url': 'https://hawser.example.com:8444' };
/** The API server's public health endpoints, readable through the agent as directly (`kubectl get --raw /readyz`). */
const healthURLs = ['/healthz', '/healthz/*', '/livez', '/livez/*', '/readyz', '/readyz/*'];
const healthRows = healthURLs.map((u) => `[${u}] [] [impersonate-on:user-info:get]`);

/** `kubectl auth can-i` / `whoami` through the agent: creates that change nothing. */
const selfReviewRules = [
  { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['impersonate-on:user-info:create'] },
  { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['impersonate-on:user-info:create'] },
];
const selfReviewRows = [
  'selfsubjectreviews.authentication.k8s.io [] [] [impersonate-on:user-info:create]',
  'selfsubjectaccessreviews.authorization.k8s.io [] [] [impersonate-on:user-info:create]',
  'selfsubjectrulesreviews.authorization.k8s.io [] [] [impersonate-on:user-info:create]',
];
const requestIdRow = 'userextras.authentication.k8s.io/hawser.dev/request-id [] [] [impersonate:user-info]';

const rulesOf = (objects: Manifest[], suffix: string): PolicyRule[] | undefined =>
  objects.find((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && o.metadata.name.endsWith(suffix))?.rules as PolicyRule[] | undefined;
const allRules = (objects: Manifest[]): PolicyRule[] =>
  objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role').flatMap((o) => o.rules as PolicyRule[]);
const podSpec = (objects: Manifest[]): V1PodSpec =>
  (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: { template: { spec: V1PodSpec } } }).spec.template.spec;
const envOf = (objects: Manifest[]): Record<string, string> =>
  Object.fromEntries((podSpec(objects).containers[0]!.env ?? []).map((e) => [e.name, e.value ?? '(ref)']));

/**
 * What the agent's own ClusterRole adds to \`view\`, as \`kubectl auth can-i
 * --list\` rows: cluster-scoped reads and its one state Secret.
 */
const AGENT_OWN_ROWS = [
  'nodes [] [] [get list watch]',
  'persistentvolumes [] [] [get list watch]',
  'customresourcedefinitions.apiextensions.k8s.io [] [] [get list watch]',
  'ingressclasses.networking.k8s.io [] [] [get list watch]',
  'runtimeclasses.node.k8s.io [] [] [get list watch]',
  'priorityclasses.scheduling.k8s.io [] [] [get list watch]',
  'csidrivers.storage.k8s.io [] [] [get list watch]',
  'storageclasses.storage.k8s.io [] [] [get list watch]',
  'secrets [] [hawser-agent-state] [get update]',
];

describe('the hawser-agent chart, rendered', () => {
  const combos = modes.flatMap((mode) =>
    authz.flatMap((authorization) =>
      [false, true].flatMap((proxy) =>
        [false, true].flatMap((networkPolicy) => kubeVersions.map((kubeVersion) => ({ mode, authorization, proxy, networkPolicy, kubeVersion }))),
      ),
    ),
  );
  const valuesOf = (c: (typeof combos)[number]) => ({
    ...base,
    'agent.mode': c.mode,
    'authorization.mode': c.authorization,
    'networkPolicy.enabled': c.networkPolicy,
    ...(c.proxy ? { 'proxy.https': 'http://proxy.corp:3128', 'proxy.noProxy': '10.0.0.0/8' } : {}),
  });

  it('passes helm lint --strict in every combination of mode, authorization, proxy, network policy and Kubernetes version', async () => {
    const failures: string[] = [];
    await inBatches(combos, 6, async (c) => {
      const res = await helmLint(agentChart, { kubeVersion: c.kubeVersion, values: valuesOf(c) });
      if (res.code !== 0) failures.push(`${JSON.stringify(c)}\n${res.stdout}${res.stderr}`);
    });
    expect(failures).toEqual([]);
  });

  it('renders exactly the RBAC each combination promises', async () => {
    await inBatches(combos, 6, async (c) => {
      const label = JSON.stringify(c);
      const { objects } = await render(agentChart, { kubeVersion: c.kubeVersion, values: valuesOf(c) });

      // Nothing else: these kinds and no others.
      const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      const expected = [
        'ClusterRole/hawser-hawser-system-cluster-read',
        'ClusterRoleBinding/hawser-hawser-system-cluster-read',
        'ClusterRoleBinding/hawser-hawser-system-view',
        'Deployment/hawser-agent',
        'Role/hawser-agent-state',
        'RoleBinding/hawser-agent-state',
        'Secret/hawser-agent-state',
        'ServiceAccount/hawser-agent',
        ...(c.authorization === 'shared' ? [] : ['ClusterRole/hawser-hawser-system-impersonate', 'ClusterRoleBinding/hawser-hawser-system-impersonate']),
        ...(c.networkPolicy ? ['NetworkPolicy/hawser-agent'] : []),
        // Protected namespaces in the API server: only for agents that may write.
        ...(c.mode === 'read-only'
          ? []
          : ['ValidatingAdmissionPolicy/hawser-hawser-system-protected-namespace-policy', 'ValidatingAdmissionPolicyBinding/hawser-hawser-system-protected-namespace-policy']),
      ].sort();
      expect(kinds, label).toEqual(expected);

      // The agent's own reads: view, plus cluster-scoped get/list/watch, never Secrets.
      const view = objects.find((o) => o.metadata.name === 'hawser-hawser-system-view') as unknown as { roleRef: { kind: string; name: string } };
      expect(view.roleRef, label).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' });
      for (const rule of rulesOf(objects, '-cluster-read')!) {
        expect(rule.verbs, label).toEqual(readVerbs);
        expect(rule.resources, label).not.toContain('secrets');
        expect(rule.resources, label).not.toContain('*');
        expect(rule.apiGroups, label).not.toContain('*');
      }
      // Its only write: get/update of its one state Secret.
      expect(rulesOf(objects, 'hawser-agent-state'), label).toEqual([
        { apiGroups: [''], resources: ['secrets'], resourceNames: ['hawser-agent-state'], verbs: ['get', 'update'] },
      ]);
      const secretRules = allRules(objects).filter((r) => r.resources?.some((x) => x === 'secrets' || x === '*'));
      expect(secretRules.every((r) => r.verbs.every((v) => v.startsWith('impersonate')) || r.resourceNames?.length === 1), label).toBe(true);

      // Impersonation.
      const impersonate = rulesOf(objects, '-impersonate');
      const impersonationVerbs = allRules(objects).flatMap((r) => r.verbs.filter((v) => v.startsWith('impersonate')));
      if (c.authorization === 'shared') {
        expect(impersonationVerbs, label).toEqual([]);
        return;
      }
      const groupsRule = impersonate!.find((r) => r.resources?.includes('groups'))!;
      if (c.authorization === 'tier') expect(groupsRule.resourceNames, label).toEqual(tierGroups);
      else expect(groupsRule.resourceNames, label).toBeUndefined();

      if (c.kubeVersion === '1.36.0') {
        const ceiling = c.mode === 'read-only' ? readVerbs : [...readVerbs, ...writeVerbs];
        expect(impersonate, label).toEqual([
          { apiGroups: ['authentication.k8s.io'], resources: ['users'], verbs: ['impersonate:user-info'] },
          { apiGroups: ['authentication.k8s.io'], resources: ['groups'], ...(c.authorization === 'tier' ? { resourceNames: tierGroups } : {}), verbs: ['impersonate:user-info'] },
          { apiGroups: ['authentication.k8s.io'], resources: ['userextras/hawser.dev/request-id'], verbs: ['impersonate:user-info'] },
          { apiGroups: ['*'], resources: ['*'], verbs: ceiling.map((v) => `impersonate-on:user-info:${v}`) },
          ...selfReviewRules,
          { nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/openapi', '/openapi/*'], verbs: ['impersonate-on:user-info:get'] },
          { nonResourceURLs: healthURLs, verbs: ['impersonate-on:user-info:get'] },
        ]);
        // Never the legacy verb next to the constrained ones: it would lift the ceiling.
        expect(impersonationVerbs, label).not.toContain('impersonate');
        if (c.mode === 'read-only') {
          // The only create is on the self-reviews, which change nothing.
          for (const rule of impersonate!.filter((r) => !selfReviewRules.some((x) => JSON.stringify(x) === JSON.stringify(r)))) {
            for (const v of rule.verbs) expect(v, label).not.toMatch(/create|update|patch|delete|exec|attach|portforward|escalate|bind/);
          }
        }
        // No service accounts, nodes or uids; one extra key.
        const identities = impersonate!.filter((r) => r.verbs.includes('impersonate:user-info')).flatMap((r) => r.resources ?? []);
        expect(identities.sort(), label).toEqual(['groups', 'userextras/hawser.dev/request-id', 'users']);
      } else {
        expect(impersonate, label).toEqual([
          { apiGroups: [''], resources: ['users'], verbs: ['impersonate'] },
          { apiGroups: [''], resources: ['groups'], ...(c.authorization === 'tier' ? { resourceNames: tierGroups } : {}), verbs: ['impersonate'] },
          { apiGroups: ['authentication.k8s.io'], resources: ['userextras/hawser.dev/request-id'], verbs: ['impersonate'] },
        ]);
      }

      // The agent contract.
      const env = envOf(objects);
      expect(env, label).toMatchObject({
        HAWSER_SERVER_URL: 'https://hawser.example.com:8444',
        HAWSER_STATE_SECRET: 'hawser-agent-state',
        POD_NAMESPACE: '(ref)',
        HAWSER_MODE: c.mode,
        HAWSER_IMPERSONATION_PREFIX: 'hawser:',
        HAWSER_AUTHZ_MODE: c.authorization,
        HAWSER_HEALTH_ADDR: '0.0.0.0:8080',
        HAWSER_LOG_LEVEL: 'info',
      });
      if (c.proxy) expect(env, label).toMatchObject({ HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: '10.0.0.0/8' });
      else expect(env.HTTPS_PROXY, label).toBeUndefined();

      // Egress only to DNS, the API server and the server or the proxy; no ingress.
      if (c.networkPolicy) {
        const np = objects.find((o) => o.kind === 'NetworkPolicy') as unknown as {
          spec: { policyTypes: string[]; ingress: unknown[]; egress: { ports: { port: number }[] }[] };
        };
        expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress']);
        expect(np.spec.ingress).toEqual([]);
        expect(np.spec.egress.map((e) => e.ports.map((p) => p.port))).toEqual([[53, 53], [443, 6443], c.proxy ? [3128, 8080] : [443, 8444]]);
      }
    });
  });

  it('hardens the pod', async () => {
    const { objects } = await render(agentChart, { values: base });
    const spec = podSpec(objects);
    expect(spec).toMatchObject({
      serviceAccountName: 'hawser-agent',
      automountServiceAccountToken: true,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    const container = spec.containers[0]!;
    // The image's hawser-agent runs node --lite-mode; agent.jit picks the one with the compilers.
    expect(container.command).toEqual(['hawser-agent']);
    expect(container.args).toBeUndefined();
    expect(podSpec((await render(agentChart, { values: { ...base, 'agent.jit': true } })).objects).containers[0]!.command).toEqual(['hawser-agent-jit']);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'health' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.resources?.requests).toBeDefined();
    expect(container.resources?.limits).toBeDefined();
  });

  it('follows impersonation.constrained over the detected Kubernetes version', async () => {
    const legacyOn136 = await render(agentChart, { kubeVersion: '1.36.0', values: { ...base, 'impersonation.constrained': 'disabled' } });
    expect(rulesOf(legacyOn136.objects, '-impersonate')!.flatMap((r) => r.verbs)).toEqual(['impersonate', 'impersonate', 'impersonate']);
    const constrainedOn135 = await render(agentChart, { kubeVersion: '1.35.0', values: { ...base, 'impersonation.constrained': 'enabled' } });
    expect(rulesOf(constrainedOn135.objects, '-impersonate')!.flatMap((r) => r.verbs)).toContain('impersonate-on:user-info:get');
    // Offline, without --kube-version, helm 4.3 assumes v1.36 (docs/operations-helm.md says so).
    const offline = await render(agentChart, { values: base });
    expect(rulesOf(offline.objects, '-impersonate')!.flatMap((r) => r.verbs)).toContain('impersonate-on:user-info:get');
  });

  it('uses the impersonation prefix for the tier groups', async () => {
    const { objects } = await render(agentChart, { kubeVersion: '1.36.0', values: { ...base, 'impersonation.prefix': 'acme:', 'authorization.tiers': ['read', 'admin'] } });
    expect(rulesOf(objects, '-impersonate')!.find((r) => r.resources?.includes('groups'))!.resourceNames).toEqual(['acme:tier:read', 'acme:tier:admin']);
    expect(envOf(objects).HAWSER_IMPERSONATION_PREFIX).toBe('acme:');
  });

  it('binds the tier groups, never the agent, only when tierBindings.enabled', async () => {
    const off = await render(agentChart, { values: base });
    expect(off.objects.filter((o) => o.metadata.name.includes('-tier-'))).toEqual([]);
    const on = await render(agentChart, { values: { ...base, 'tierBindings.enabled': true, 'tierBindings.roles.triage': '' } });
    const bindings = on.objects.filter((o) => o.metadata.name.includes('-tier-')) as unknown as {
      roleRef: { name: string };
      subjects: { kind: string; name: string }[];
    }[];
    expect(bindings.map((b) => [b.subjects, b.roleRef.name])).toEqual([
      [[{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'hawser:tier:read' }], 'view'],
      [[{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'hawser:tier:write' }], 'edit'],
      [[{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'hawser:tier:maintain' }], 'edit'],
      [[{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'hawser:tier:admin' }], 'admin'],
    ]);
    const raw = await render(agentChart, { values: { ...base, 'tierBindings.enabled': true, 'authorization.mode': 'raw' } });
    expect(raw.objects.filter((o) => o.metadata.name.includes('-tier-'))).toEqual([]);
  });

  it('mounts the bootstrap token from its own Secret or an existing one', async () => {
    const none = await render(agentChart, { values: base });
    expect(envOf(none.objects).HAWSER_BOOTSTRAP_TOKEN_FILE).toBeUndefined();
    expect(none.objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual(['hawser-agent-state']);

    const token = await render(agentChart, { values: { ...base, 'bootstrap.token': 'eyJ.test.token', 'server.caHash': `sha256:${'a'.repeat(64)}` } });
    const secret = token.objects.find((o) => o.metadata.name === 'hawser-agent-bootstrap') as unknown as { stringData: { token: string } };
    expect(secret.stringData).toEqual({ token: 'eyJ.test.token' });
    expect(envOf(token.objects)).toMatchObject({ HAWSER_BOOTSTRAP_TOKEN_FILE: '/var/run/hawser/bootstrap/token', HAWSER_CA_HASH: `sha256:${'a'.repeat(64)}` });
    expect(podSpec(token.objects).volumes).toContainEqual({
      name: 'bootstrap',
      secret: { secretName: 'hawser-agent-bootstrap', optional: true, defaultMode: 0o400 },
    });

    const both = await helmTemplate(agentChart, { values: { ...base, 'bootstrap.token': 't', 'bootstrap.existingSecret': 'my-token' } });
    expect(both.stderr).toContain('set bootstrap.token or bootstrap.existingSecret, not both');

    const existing = await render(agentChart, { values: { ...base, 'bootstrap.existingSecret': 'my-token' } });
    expect(existing.objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name)).toEqual(['hawser-agent-state']);
    expect(podSpec(existing.objects).volumes).toContainEqual({ name: 'bootstrap', secret: { secretName: 'my-token', optional: true, defaultMode: 0o400 } });

    // The kubectl path of `hawser cluster add`: URL and CA hash come from that Secret.
    const kubectlPath = await render(agentChart, { values: { 'bootstrap.existingSecret': 'hawser-agent-bootstrap' } });
    const env = podSpec(kubectlPath.objects).containers[0]!.env!;
    expect(env.find((e) => e.name === 'HAWSER_SERVER_URL')?.valueFrom).toEqual({
      secretKeyRef: { name: 'hawser-agent-bootstrap', key: 'server-url', optional: true },
    });
    expect(env.find((e) => e.name === 'HAWSER_CA_HASH')?.valueFrom).toEqual({
      secretKeyRef: { name: 'hawser-agent-bootstrap', key: 'ca-hash', optional: true },
    });
  });

  it('names cluster-scoped objects after the release and its namespace', async () => {
    const { objects } = await render(agentChart, { release: 'rel', namespace: 'team-a', values: base });
    const names = objects.filter((o) => o.kind.startsWith('Cluster')).map((o) => o.metadata.name);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name.startsWith('rel-team-a-')).toBe(true);
  });
});

describe('the hawser-agent values schema', () => {
  const refused = async (values: Record<string, unknown>, drop?: 'server.url') => {
    const res = await helmTemplate(agentChart, { values: drop ? values : { ...base, ...values } });
    expect(res.code).not.toBe(0);
    return res.stderr;
  };

  it('refuses an unknown key, naming it', async () => {
    expect(await refused({ 'agent.mood': 'x' })).toContain("at '/agent': additional properties 'mood' not allowed");
    expect(await refused({ extra: true })).toContain("at '': additional properties 'extra' not allowed");
  });

  it('refuses an unknown agent mode, listing the allowed ones', async () => {
    expect(await refused({ 'agent.mode': 'admin' })).toContain("at '/agent/mode': value must be one of 'read-only', 'read-write', 'full'");
  });

  it('refuses an unknown authorization mode', async () => {
    expect(await refused({ 'authorization.mode': 'everyone' })).toContain("at '/authorization/mode': value must be one of 'tier', 'raw', 'shared'");
  });

  it('refuses a CA hash that is not sha256:<64 hex>', async () => {
    expect(await refused({ 'server.caHash': 'sha256:abc' })).toContain("at '/server/caHash': 'sha256:abc' does not match pattern");
    expect(await refused({ 'server.caHash': 'A'.repeat(64) })).toContain("at '/server/caHash'");
  });

  it('refuses a missing or non-https server URL', async () => {
    expect(await refused({}, 'server.url')).toContain("at '/server': missing property 'url'");
    expect(await refused({ 'bootstrap.token': 'eyJ.x.y' }, 'server.url')).toContain("at '/server': missing property 'url'");
    expect(await refused({ 'server.url': 'http://plain:8444' })).toContain("at '/server/url': 'http://plain:8444' does not match pattern");
  });

  it('refuses an impersonation prefix under system:', async () => {
    expect(await refused({ 'impersonation.prefix': 'system:' })).toContain("at '/impersonation/prefix'");
  });
});

// The security promise, checked on a real API server: the agent's rights are
// exactly what docs/security.md shows, no more.
describe('the hawser-agent chart on the real API server', () => {
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let removeChart: (() => Promise<void>) | undefined;
  let token: string;
  let kubeconfigDir: string;
  const sa = () => `system:serviceaccount:${ns.name}:hawser-agent`;
  const secret = (name: string, namespace = ns.name) => `/api/v1/namespaces/${namespace}/secrets/${name}`;

  beforeAll(async () => {
    ns = await createNamespace();
    const cluster = testCluster();
    const { yaml } = await render(agentChart, {
      release: 'hawser',
      namespace: ns.name,
      kubeVersion: cluster.version ?? (await serverVersion()),
      values: base,
    });
    removeChart = await applyChart(yaml, ns.name);
    token = await serviceAccountToken(ns.name, 'hawser-agent', { create: false });
    await applyYaml(`apiVersion: v1\nkind: Secret\nmetadata: { name: other }\nstringData: { password: hunter2 }`, { namespace: ns.name });
    // A kubeconfig holding only the agent's own token.
    kubeconfigDir = await mkdtemp(join(tmpdir(), 'hawser-agent-kc-'));
    await writeFile(
      join(kubeconfigDir, 'config'),
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: cluster.server, 'certificate-authority-data': Buffer.from(cluster.ca).toString('base64') } }],
        users: [{ name: 'agent', user: { token } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'agent', namespace: ns.name } }],
        'current-context': 'c',
      }),
    );
    await eventually(async () => expect((await kubeRequest(secret('hawser-agent-state'), { token })).status).toBe(200));
  });
  afterAll(async () => {
    await removeChart?.();
    await ns?.remove();
    if (kubeconfigDir) await rm(kubeconfigDir, { recursive: true, force: true });
  });

  it('gives the agent exactly the rights docs/security.md lists (read-only, tier)', async () => {
    const asAgent = await kubectl(['auth', 'can-i', '--list', `--as=${sa()}`, '-n', ns.name]);
    expect(asAgent.code, asAgent.stderr).toBe(0);
    const ownToken = await kubectl(['auth', 'can-i', '--list', '-n', ns.name], { kubeconfig: join(kubeconfigDir, 'config') });
    expect(ownToken.code, ownToken.stderr).toBe(0);
    expect(table(ownToken.stdout)).toEqual(table(asAgent.stdout));

    if (!testCluster().external) {
      // The documented output is from the version we build; an external
      // cluster's `view` differs, so only the reference check below applies.
      expect(table(asAgent.stdout)).toEqual(table(await documentedCanIList()));
      // Without -n (namespace default) the same table lacks only the state Secret.
      const elsewhere = await kubectl(['auth', 'can-i', '--list', `--as=${sa()}`, '-n', 'default']);
      expect(table(elsewhere.stdout)).toEqual(table(await documentedCanIList()).filter((r) => !r.startsWith('secrets ')));
    }
  });

  it('adds nothing to view but the documented cluster reads, the state Secret and impersonation', async () => {
    // A reference account bound to view alone: whatever the agent has beyond it
    // must be exactly this list. A new or widened rule fails here.
    const reference = uniqueName('view-only');
    await serviceAccountToken(ns.name, reference);
    const binding = `${ns.name}-${reference}`;
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${binding} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: ${reference}, namespace: ${ns.name} }]`);
    try {
      const refRows = await eventuallyRows(`system:serviceaccount:${ns.name}:${reference}`, ns.name, (rows) => rows.some((r) => r.startsWith('pods ')));
      const agentRows = table((await kubectl(['auth', 'can-i', '--list', `--as=${sa()}`, '-n', ns.name])).stdout);
      expect(beyond(refRows, agentRows)).toEqual([]);
      expect(beyond(agentRows, refRows)).toEqual(
        [
          ...selfReviewRows,
          requestIdRow,
          ...AGENT_OWN_ROWS,
          '*.* [] [] [impersonate-on:user-info:get impersonate-on:user-info:list impersonate-on:user-info:watch]',
          '[/api/*] [] [impersonate-on:user-info:get]',
          '[/api] [] [impersonate-on:user-info:get]',
          '[/apis/*] [] [impersonate-on:user-info:get]',
          '[/apis] [] [impersonate-on:user-info:get]',
          '[/openapi/*] [] [impersonate-on:user-info:get]',
          '[/openapi] [] [impersonate-on:user-info:get]',
          '[/version] [] [impersonate-on:user-info:get]',
          ...healthRows,
          ...tierGroups.map((g) => `groups.authentication.k8s.io [] [${g}] [impersonate:user-info]`),
          'users.authentication.k8s.io [] [] [impersonate:user-info]',
        ].sort(),
      );
    } finally {
      await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found', '--wait=false']);
    }
  });

  it('refuses the agent every Secret but its state Secret', async () => {
    expect((await kubeRequest(secret('other'), { token })).status).toBe(403);
    expect((await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets`, { token })).status).toBe(403);
    expect((await kubeRequest('/api/v1/secrets', { token })).status).toBe(403);
    expect((await kubeRequest(secret('anything', 'kube-system'), { token })).status).toBe(403);
    expect((await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets?watch=1`, { token })).status).toBe(403);
  });

  it('lets the agent get and update its state Secret, and nothing more', async () => {
    const got = await kubeRequest(secret('hawser-agent-state'), { token });
    expect(got.status).toBe(200);
    const state = got.json() as { metadata: Record<string, unknown>; data?: Record<string, string>; type: string };
    expect(state.data).toBeUndefined(); // created empty
    expect(state.type).toBe('Opaque');
    const updated = await kubeRequest(secret('hawser-agent-state'), {
      token,
      method: 'PUT',
      body: { ...state, data: { 'tls.key': Buffer.from('k').toString('base64') } },
    });
    expect(updated.status).toBe(200);
    expect((await kubeRequest(secret('hawser-agent-state'), { token, method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' }, body: {} })).status).toBe(403);
    expect((await kubeRequest(secret('hawser-agent-state'), { token, method: 'DELETE' })).status).toBe(403);
    const created = await kubeRequest(`/api/v1/namespaces/${ns.name}/secrets`, {
      token,
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'new' } },
    });
    expect(created.status).toBe(403);
  });

  it('lets the agent read workloads and cluster-scoped kinds but write nothing as itself', async () => {
    for (const path of ['/api/v1/pods', '/api/v1/nodes', '/api/v1/namespaces', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', '/apis/storage.k8s.io/v1/storageclasses']) {
      expect((await kubeRequest(path, { token })).status, path).toBe(200);
    }
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } };
    expect((await kubeRequest(`/api/v1/namespaces/${ns.name}/configmaps`, { token, method: 'POST', body: cm })).status).toBe(403);
    expect((await kubeRequest('/apis/rbac.authorization.k8s.io/v1/clusterroles', { token })).status).toBe(403);
  });
});

// The other modes, each in its own namespace: the rows the agent holds beyond
// a view-only account are exactly the ones docs/security.md describes.
describe('the hawser-agent chart on the real API server, per mode', () => {
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let refRows: string[];
  let removeRef: (() => Promise<void>) | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  const discoveryRows = [...['/api/*', '/api', '/apis/*', '/apis', '/openapi/*', '/openapi', '/version'].map((u) => `[${u}] [] [impersonate-on:user-info:get]`), ...healthRows];

  beforeAll(async () => {
    ns = await createNamespace();
    const reference = 'view-only';
    await serviceAccountToken(ns.name, reference);
    const binding = `${ns.name}-${reference}`;
    await applyYaml(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: ${binding} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view }
subjects: [{ kind: ServiceAccount, name: ${reference}, namespace: ${ns.name} }]`);
    removeRef = async () => void (await kubectl(['delete', 'clusterrolebinding', binding, '--ignore-not-found', '--wait=false']));
    refRows = await eventuallyRows(`system:serviceaccount:${ns.name}:${reference}`, ns.name, (rows) => rows.some((r) => r.startsWith('pods ')));
  });
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await removeRef?.();
    await ns?.remove();
  });

  /** Installs the chart in its own namespace and returns the agent's rows beyond view. */
  async function extraRows(values: Record<string, unknown>, kubeVersion: string): Promise<{ rows: string[]; namespace: string; token: string }> {
    const own = await createNamespace();
    cleanups.push(own.remove);
    const { yaml } = await render(agentChart, { release: 'hawser', namespace: own.name, kubeVersion, values: { ...base, ...values } });
    cleanups.push(await applyChart(yaml, own.name));
    const rows = await eventuallyRows(`system:serviceaccount:${own.name}:hawser-agent`, own.name, (r) => r.some((x) => x.startsWith('secrets ')));
    expect(beyond(refRows, rows)).toEqual([]);
    return { rows: beyond(rows, refRows), namespace: own.name, token: await serviceAccountToken(own.name, 'hawser-agent', { create: false }) };
  }

  it('adds the write verbs to the ceiling and drops the group names in read-write, raw mode', async () => {
    const { rows } = await extraRows({ 'agent.mode': 'read-write', 'authorization.mode': 'raw' }, '1.36.0');
    const verbs = [...readVerbs, ...writeVerbs].map((v) => `impersonate-on:user-info:${v}`).sort().join(' ');
    expect(rows).toEqual(
      [
        ...AGENT_OWN_ROWS,
        `*.* [] [] [${verbs}]`,
        ...selfReviewRows,
        ...discoveryRows,
        'groups.authentication.k8s.io [] [] [impersonate:user-info]',
        requestIdRow,
        'users.authentication.k8s.io [] [] [impersonate:user-info]',
      ].sort(),
    );
  });

  it('grants no impersonation at all in shared mode', async () => {
    const { rows } = await extraRows({ 'authorization.mode': 'shared' }, '1.36.0');
    expect(rows).toEqual([...AGENT_OWN_ROWS].sort());
  });

  it('falls back to legacy impersonation for a 1.35 cluster, which the API server cannot cap', async () => {
    const { rows, namespace, token } = await extraRows({}, '1.35.0');
    expect(rows).toEqual(
      [
        ...AGENT_OWN_ROWS,
        ...tierGroups.map((g) => `groups [] [${g}] [impersonate]`),
        'users [] [] [impersonate]',
        'userextras.authentication.k8s.io/hawser.dev/request-id [] [] [impersonate]',
      ].sort(),
    );
    // The documented risk: as a user bound to admin, the legacy rules allow a write.
    const boss = 'hawser:boss';
    await applyYaml(
      `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: boss-admin }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin }
subjects: [{ kind: User, name: "${boss}", apiGroup: rbac.authorization.k8s.io }]`,
      { namespace },
    );
    await eventually(async () => {
      const res = await kubeRequest(`/api/v1/namespaces/${namespace}/configmaps`, {
        token,
        method: 'POST',
        headers: { 'Impersonate-User': boss },
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: uniqueName('legacy') } },
      });
      expect(res.status).toBe(201);
    });
  });

  it('meets the restricted Pod Security Standard', async () => {
    const psa = await createNamespace();
    cleanups.push(psa.remove);
    await kubectl(['label', 'namespace', psa.name, 'pod-security.kubernetes.io/warn=restricted']);
    // Rendered the kubectl-path way (URL, CA hash and token from an existing
    // Secret), so the API server also validates those secretKeyRefs.
    const { objects } = await render(agentChart, { release: 'hawser', namespace: psa.name, values: { 'bootstrap.existingSecret': 'hawser-agent-bootstrap' } });
    const deployment = objects.find((o) => o.kind === 'Deployment')!;
    const applied = await kubectl(['apply', '--server-side', '-n', psa.name, '-f', '-'], { input: JSON.stringify(deployment) });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).not.toContain('PodSecurity');
    // The check is live: a privileged template does draw the warning.
    const bad = structuredClone(deployment) as unknown as { metadata: { name: string }; spec: { template: { spec: V1PodSpec } } };
    bad.metadata.name = 'privileged';
    bad.spec.template.spec.containers[0]!.securityContext = { privileged: true };
    const warned = await kubectl(['apply', '--server-side', '-n', psa.name, '-f', '-'], { input: JSON.stringify(bad) });
    expect(warned.stderr).toContain('would violate PodSecurity "restricted:latest"');
  });
});

/** The `can-i --list` output recorded in docs/security.md (between its markers). */
async function documentedCanIList(): Promise<string> {
  const doc = await readFile(resolve(import.meta.dirname, '../../docs/security.md'), 'utf8');
  const match = /<!-- can-i-list: read-only tier -->\s*```text\n([\s\S]*?)```/.exec(doc);
  if (!match) throw new Error('docs/security.md lost its "can-i-list: read-only tier" block');
  return match[1]!;
}

/**
 * The rights in `rows` that `other` lacks, as rows holding only the missing
 * verbs (can-i merges the verbs of rules on the same resource into one row).
 */
function beyond(rows: string[], other: string[]): string[] {
  const parse = (row: string) => {
    const m = /^(.*) \[([^\]]*)\]$/.exec(row)!;
    return { key: m[1]!, verbs: m[2]!.split(' ').filter(Boolean) };
  };
  const theirs = new Map<string, Set<string>>();
  for (const row of other) {
    const { key, verbs } = parse(row);
    theirs.set(key, new Set([...(theirs.get(key) ?? []), ...verbs]));
  }
  const result: string[] = [];
  for (const row of rows) {
    const { key, verbs } = parse(row);
    const extra = verbs.filter((v) => !theirs.get(key)?.has(v));
    if (extra.length) result.push(`${key} [${extra.join(' ')}]`);
  }
  return result.sort();
}

/**
 * can-i --list rows, whitespace-normalized and sorted (the header dropped).
 * Verbs inside a row are sorted too: their order follows whichever binding
 * the authorizer visited first.
 */
function table(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().replace(/\s+/g, ' '))
    .map((line) => line.replace(/\[([^\]]*)\]$/, (_m, verbs: string) => `[${verbs.split(' ').sort().join(' ')}]`))
    .filter((line) => line && !line.startsWith('Resources '))
    .sort();
}

async function eventuallyRows(user: string, namespace: string, ready: (rows: string[]) => boolean): Promise<string[]> {
  let rows: string[] = [];
  await eventually(async () => {
    rows = table((await kubectl(['auth', 'can-i', '--list', `--as=${user}`, '-n', namespace])).stdout);
    expect(ready(rows)).toBe(true);
  });
  return rows;
}

async function serverVersion(): Promise<string> {
  const res = await kubectl(['version', '-o', 'json']);
  return (JSON.parse(res.stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}
