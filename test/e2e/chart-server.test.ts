import type { V1Container, V1DeploymentSpec, V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChart, helmLint, helmTemplate, render, serverChart, type Manifest } from '../support/charts.js';
import { createNamespace, kubectl } from '../support/kube.js';

const base = { publicUrl: 'https://hawser.example.com', agentUrl: 'https://hawser-agents.example.com:8444' };
const scaled = { ...base, replicaCount: 3, 'database.existingSecret': 'hawser-db', 'pki.existingSecret': 'hawser-pki' };
const oidc = { 'oidc.enabled': true, 'oidc.issuer': 'https://idp.example.com/realms/ops', 'oidc.audience': 'hawser' };

const deploymentOf = (objects: Manifest[]) =>
  (objects.find((o) => o.kind === 'Deployment') as unknown as { spec: V1DeploymentSpec & { template: { spec: V1PodSpec } } }).spec;
const containerOf = (objects: Manifest[]): V1Container => deploymentOf(objects).template.spec.containers[0]!;
const envOf = (objects: Manifest[]) => Object.fromEntries((containerOf(objects).env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('the hawser-server chart, rendered', () => {
  const combos = [
    { name: 'one replica, embedded database', values: base },
    { name: 'one replica, OIDC, raw', values: { ...base, ...oidc, 'authorization.mode': 'raw' } },
    { name: 'three replicas on PostgreSQL, shared CA', values: scaled },
    { name: 'three replicas, OIDC, L4 agent Service, ServiceMonitor', values: { ...scaled, ...oidc, 'agentService.enabled': true, 'serviceMonitor.enabled': true } },
    { name: 'one replica, shared mode, no PDB', values: { ...base, 'authorization.mode': 'shared', 'podDisruptionBudget.enabled': false } },
  ];

  it('passes helm lint --strict for single-replica, scaled, OIDC, L4 and monitoring setups', async () => {
    const results = await Promise.all(combos.map(async (c) => ({ c, res: await helmLint(serverChart, { values: c.values }) })));
    expect(results.filter((r) => r.res.code !== 0).map((r) => `${r.c.name}: ${r.res.stdout}${r.res.stderr}`)).toEqual([]);
  });

  it('runs `hawser server` with both listeners, the public and agent URLs and the service names in the certificate', async () => {
    const { objects } = await render(serverChart, { release: 'hawser', namespace: 'hawser', values: base });
    const container = containerOf(objects);
    expect(container.command).toEqual(['hawser']);
    expect(container.args).toEqual([
      'server',
      '--data-dir=/var/lib/hawser',
      '--listen=0.0.0.0:8443',
      '--agent-listen=0.0.0.0:8444',
      '--public-url=https://hawser.example.com',
      '--agent-url=https://hawser-agents.example.com:8444',
      '--token-ttl=1h',
      '--certificate-ttl=30d',
      '--log-level=info',
      '--metrics-listen=0.0.0.0:9090',
      '--drain-timeout=25s',
      '--server-name=hawser-hawser-server',
      '--server-name=hawser-hawser-server.hawser',
      '--server-name=hawser-hawser-server.hawser.svc',
      '--server-name=hawser.example.com',
      '--server-name=hawser-agents.example.com',
    ]);
    expect(container.ports).toEqual([
      { name: 'operator', containerPort: 8443, protocol: 'TCP' },
      { name: 'agent', containerPort: 8444, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    expect(container.startupProbe?.httpGet).toEqual({ path: '/livez', port: 'metrics' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(envOf(objects)).toMatchObject({ HAWSER_AUTHZ_MODE: 'tier', HAWSER_IMPERSONATION_PREFIX: 'hawser:' });
    expect(envOf(objects).HAWSER_OIDC_ISSUER).toBeUndefined();
  });

  it('hardens the pod and gives it no Kubernetes API access', async () => {
    const { objects } = await render(serverChart, { values: base });
    const spec = deploymentOf(objects).template.spec;
    expect(spec).toMatchObject({
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    expect(containerOf(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(objects.find((o) => o.kind === 'ServiceAccount')).toMatchObject({ automountServiceAccountToken: false });
    expect(objects.filter((o) => /Role/.test(o.kind))).toEqual([]);
  });

  it('keeps one replica on a PersistentVolumeClaim that survives uninstall, recreated rather than rolled', async () => {
    const { objects } = await render(serverChart, { values: base });
    const pvc = objects.find((o) => o.kind === 'PersistentVolumeClaim')!;
    expect(pvc.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(deploymentOf(objects).strategy?.type).toBe('Recreate');
    expect(deploymentOf(objects).template.spec.volumes?.[0]).toEqual({ name: 'data', persistentVolumeClaim: { claimName: 'hawser-hawser-server-data' } });
    expect(envOf(objects).HAWSER_DATABASE_URL).toBeUndefined();
  });

  it('scales on PostgreSQL from a Secret with the CA and signing key mounted read-only from another', async () => {
    const { objects } = await render(serverChart, { values: { ...scaled, 'pki.trustedBundle': true } });
    const deployment = deploymentOf(objects);
    expect(deployment.replicas).toBe(3);
    expect(deployment.strategy?.type).toBe('RollingUpdate');
    expect(objects.find((o) => o.kind === 'PersistentVolumeClaim')).toBeUndefined();
    expect(envOf(objects).HAWSER_DATABASE_URL).toEqual({ secretKeyRef: { name: 'hawser-db', key: 'url' } });
    const mounts = containerOf(objects).volumeMounts ?? [];
    expect(mounts.filter((m) => m.name === 'pki')).toEqual(
      ['ca.crt', 'ca.key', 'token-signing-key.pem', 'admin-token', 'ca-trusted.crt'].map((f) => ({ name: 'pki', mountPath: `/var/lib/hawser/${f}`, subPath: f, readOnly: true })),
    );
    expect(deployment.template.spec.volumes?.find((v) => v.name === 'data')).toEqual({ name: 'data', emptyDir: { sizeLimit: '256Mi' } });
    // Replicas find each other through a headless Service.
    const peers = objects.find((o) => o.metadata.name.endsWith('-peers')) as unknown as { spec: { clusterIP: string } };
    expect(peers.spec.clusterIP).toBe('None');
  });

  it('runs replicas with their pod name as replica id, a peer port on the headless Service and the pod DNS name as the peer address', async () => {
    const { objects } = await render(serverChart, { release: 'hawser', namespace: 'fleet', values: scaled });
    const deployment = deploymentOf(objects);
    const container = containerOf(objects);
    expect(container.args).toEqual(expect.arrayContaining([
      '--drain-timeout=25s',
      '--replica-id=$(POD_NAME)',
      '--peer-listen=0.0.0.0:8445',
      '--peer-advertise=https://$(POD_NAME).hawser-hawser-server-peers.fleet.svc:8445',
    ]));
    expect(envOf(objects).POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(container.ports).toContainEqual({ name: 'peer', containerPort: 8445, protocol: 'TCP' });
    // The pod's subdomain is the headless Service, so its own DNS name resolves to it.
    expect(deployment.template.spec.subdomain).toBe('hawser-hawser-server-peers');
    const peers = objects.find((o) => o.metadata.name === 'hawser-hawser-server-peers') as unknown as { spec: Record<string, unknown> };
    expect(peers.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true, ports: [{ name: 'peer', port: 8445, targetPort: 'peer', protocol: 'TCP' }] });
    expect(objects.find((o) => o.kind === 'PodDisruptionBudget')).toMatchObject({ spec: { maxUnavailable: 1 } });
    // One replica on the embedded store has no peers to forward to.
    const single = await render(serverChart, { values: base });
    expect(containerOf(single.objects).args?.filter((a) => /replica-id|peer-/.test(a))).toEqual([]);
  });

  it('gives the drain its time: a preStop sleep, then SIGTERM with --drain-timeout, within the termination grace', async () => {
    const { objects } = await render(serverChart, { values: { ...scaled, 'drain.timeoutSeconds': 40, 'drain.preStopSeconds': 10, terminationGracePeriodSeconds: 55 } });
    const spec = deploymentOf(objects).template.spec;
    expect(spec.terminationGracePeriodSeconds).toBe(55);
    expect(containerOf(objects).lifecycle).toEqual({ preStop: { sleep: { seconds: 10 } } });
    expect(containerOf(objects).args).toContain('--drain-timeout=40s');
    const none = await render(serverChart, { values: { ...base, 'drain.preStopSeconds': 0 } });
    expect(containerOf(none.objects).lifecycle).toBeUndefined();
    const short = await helmTemplate(serverChart, { values: { ...scaled, terminationGracePeriodSeconds: 20 } });
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('terminationGracePeriodSeconds (20) must cover the drain: drain.preStopSeconds + drain.timeoutSeconds + 5 = 35');
  });

  it('passes OIDC and the tier mapping to the server', async () => {
    const { objects } = await render(serverChart, { values: { ...base, ...oidc, 'authorization.tierGroups': { admin: ['platform'], read: ['everyone'] } } });
    expect(envOf(objects)).toMatchObject({
      HAWSER_OIDC_ISSUER: 'https://idp.example.com/realms/ops',
      HAWSER_OIDC_AUDIENCE: 'hawser',
      HAWSER_OIDC_USERNAME_CLAIM: 'email',
      HAWSER_OIDC_GROUPS_CLAIM: 'groups',
      HAWSER_TIER_GROUPS: JSON.stringify({ admin: ['platform'], maintain: [], read: ['everyone'], triage: [], write: [] }),
    });
  });

  it('offers the agent port as an L4 Service and the operator port to monitoring only when asked', async () => {
    const plain = await render(serverChart, { values: base });
    expect(plain.objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Service', 'Service', 'Service', 'ServiceAccount']);
    // /metrics only inside the cluster, on a Service of its own.
    const metrics = plain.objects.find((o) => o.metadata.name.endsWith('-metrics')) as unknown as { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> };
    expect(metrics.spec).toMatchObject({ type: 'ClusterIP', ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics' }] });
    expect(metrics.metadata.labels['app.kubernetes.io/component']).toBe('metrics');
    const full = await render(serverChart, { values: { ...base, 'agentService.enabled': true, 'agentService.loadBalancerSourceRanges': ['203.0.113.0/24'], 'serviceMonitor.enabled': true } });
    const agent = full.objects.find((o) => o.metadata.name.endsWith('-agent')) as unknown as { spec: Record<string, unknown> };
    expect(agent.spec).toMatchObject({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerSourceRanges: ['203.0.113.0/24'], ports: [{ name: 'agent', port: 8444, targetPort: 'agent', protocol: 'TCP' }] });
    expect(full.objects.find((o) => o.kind === 'ServiceMonitor')).toMatchObject({
      spec: { selector: { matchLabels: { 'app.kubernetes.io/component': 'metrics' } }, endpoints: [{ port: 'metrics', scheme: 'http', path: '/metrics' }] },
    });
  });

  it('refuses setups that would lose the CA or split the fleet, saying what to set', async () => {
    const refusal = async (values: Record<string, unknown>) => {
      const res = await helmTemplate(serverChart, { values });
      expect(res.code).not.toBe(0);
      return res.stderr;
    };
    expect(await refusal({ ...base, replicaCount: 2 })).toContain('replicaCount > 1 needs PostgreSQL: set database.existingSecret');
    expect(await refusal({ ...base, replicaCount: 2, 'database.existingSecret': 'db' })).toContain('replicaCount > 1 needs one CA and token signing key for all replicas: set pki.existingSecret');
    expect(await refusal({ ...base, 'persistence.enabled': false })).toContain('without persistence the CA created on first start is lost on restart');
  });
});

describe('the hawser-server values schema', () => {
  const refused = async (values: Record<string, unknown>) => {
    const res = await helmTemplate(serverChart, { values });
    expect(res.code).not.toBe(0);
    return res.stderr;
  };

  it('refuses an unknown key, naming it', async () => {
    expect(await refused({ ...base, replicas: 2 })).toContain("at '': additional properties 'replicas' not allowed");
    expect(await refused({ ...base, 'oidc.clientSecret': 'x' })).toContain("at '/oidc': additional properties 'clientSecret' not allowed");
  });

  it('refuses several replicas without PostgreSQL, saying so', async () => {
    const err = await refused({ ...base, replicaCount: 2, 'pki.existingSecret': 'hawser-pki' });
    expect(err).toContain("at '/database/existingSecret'");
    expect(err).toContain('replicaCount > 1 needs PostgreSQL: set database.existingSecret');
    expect(await refused({ ...base, 'peer.port': 8443 })).toContain("at '/peer/port'");
    expect(await refused({ ...base, 'drain.timeoutSeconds': 0 })).toContain("at '/drain/timeoutSeconds'");
  });

  it('refuses an unknown authorization mode', async () => {
    expect(await refused({ ...base, 'authorization.mode': 'all' })).toContain("at '/authorization/mode': value must be one of 'tier', 'raw', 'shared'");
  });

  it('refuses missing or non-https URLs', async () => {
    expect(await refused({ agentUrl: base.agentUrl })).toContain("missing property 'publicUrl'");
    expect(await refused({ ...base, agentUrl: 'http://agents:8444' })).toContain("at '/agentUrl': 'http://agents:8444' does not match pattern");
  });

  it('refuses OIDC without an issuer and audience', async () => {
    const err = await refused({ ...base, 'oidc.enabled': true });
    expect(err).toContain("at '/oidc/issuer'");
    expect(err).toContain("at '/oidc/audience'");
  });
});

describe('the hawser-server chart on the real API server', () => {
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let remove: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ns = await createNamespace();
  });
  afterAll(async () => {
    await remove?.();
    await ns?.remove();
  });

  it('is accepted by the API server as rendered (scaled, OIDC, L4 agent Service)', async () => {
    const { yaml, objects } = await render(serverChart, {
      release: 'hawser',
      namespace: ns.name,
      values: { ...scaled, ...oidc, 'agentService.enabled': true },
    });
    remove = await applyChart(yaml, ns.name);
    // Every rendered object now exists, as the API server validated and stored it.
    const res = await kubectl(['get', 'deployment,service,poddisruptionbudget,serviceaccount', '-n', ns.name, '-o', 'name']);
    const stored = res.stdout.trim().split('\n').map((line) => line.replace(/^(\w+)(\.[\w.]+)?\//, '$1/'));
    for (const o of objects) expect(stored).toContain(`${o.kind.toLowerCase()}/${o.metadata.name}`);
  });

  it('meets the restricted Pod Security Standard', async () => {
    const psa = await createNamespace();
    try {
      await kubectl(['label', 'namespace', psa.name, 'pod-security.kubernetes.io/warn=restricted']);
      const { objects } = await render(serverChart, { release: 'hawser', namespace: psa.name, values: scaled });
      const deployment = objects.find((o) => o.kind === 'Deployment')!;
      const applied = await kubectl(['apply', '--server-side', '-n', psa.name, '-f', '-'], { input: JSON.stringify(deployment) });
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stderr).not.toContain('PodSecurity');
    } finally {
      await psa.remove();
    }
  });
});
