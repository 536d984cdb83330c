import { spawn } from 'node:child_process';
import { AGENT_MODES, isAgentMode } from '@hawser/contract';
import { AdminClient } from '../admin/admin-client.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { printableJson, printableLines } from './cli-table.js';

/** The release and namespace `hawser cluster add` prints for helm install (registration/install-commands.ts). */
const AGENT_CHART = 'hawser-agent';
const AGENT_NAMESPACE = 'hawser-system';

export const CLUSTER_MODE_HELP = `Usage: hawser cluster mode NAME --to MODE [--from MODE] [--chart REF] [-f VALUES]... [--helm PATH] [-o json]

Raises or lowers a cluster's agent mode (read-only, read-write, full). Prints
the one helm upgrade line that does it and, before anything is applied, the
RBAC rules and admission policies the upgrade adds and removes, computed by
rendering the agent chart with both modes (helm template). Nothing is changed
by this command: run the printed line against the cluster yourself.

The current mode is the one the agent last reported (hawser cluster list);
--from overrides it, e.g. for a cluster whose agent has never connected.

Options:
  --to MODE          the mode to move to
  --from MODE        the mode it runs now (default: as reported by its agent)
  --chart REF        agent chart (default: the server's, as in the helm line of hawser cluster add)
  -f, --values FILE  values file of the installed release (repeatable), so both renders match it
  --release NAME     helm release name (default ${AGENT_CHART})
  --namespace NS     the agent's namespace (default ${AGENT_NAMESPACE})
  --helm PATH        helm binary (default: helm on PATH)
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}`;

/** One RBAC grant, flattened to a line per verb: `ClusterRole NAME: VERB on RESOURCES`. */
export type RbacLine = string;

export interface ModeChange {
  cluster: string;
  from: string;
  to: string;
  helm: string;
  added: RbacLine[];
  removed: RbacLine[];
}

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs?: string[];
}

interface Manifest {
  kind?: string;
  metadata?: { name?: string };
  rules?: Rule[];
  spec?: { matchResources?: { namespaceSelector?: { matchExpressions?: { values?: string[] }[] } } };
}

/**
 * What a chart rendering grants, one line per verb and rule, so two modes'
 * renderings compare as sets. Bindings are left out: they only name the
 * roles, which do not change name between modes. An admission policy is one
 * line with the namespaces it protects.
 */
export function rbacLines(docs: readonly unknown[]): RbacLine[] {
  const lines = new Set<string>();
  for (const doc of docs as Manifest[]) {
    if (!doc?.kind) continue;
    const name = `${doc.kind} ${doc.metadata?.name ?? '?'}`;
    if (doc.kind === 'ClusterRole' || doc.kind === 'Role') {
      for (const rule of doc.rules ?? []) {
        const what = rule.nonResourceURLs?.length
          ? rule.nonResourceURLs.join(',')
          : (rule.resources ?? []).map((r) => `${r}${rule.apiGroups?.[0] ? `.${rule.apiGroups.join('|')}` : ''}`).join(',');
        const names = rule.resourceNames?.length ? ` [${rule.resourceNames.join(',')}]` : '';
        for (const verb of rule.verbs ?? []) lines.add(`${name}: ${verb} on ${what}${names}`);
      }
    } else if (doc.kind === 'ValidatingAdmissionPolicyBinding') {
      const values = doc.spec?.matchResources?.namespaceSelector?.matchExpressions?.[0]?.values ?? [];
      lines.add(`${name}: refuses writes, exec, attach, port-forward through Hawser in ${values.join(', ')}`);
    }
  }
  return [...lines].sort();
}

/** The added and removed lines between two renderings. */
export function diffLines(before: readonly RbacLine[], after: readonly RbacLine[]): { added: RbacLine[]; removed: RbacLine[] } {
  const b = new Set(before);
  const a = new Set(after);
  return { added: after.filter((l) => !b.has(l)), removed: before.filter((l) => !a.has(l)) };
}

function run(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // KUBECONFIG=/dev/null: helm template needs no cluster and must not reach for one.
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '/dev/null' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Single-quotes what a shell would split or expand. */
function word(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `hawser cluster mode NAME --to MODE` */
export async function clusterModeCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...GLOBAL_OPTIONS,
    to: { type: 'string' },
    from: { type: 'string' },
    chart: { type: 'string' },
    values: { type: 'string', short: 'f', multiple: true },
    release: { type: 'string' },
    namespace: { type: 'string' },
    helm: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  const v = values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) {
    io.stdout(CLUSTER_MODE_HELP + '\n');
    return ExitCodes.OK;
  }
  if (positionals.length !== 1) throw usageError('hawser cluster mode takes exactly one NAME (see --help)');
  const name = positionals[0]!;
  const to = v.to as string | undefined;
  if (!to || !isAgentMode(to)) throw usageError(`--to: expected one of ${AGENT_MODES.join(', ')}, got ${JSON.stringify(to ?? '')}`);
  const format = v.output === undefined || v.output === 'text' ? 'text' : v.output === 'json' ? 'json' : undefined;
  if (!format) throw usageError(`--output: expected text or json, got ${JSON.stringify(v.output)}`);
  let from = v.from as string | undefined;
  if (from !== undefined && !isAgentMode(from)) throw usageError(`--from: expected one of ${AGENT_MODES.join(', ')}, got ${JSON.stringify(from)}`);

  const client = new AdminClient(clientSettings(v as Record<string, string>, io.env));
  const { clusters } = await client.listClusters();
  const cluster = clusters.find((c) => c.name === name);
  if (!cluster) throw new HawserServerError(ErrorCodes.CLUSTER_NOT_FOUND, `cluster "${name}" is not registered (see hawser cluster list)`);
  from ??= cluster.agentMode ?? undefined;
  if (!from || !isAgentMode(from)) {
    throw usageError(`the agent of "${name}" has not reported its mode yet (never connected, or an older agent): pass --from MODE`);
  }
  // The same chart `hawser cluster add` printed in its install line.
  const chart = (v.chart as string | undefined) ?? (await client.serverInfo()).agentChart ?? undefined;
  if (!chart) throw usageError('the server has no agent chart configured (--agent-chart): pass --chart REF, the chart the cluster was installed from');
  const release = (v.release as string | undefined) ?? AGENT_CHART;
  const namespace = (v.namespace as string | undefined) ?? AGENT_NAMESPACE;
  const files = ((v.values as string[] | undefined) ?? []).flatMap((f) => ['-f', f]);
  const helm = `helm upgrade ${word(release)} ${word(chart)} --namespace ${word(namespace)} --reuse-values --set agent.mode=${to}`;

  const helmBin = (v.helm as string | undefined) ?? 'helm';
  // The cluster's version decides constrained or legacy impersonation in the chart.
  const kubeVersion = cluster.kubernetesVersion?.replace(/^v/, '').replace(/[^0-9.].*$/, '');
  const render = async (mode: string): Promise<RbacLine[]> => {
    const res = await run(helmBin, [
      'template', release, chart, '--namespace', namespace,
      ...(kubeVersion ? ['--kube-version', kubeVersion] : []),
      // A placeholder: rendering needs a server URL; RBAC does not depend on it.
      '--set', 'server.url=https://hawser.invalid:8444',
      ...files,
      '--set', `agent.mode=${mode}`,
    ]);
    if (res.code !== 0) {
      throw new Error(
        `could not render the agent chart with ${helmBin} (${res.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${res.code}`}); ` +
          `the rules each mode adds are listed in docs/operations.md, "Raising a read-only agent"`,
      );
    }
    const { parseAllDocuments } = await import('yaml');
    return rbacLines(parseAllDocuments(res.stdout).map((d) => d.toJS() as unknown));
  };
  const { added, removed } = diffLines(await render(from), await render(to));
  const change: ModeChange = { cluster: name, from, to, helm, added, removed };
  if (format === 'json') {
    io.stdout(printableJson(change));
    return ExitCodes.OK;
  }
  const text = [
    `Cluster ${name}: agent mode ${from} -> ${to}${from === to ? ' (no change)' : ''}.`,
    '',
    'Run against the cluster (kube context of the cluster, not the Hawser server):',
    `  ${helm}`,
    '',
    `RBAC and admission added (${added.length}):`,
    ...(added.length ? added.map((l) => `  + ${l}`) : ['  (none)']),
    `RBAC and admission removed (${removed.length}):`,
    ...(removed.length ? removed.map((l) => `  - ${l}`) : ['  (none)']),
    '',
    `After the upgrade the agent restarts with the new mode; hawser cluster list shows it once it reconnects.`,
    '',
  ].join('\n');
  io.stdout(printableLines(text));
  return ExitCodes.OK;
}
