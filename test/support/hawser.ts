import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { freePorts } from '../controlplane/control-plane.js';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { adminConfig, applyYaml, createNamespace, inClusterLayout, serviceAccountToken } from './kube.js';
import { helm } from './charts.js';
import { runCommand, startProcess, type CommandResult, type TestProcess } from './processes.js';
import { testCluster } from './test-cluster.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const SERVER_CLI = join(root, 'packages/server/dist/cli.js');
export const AGENT_CLI = join(root, 'packages/agent/dist/cli.js');
export const AGENT_CHART = join(root, 'charts/hawser-agent');

export interface TestServer {
  readonly process: TestProcess;
  readonly dataDir: string;
  readonly publicUrl: string;
  readonly agentUrl: string;
  readonly caHash: string;
  readonly ports: { listen: number; agent: number };
  /** Runs the `hawser` CLI against this server with its admin token. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
  /** Starts the same server again (same data dir and ports), e.g. after stop() or kill. */
  restart(): Promise<TestServer>;
  /** Removes the data dir too. */
  remove(): Promise<void>;
}

/**
 * Runs the real `hawser server` binary on loopback ports chosen up front, so
 * a restart keeps the URLs the agents stored.
 */
export async function startServer(opts: { dataDir?: string; databaseUrl?: string; ports?: { listen: number; agent: number }; args?: string[] } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'hawser-server-')));
  let ports = opts.ports;
  if (!ports) {
    const [listen, agent] = (await freePorts(2)) as [number, number];
    ports = { listen, agent };
  }
  const args = [
    SERVER_CLI,
    'server',
    '--data-dir', dataDir,
    '--listen', `127.0.0.1:${ports.listen}`,
    '--agent-listen', `127.0.0.1:${ports.agent}`,
    // With PostgreSQL the replica-to-replica listener is on: a free port, never the shared default.
    ...(opts.databaseUrl ? ['--database-url', opts.databaseUrl, '--peer-listen', '127.0.0.1:0'] : []),
    ...(opts.args ?? []),
  ];
  const proc = startProcess(process.execPath, args, { ...process.env, HAWSER_LOG_LEVEL: process.env.HAWSER_LOG_LEVEL ?? 'info' });
  const ready = await proc.waitForLog((e) => typeof e.publicUrl === 'string' && typeof e.agentUrl === 'string', 60_000);
  const server: TestServer = {
    process: proc,
    dataDir,
    publicUrl: ready.publicUrl as string,
    agentUrl: ready.agentUrl as string,
    caHash: ready.caHash as string,
    ports,
    cli: (cliArgs) => runCli(SERVER_CLI, [...cliArgs, '--server', ready.publicUrl as string, '--data-dir', dataDir]),
    stop: async () => {
      await proc.stop();
    },
    restart: () => startServer({ ...opts, dataDir, ports: server.ports }),
    remove: async () => {
      await proc.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

function runCli(cli: string, args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [cli, ...args]);
}

/** Registers a cluster and returns its bootstrap token (from `hawser cluster add -o json`). */
export async function addCluster(server: TestServer, name: string, extra: string[] = []): Promise<{ token: string; output: Record<string, unknown> }> {
  const res = await server.cli(['cluster', 'add', name, '-o', 'json', ...extra]);
  if (res.code !== 0) throw new Error(`hawser cluster add ${name} failed (${res.code}): ${res.stderr}`);
  const output = JSON.parse(res.stdout) as Record<string, unknown>;
  const token = (output.bootstrap as { token?: string } | undefined)?.token;
  if (!token) throw new Error(`no token in: ${res.stdout}`);
  return { token, output };
}

/**
 * A cluster registered with `server`, its read-only agent (tier groups bound)
 * running in a namespace of its own as its chart's ServiceAccount, and an
 * operator's API token for `user` in `group`. The agent may still be
 * connecting: wait for agentReadiness when the test needs the tunnel.
 */
export async function clusterWithOperator(server: TestServer, cluster: string, operator: { user: string; group: string }): Promise<{ agent: TestAgent; token: string }> {
  const { token: bootstrap } = await addCluster(server, cluster);
  const agentNs = await createNamespace();
  const agent = await deployAgent({ namespace: agentNs.name, server, token: bootstrap, values: { mode: 'read-only', set: ['tierBindings.enabled=true'] } });
  const created = await server.cli(['token', 'create', '--user', operator.user, '--group', operator.group, '-o', 'json']);
  if (created.code !== 0) throw new Error(`hawser token create failed (${created.code}): ${created.stderr}`);
  return { agent, token: (JSON.parse(created.stdout) as { token: string }).token };
}

export interface TestAgent {
  readonly process: TestProcess;
  readonly namespace: string;
  readonly healthUrl: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** Starts the agent process again with the same identity and files. */
  restart(): Promise<TestAgent>;
  /** Deletes what the chart created (cluster-scoped objects included) and the temp files. */
  remove(): Promise<void>;
}

export interface AgentChartValues {
  mode?: 'read-only' | 'read-write' | 'full';
  authzMode?: 'tier' | 'raw' | 'shared';
  /** --set pairs passed to helm as they are. */
  set?: string[];
}

/** Renders the agent chart as `helm install` would for this namespace and cluster version. */
export async function renderAgentChart(namespace: string, serverUrl: string, token: string, values: AgentChartValues = {}): Promise<string> {
  const version = (testCluster().version ?? 'v1.36.0').replace(/^v/, '');
  const args = [
    'template', 'hawser-agent', AGENT_CHART,
    '--namespace', namespace,
    '--kube-version', version,
    '--set', `server.url=${serverUrl}`,
    '--set', `bootstrap.token=${token}`,
    '--set', `agent.mode=${values.mode ?? 'read-only'}`,
    '--set', `authorization.mode=${values.authzMode ?? 'tier'}`,
    ...(values.set ?? []).flatMap((s) => ['--set', s]),
  ];
  const res = await helm(args);
  if (res.code !== 0) throw new Error(`helm template failed: ${res.stderr}`);
  return res.stdout;
}

/**
 * Installs the agent the way a platform admin would (the chart, rendered by
 * the built helm and applied with server-side apply to the real API server)
 * and runs the agent process as the chart's ServiceAccount: a TokenRequest
 * token in a pod-like file layout, and exactly the environment the chart's
 * Deployment sets.
 */
export async function deployAgent(opts: {
  namespace: string;
  server: TestServer;
  token: string;
  values?: AgentChartValues;
  env?: Record<string, string>;
  /** The agent entry point to run. Default: the built packages/agent/dist/cli.js. */
  cli?: string;
  /** Options for node itself, before the entry point (V8 flags NODE_OPTIONS refuses). */
  nodeArgs?: string[];
}): Promise<TestAgent> {
  const manifest = await renderAgentChart(opts.namespace, opts.server.agentUrl, opts.token, opts.values);
  const objects = parseAllDocuments(manifest)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; spec?: Record<string, unknown>; stringData?: Record<string, string>; data?: Record<string, string> } | null)
    .filter((o): o is NonNullable<typeof o> => Boolean(o?.kind));
  const deployment = objects.find((o) => o.kind === 'Deployment');
  if (!deployment) throw new Error('the chart rendered no Deployment');
  // Everything but the Deployment goes to the API server (nothing would run its pod here).
  const applied = await applyYaml(
    objects.filter((o) => o.kind !== 'Deployment').map((o) => JSON.stringify(o)).join('\n---\n'),
    { namespace: opts.namespace },
  );
  // Cluster-scoped objects outlive the namespace; remove() deletes them.
  const clusterScoped = applied.filter((o) => !o.metadata?.namespace);

  const pod = (deployment.spec as { template: { spec: { serviceAccountName: string; containers: { env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } }).template.spec;
  const saToken = await serviceAccountToken(opts.namespace, pod.serviceAccountName, { create: false });
  const layout = await inClusterLayout(saToken, opts.namespace);
  const files = await mkdtemp(join(tmpdir(), 'hawser-agent-files-'));
  const bootstrapSecret = objects.find((o) => o.kind === 'Secret' && (o.stringData?.token || o.data?.token));
  const bootstrapToken = bootstrapSecret?.stringData?.token ?? (bootstrapSecret?.data?.token ? Buffer.from(bootstrapSecret.data.token, 'base64').toString() : undefined);
  if (bootstrapToken) await writeFile(join(files, 'token'), bootstrapToken, { mode: 0o600 });

  const env: Record<string, string> = {};
  for (const e of pod.containers[0]!.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = opts.namespace;
  }
  // What the pod would see, relocated to this machine: the bootstrap Secret
  // mount, the ServiceAccount mount, and a free loopback health port.
  if (env.HAWSER_BOOTSTRAP_TOKEN_FILE) env.HAWSER_BOOTSTRAP_TOKEN_FILE = join(files, 'token');
  env.HAWSER_HEALTH_ADDR = '127.0.0.1:0';
  const fullEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...layout.env,
    HAWSER_IN_CLUSTER_ROOT: layout.root,
    ...env,
    ...opts.env,
  };

  const launch = async (): Promise<TestAgent> => {
    const proc = startProcess(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? AGENT_CLI], fullEnv);
    const started = await proc.waitForLog((e) => typeof e.health === 'string', 30_000);
    const port = (started.health as string).split(':').pop();
    const agent: TestAgent = {
      process: proc,
      namespace: opts.namespace,
      healthUrl: `http://127.0.0.1:${port}`,
      stop: async () => {
        await proc.stop();
      },
      kill: () => proc.kill(),
      restart: launch,
      remove: async () => {
        await proc.stop();
        await deleteObjects(clusterScoped);
        await layout.remove();
        await rm(files, { recursive: true, force: true });
      },
    };
    return agent;
  };
  return launch();
}

async function deleteObjects(objects: KubernetesObject[]): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(adminConfig());
  await Promise.all(objects.map((o) => client.delete(o).catch(() => undefined)));
}

/** Reads the agent's /readyz. */
export async function agentReadiness(agent: TestAgent): Promise<{ status: number; body: { ready: boolean; status: string; detail?: string } }> {
  const res = await fetch(`${agent.healthUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; status: string; detail?: string } };
}

export { eventually } from './eventually.js';

