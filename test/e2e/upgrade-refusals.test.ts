import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, kubectl, uniqueName } from '../support/kube.js';
import { startTestKubelet, type TestKubelet } from '../support/test-kubelet.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * An exec, attach or port-forward upgrade that the API server refuses
 * because of the agent's OWN rights reaches kubectl as Hawser's sentence in
 * operator terms (what the agent's chart does not grant, which value
 * changes it), as a refused plain request does (packages/agent/src/own-refusal.ts),
 * not as an impersonation puzzle naming the agent's ServiceAccount.
 *
 * The agent runs in mode full while its chart was rendered read-only: the
 * chart's RBAC then grants the agent no `impersonate-on:user-info:create`,
 * so the API server refuses the agent a SPDY exec (a POST, verb create).
 * (A WebSocket exec is a GET, which the read-only chart's verbs include.)
 * kubectl prints a refused SPDY upgrade's Status message after "unable to
 * upgrade connection: " (client-go's SPDY upgrader).
 */
describe.skipIf(testCluster().external)('upgrades the API server refuses for the agent\'s own rights', () => {
  let kubelet: TestKubelet;
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  let kubeconfig: string;
  const cluster = uniqueName('mismatch');
  const pod = 'shell';
  const spdy = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' };

  beforeAll(async () => {
    kubelet = await startTestKubelet();
    ns = await createNamespace();
    await kubelet.createPod(ns.name, pod);
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    const { token: bootstrap } = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({
      namespace: agentNs.name,
      server,
      token: bootstrap,
      values: { mode: 'read-only', set: ['tierBindings.enabled=true'] },
      env: { HAWSER_MODE: 'full' },
    });
    const created = await server.cli(['token', 'create', '--user', 'alice', '--group', 'idp-admin', '-o', 'json']);
    expect(created.code, created.stderr).toBe(0);
    kubeconfig = `${server.dataDir}/alice.kubeconfig`;
    const res = await server.cli(['kubeconfig', cluster, '--token', (JSON.parse(created.stdout) as { token: string }).token, '--output', kubeconfig, '--context-prefix', '']);
    expect(res.code, res.stderr).toBe(0);
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await kubelet?.remove();
    await ns?.remove();
  });

  const chartSentence = (subresource: string) =>
    `hawser-agent's chart does not grant "create" on resource "${subresource}" in API group "" through Hawser; the chart value agent.mode sets the verbs it grants (read-only: get, list, watch; read-write and full add create, update, patch, delete) and must match the agent's own mode: the API server refused the agent's ServiceAccount system:serviceaccount:${agent.namespace}:hawser-agent "impersonate-on:user-info:create" on resource "${subresource}" in API group ""`;

  it('prints the chart sentence for a SPDY kubectl exec', async () => {
    const before = kubelet.requests().length;
    const res = await kubectl(['--context', cluster, 'exec', pod, '-n', ns.name, '--', 'echo', 'hello'], { kubeconfig, env: spdy });
    expect(res.code).not.toBe(0);
    expect(res.stdout).toBe('');
    expect(res.stderr.trim().split('\n').filter((l) => !/^[EWIF]\d{4} /.test(l))).toEqual([`error: unable to upgrade connection: ${chartSentence('pods/exec')}`]);
    expect(kubelet.requests().length).toBe(before);
  });

  it('prints the chart sentence for a SPDY kubectl attach', async () => {
    const res = await kubectl(['--context', cluster, 'attach', '-i', pod, '-n', ns.name], { kubeconfig, env: spdy, input: 'x\n' });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`error: unable to upgrade connection: ${chartSentence('pods/attach')}`);
  });
});
