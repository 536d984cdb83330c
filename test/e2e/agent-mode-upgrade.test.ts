import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary } from '../controlplane/binaries.js';
import { agentChart } from '../support/charts.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, kubectl, serviceAccountToken, uniqueName } from '../support/kube.js';
import { runCommand } from '../support/processes.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * What this test adds to the printed line: no waiting for a pod (nothing
 * runs pods here), and taking fields over from the test's own server-side
 * apply (deployAgent applies the same chart as manager hawser-tests).
 */
const HELM_TEST_FLAGS = ['--wait=hookOnly', '--force-conflicts'];

/**
 * Raising a read-only agent later, on the real path: the chart installed
 * read-only with the real helm against the real API server, the change
 * `hawser cluster mode` prints, that exact `helm upgrade` line run, and
 * `kubectl auth can-i --list` as the agent's ServiceAccount before and
 * after; then lowered again. The server shows the mode and chart version
 * the agent reports.
 */
describe('raising and lowering an agent mode with one helm upgrade', () => {
  let server: TestServer;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let agent: TestAgent | undefined;
  const cluster = uniqueName('mode');
  const release = 'hawser-agent';
  const helm = async (args: string[]) =>
    runCommand(await binary('helm'), args, { env: { ...process.env, KUBECONFIG: testCluster().kubeconfig, HELM_NO_PLUGINS: '1' } });

  beforeAll(async () => {
    server = await startServer();
    ns = await createNamespace();
    const { token } = await addCluster(server, cluster);
    // The agent process, as the chart's ServiceAccount, so the server learns its mode and chart version.
    agent = await deployAgent({ namespace: ns.name, server, token, values: { mode: 'read-only' } });
    await eventually(async () => expect((await agentReadiness(agent!)).body.status).toBe('connected'), 30_000);
    // The same chart, owned by a helm release from here on (take over what deployAgent applied).
    const installed = await helm([
      'upgrade', '--install', release, agentChart, '--namespace', ns.name, '--take-ownership',
      '--set', `server.url=${server.agentUrl}`, '--set', 'agent.mode=read-only', ...HELM_TEST_FLAGS,
    ]);
    if (installed.code !== 0) throw new Error(`helm install failed: ${installed.stderr}`);
  });
  afterAll(async () => {
    await agent?.stop();
    await helm(['uninstall', release, '--namespace', ns.name, '--wait=false']);
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  const sa = () => `system:serviceaccount:${ns.name}:hawser-agent`;
  const impersonateVerbs = async (): Promise<string[]> => {
    const rows = (await kubectl(['auth', 'can-i', '--list', `--as=${sa()}`, '-n', ns.name])).stdout.split('\n').map((l) => l.trim().replace(/\s+/g, ' '));
    const row = rows.find((r) => r.startsWith('*.* [] [] ['));
    return row ? row.slice('*.* [] [] ['.length, -1).split(' ').sort() : [];
  };
  const modeOf = async () => {
    const res = await server.cli(['cluster', 'list', '-o', 'json']);
    return (JSON.parse(res.stdout) as { clusters: { name: string; agentMode: string | null; chartVersion: string | null }[] }).clusters.find((c) => c.name === cluster);
  };
  const read = ['get', 'list', 'watch'].map((v) => `impersonate-on:user-info:${v}`);
  const write = ['create', 'update', 'patch', 'delete', 'deletecollection'].map((v) => `impersonate-on:user-info:${v}`);

  it('shows the mode and chart version the agent reports', async () => {
    await eventually(async () => expect(await modeOf()).toMatchObject({ agentMode: 'read-only', chartVersion: '0.1.0' }));
    const table = await server.cli(['cluster', 'list']);
    expect(table.stdout).toMatch(new RegExp(`${cluster}\\s+connected\\s+\\S+\\s+\\S+\\s+read-only\\s+0\\.1\\.0`));
  });

  it('prints the helm upgrade and exactly the rights it adds, then the upgrade grants exactly them, and lowering takes them away', async () => {
    expect(await impersonateVerbs()).toEqual([...read].sort());

    const common = ['--chart', agentChart, '--namespace', ns.name, '--release', release, '--helm', await binary('helm')];
    const raise = await server.cli(['cluster', 'mode', cluster, '--to', 'read-write', ...common, '-o', 'json']);
    expect(raise.code, raise.stderr).toBe(0);
    const plan = JSON.parse(raise.stdout) as { from: string; to: string; helm: string; added: string[]; removed: string[] };
    expect(plan).toMatchObject({ from: 'read-only', to: 'read-write' });
    expect(plan.helm).toBe(`helm upgrade ${release} ${agentChart} --namespace ${ns.name} --reuse-values --set agent.mode=read-write`);
    const impersonateRole = `ClusterRole ${release}-${ns.name}-impersonate`;
    expect(plan.added).toEqual(
      expect.arrayContaining(write.map((v) => `${impersonateRole}: ${v} on *.*`)),
    );
    expect(plan.added.filter((l) => l.startsWith('ClusterRole'))).toHaveLength(write.length);
    expect(plan.added.some((l) => l.startsWith('ValidatingAdmissionPolicyBinding') && l.includes('kube-system'))).toBe(true);
    expect(plan.removed).toEqual([]);
    const text = await server.cli(['cluster', 'mode', cluster, '--to', 'read-write', ...common]);
    expect(text.stdout).toContain(`  + ${impersonateRole}: impersonate-on:user-info:create on *.*`);

    // The printed line, run as printed (with this machine's helm binary).
    const upgrade = await helm([...plan.helm.split(' ').slice(1), ...HELM_TEST_FLAGS]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    await eventually(async () => expect(await impersonateVerbs()).toEqual([...read, ...write].sort()));
    expect((await kubectl(['get', 'validatingadmissionpolicybinding', `${release}-${ns.name}-protected-namespace-policy`])).code).toBe(0);

    // The agent restarts with the new mode (the Deployment's env) and reports it.
    await agent!.stop();
    agent = await deployAgent({ namespace: ns.name, server, token: 'unused-the-agent-has-its-identity', values: { mode: 'read-write' } });
    await eventually(async () => expect(await modeOf()).toMatchObject({ agentMode: 'read-write', chartVersion: '0.1.0' }), 30_000);

    // Lowering again: the plan removes what raising added, and the upgrade takes the rights away.
    const lower = await server.cli(['cluster', 'mode', cluster, '--to', 'read-only', ...common, '-o', 'json']);
    const back = JSON.parse(lower.stdout) as { from: string; added: string[]; removed: string[]; helm: string };
    expect(back.from).toBe('read-write');
    expect(back.added).toEqual([]);
    expect([...back.removed].sort()).toEqual([...plan.added].sort());
    expect((await helm([...back.helm.split(' ').slice(1), ...HELM_TEST_FLAGS])).code).toBe(0);
    await eventually(async () => expect(await impersonateVerbs()).toEqual([...read].sort()));
    expect((await kubectl(['get', 'validatingadmissionpolicybinding', `${release}-${ns.name}-protected-namespace-policy`])).code).not.toBe(0);
    // And the ServiceAccount's token is the same one as before: nothing but RBAC changed.
    expect(await serviceAccountToken(ns.name, 'hawser-agent', { create: false })).toBeTruthy();
  });

  it('refuses an unknown mode and an unregistered cluster with clear messages', async () => {
    const bad = await server.cli(['cluster', 'mode', cluster, '--to', 'admin']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to: expected one of read-only, read-write, full');
    const missing = await server.cli(['cluster', 'mode', 'no-such-cluster', '--to', 'full', '--from', 'read-only']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('HSR_ERR_CLUSTER_NOT_FOUND');
  });
});
