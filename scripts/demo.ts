/**
 * npm run demo: the whole thing on one machine, in a minute.
 *
 * A real local control plane (etcd, kube-apiserver, kube-controller-manager
 * built from their Go modules), the Hawser server on its embedded store, a
 * cluster "demo" registered with a one-time token, its agent running as the
 * hawser-agent chart's ServiceAccount (the chart rendered by helm and applied
 * to the API server), a demo operator in tier "read", and a kubeconfig that
 * goes through Hawser. Ctrl-C stops everything.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { ControlPlaneUnavailableError } from '../test/controlplane/binaries.js';
import { ControlPlane, freePorts } from '../test/controlplane/control-plane.js';
import { addCluster, deployAgent, eventually, agentReadiness, startServer, type TestAgent, type TestServer } from '../test/support/hawser.js';
import { adminCore, applyYaml } from '../test/support/kube.js';
import { useCluster } from '../test/support/test-cluster.js';
import { demoCommands, formatCommand, type DemoCommand } from './demo-commands.js';

const root = resolve('.hawser/demo');
const say = (line: string) => process.stdout.write(`${line}\n`);
const step = (line: string) => process.stdout.write(`\x1b[1m==>\x1b[0m ${line}\n`);

async function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

async function main(): Promise<void> {
  const cp = new ControlPlane(join(root, 'controlplane'));
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step('stopping the agent, the server and the control plane');
    await agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await cp.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    await rm(root, { recursive: true, force: true });
    await mkdir(root, { recursive: true });

    step('starting a local Kubernetes control plane (the first run builds it from the Go module proxy: several minutes)');
    const state = await cp.start((line) => say(`    ${line}`));
    useCluster({ kubeconfig: state.kubeconfig, server: state.apiServerUrl, ca: await readFile(state.pki.ca, 'utf8'), external: false, version: state.version });

    step('starting the Hawser server on its embedded store');
    const ports = (await portFree(8443)) && (await portFree(8444)) ? { listen: 8443, agent: 8444 } : await freePorts(2).then(([l, a]) => ({ listen: l!, agent: a! }));
    server = await startServer({
      dataDir: join(root, 'data'),
      ports,
      // IdP groups -> tiers. API tokens carry their groups; with OIDC these
      // would come from the ID token's groups claim.
      args: ['--tier', 'read=demo-readers', '--tier', 'admin=demo-admins'],
    });
    say(`    operators: ${server.publicUrl}   agents: ${server.agentUrl}   data: ${relative(process.cwd(), server.dataDir)}`);

    step('registering cluster "demo" (hawser cluster add demo)');
    const { token } = await addCluster(server, 'demo');

    step('installing the agent chart and starting hawser-agent as its ServiceAccount (read-only mode, tier bindings on)');
    await adminCore().createNamespace({ body: { metadata: { name: 'hawser-system' } } });
    agent = await deployAgent({ namespace: 'hawser-system', server, token, values: { set: ['tierBindings.enabled=true'] } });
    await eventually(async () => {
      const r = await agentReadiness(agent!);
      if (r.body.status !== 'connected') throw new Error(`agent ${r.body.status}: ${r.body.detail ?? ''}`);
    }, 60_000);

    step('adding something to look at (namespace demo-apps)');
    await applyYaml(`apiVersion: v1
kind: Namespace
metadata: { name: demo-apps }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: demo-apps }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: nginx:1.27 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: web-0, namespace: demo-apps, labels: { app: web } }
spec: { containers: [{ name: web, image: nginx:1.27 }] }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: demo-apps }
data: { color: blue }
---
apiVersion: v1
kind: Secret
metadata: { name: db-password, namespace: demo-apps }
stringData: { password: not-for-tier-read }
`);

    step('creating a demo operator in tier "read" and a kubeconfig that goes through Hawser');
    const created = await server.cli(['token', 'create', '--user', 'demo', '--group', 'demo-readers', '-o', 'json']);
    if (created.code !== 0) throw new Error(created.stderr);
    const demoToken = (JSON.parse(created.stdout) as { token: string }).token;
    const kubeconfig = join(root, 'kubeconfig');
    const tokenFile = join(root, 'operator-token');
    writeFileSync(tokenFile, `${demoToken}\n`, { mode: 0o600 });
    const written = await server.cli(['kubeconfig', 'demo', '--token', demoToken, '--output', kubeconfig]);
    if (written.code !== 0) throw new Error(written.stderr);

    const commands = demoCommands({ kubeconfig: relative(process.cwd(), kubeconfig), dataDir: relative(process.cwd(), server.dataDir), publicUrl: server.publicUrl });
    const width = Math.max(...[...commands.browse, ...commands.refused].map((c) => c.line.length));
    const block = (list: DemoCommand[]) => list.map((c) => formatCommand(c, width)).join('\n');
    say(`
Hawser is running. The cluster "demo" is reachable only through the tunnel its
agent dialled out; you are user hawser:demo in tier read (the cluster binds
that tier to the built-in view role).

${block(commands.browse)}

Refused, and why:
${block(commands.refused)}

What happened, from Hawser's side:
${block(commands.hawser)}

The console: ${server.publicUrl}/ (the demo's CA is its own, so the browser
warns once). Sign in with the API token in ${relative(process.cwd(), tokenFile)}.

The cluster's admin kubeconfig (direct, for comparison): ${relative(process.cwd(), state.kubeconfig)}
Press Ctrl-C to stop everything.`);
    await new Promise(() => {});
  } catch (err) {
    if (err instanceof ControlPlaneUnavailableError) process.stderr.write(`demo: ${err.message}\n`);
    else process.stderr.write(`demo: ${(err as Error).stack ?? String(err)}\n`);
    await stop(1);
  }
}

void main();
