import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { binary } from '../controlplane/binaries.js';
import { applyYaml, kubectl } from './kube.js';
import { runCommand } from './processes.js';

/** Repository root (test/support/ -> ../..). */
const root = resolve(import.meta.dirname, '../..');

export const agentChart = resolve(root, 'charts/hawser-agent');
export const serverChart = resolve(root, 'charts/hawser-server');

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built helm with no cluster access; never throws on a non-zero exit. */
export async function helm(args: string[]): Promise<HelmResult> {
  // An empty KUBECONFIG keeps helm from reaching for any cluster.
  return runCommand(await binary('helm'), args, { env: { ...process.env, KUBECONFIG: '/dev/null', HELM_NO_PLUGINS: '1' } });
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  kubeVersion?: string;
  /** --set-json style values: each key is a dotted path, each value any JSON. */
  values?: Record<string, unknown>;
}

function valueArgs(values: Record<string, unknown> = {}): string[] {
  return Object.entries(values).flatMap(([key, value]) => ['--set-json', `${key}=${JSON.stringify(value)}`]);
}

/** `helm template` a chart; returns helm's result (check `code`). */
export function helmTemplate(chart: string, opts: RenderOptions = {}): Promise<HelmResult> {
  return helm([
    'template',
    opts.release ?? 'hawser',
    chart,
    '--namespace',
    opts.namespace ?? 'hawser-system',
    ...(opts.kubeVersion ? ['--kube-version', opts.kubeVersion] : []),
    ...valueArgs(opts.values),
  ]);
}

/** `helm lint --strict` a chart with the given values. */
export function helmLint(chart: string, opts: RenderOptions = {}): Promise<HelmResult> {
  return helm([
    'lint',
    '--strict',
    chart,
    '--namespace',
    opts.namespace ?? 'hawser-system',
    ...(opts.kubeVersion ? ['--kube-version', opts.kubeVersion] : []),
    ...valueArgs(opts.values),
  ]);
}

/** One rendered Kubernetes object, loosely typed for assertions. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

/** Parses helm's multi-document output, dropping empty documents. */
export function manifests(yaml: string): Manifest[] {
  return parseAllDocuments(yaml)
    .map((doc) => {
      if (doc.errors.length) throw doc.errors[0];
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => Boolean(m?.kind));
}

/** Renders and fails loudly if helm refuses. */
export async function render(chart: string, opts: RenderOptions = {}): Promise<{ yaml: string; objects: Manifest[] }> {
  const res = await helmTemplate(chart, opts);
  if (res.code !== 0) throw new Error(`helm template ${chart} failed:\n${res.stderr}`);
  return { yaml: res.stdout, objects: manifests(res.stdout) };
}

const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace']);

/**
 * Applies a rendered chart to the real cluster (server-side apply) and returns
 * a function that deletes its cluster-scoped objects; namespaced ones go with
 * the namespace.
 */
export async function applyChart(yaml: string, namespace: string): Promise<() => Promise<void>> {
  const objects = manifests(yaml);
  const remove = async () => {
    for (const obj of objects.filter((o) => clusterScoped.has(o.kind))) {
      await kubectl(['delete', obj.kind.toLowerCase(), obj.metadata.name, '--ignore-not-found', '--wait=false']);
    }
  };
  try {
    await applyYaml(yaml, { namespace });
  } catch (err) {
    await remove();
    throw err;
  }
  return remove;
}

export { eventually } from './eventually.js';
