import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary } from '../controlplane/binaries.js';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, kubectl, uniqueName } from '../support/kube.js';
import { startTestKubelet, type TestKubelet } from '../support/test-kubelet.js';
import { testCluster } from '../support/test-cluster.js';

/**
 * Issue 15: revoking an API token left its open watches, `logs -f` and exec
 * sessions running, since a request authenticates once, when it starts.
 * The real server, agent, API server and kubelet; real kubectl.
 */
describe.skipIf(testCluster().external)('revoking an API token ends its live requests', () => {
  let server: TestServer;
  let agent: TestAgent;
  let kubelet: TestKubelet;
  let ns: Awaited<ReturnType<typeof createNamespace>>;
  const cluster = uniqueName('revoke');
  const pod = 'shell';
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    server = await startServer({ args: ['--tier', 'admin=idp-admin'] });
    const { token } = await addCluster(server, cluster);
    const agentNs = await createNamespace();
    agent = await deployAgent({ namespace: agentNs.name, server, token, values: { mode: 'full', set: ['tierBindings.enabled=true'] } });
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
    kubelet = await startTestKubelet();
    ns = await createNamespace();
    await kubelet.createPod(ns.name, pod);
  }, 120_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await kubelet?.remove();
    await ns?.remove();
    await agent?.remove();
    await server?.remove();
  });

  async function operator(user: string): Promise<{ id: string; kubeconfig: string }> {
    const created = await server.cli(['token', 'create', '--user', user, '--group', 'idp-admin', '-o', 'json']);
    if (created.code !== 0) throw new Error(`hawser token create failed: ${created.stderr}`);
    const { token, id } = JSON.parse(created.stdout) as { token: string; id: string };
    const kubeconfig = join(server.dataDir, `${user}.kubeconfig`);
    const res = await server.cli(['kubeconfig', '--token', token, '--output', kubeconfig, '--context-prefix', '']);
    if (res.code !== 0) throw new Error(`hawser kubeconfig failed: ${res.stderr}`);
    return { id, kubeconfig };
  }

  async function start(kubeconfig: string, args: string[]): Promise<{ child: ChildProcess; out: () => string; exited: Promise<number | null> }> {
    const child = spawn(await binary('kubectl'), ['--kubeconfig', kubeconfig, '--context', cluster, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, out: () => out, exited };
  }

  it('an open watch and an exec session end within 1 s of hawser token revoke; another token\'s watch goes on', async () => {
    const revoked = await operator('user-revoked');
    const other = await operator('user-kept');
    const cm = await kubectl(['create', 'configmap', 'watched', '-n', ns.name, '--from-literal=a=b']);
    expect(cm.code).toBe(0);

    const watch = await start(revoked.kubeconfig, ['get', 'configmaps', '-n', ns.name, '-w']);
    const kept = await start(other.kubeconfig, ['get', 'configmaps', '-n', ns.name, '-w']);
    const exec = await start(revoked.kubeconfig, ['exec', '-i', pod, '-n', ns.name, '--', 'cat']);
    await eventually(async () => expect(watch.out()).toContain('watched'), 20_000);
    await eventually(async () => expect(kept.out()).toContain('watched'), 20_000);
    exec.child.stdin!.write('still here\n');
    await eventually(async () => expect(exec.out()).toContain('still here'), 20_000);

    const res = await server.cli(['token', 'revoke', revoked.id]);
    expect(res.code).toBe(0);
    const revokedAt = performance.now();
    const ended = await Promise.race([
      Promise.all([watch.exited, exec.exited]).then(() => performance.now() - revokedAt),
      new Promise<number>((r) => setTimeout(() => r(Infinity), 5_000)),
    ]);
    expect(ended).toBeLessThan(1_000);
    expect(kept.child.exitCode).toBeNull();

    // The revoked credential cannot come back either.
    const again = await kubectl(['get', 'configmaps', '-n', ns.name, '--context', cluster], { kubeconfig: revoked.kubeconfig });
    expect(again.code).not.toBe(0);
  }, 120_000);
});
