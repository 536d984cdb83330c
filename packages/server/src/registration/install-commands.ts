import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Namespace the agent is installed into. */
export const AGENT_NAMESPACE = 'hawser-system';
/** Release name of the agent chart (and the chart's name). */
export const AGENT_CHART = 'hawser-agent';
/** Secret the kubectl path creates; the chart can read it via bootstrap.existingSecret. */
export const BOOTSTRAP_SECRET = 'hawser-agent-bootstrap';

export interface InstallInput {
  /** URL the agent dials (the agent listener). */
  serverUrl: string;
  /** `sha256:<hex>` of the CA SPKI. */
  caHash: string;
  token: string;
  /** Chart reference (see resolveAgentChart); default: defaultAgentChart(). */
  chart?: string;
}

export interface InstallCommands {
  /** One `helm install` line. */
  readonly helm: string;
  /** Plain kubectl alternative: namespace, bootstrap Secret, then the agent manifest. */
  readonly kubectl: string;
}

/** Single-quotes for POSIX shells; the inputs are URL-safe, this is belt and braces. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Quotes only what a shell would split or expand, so plain paths print plainly. */
function word(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : q(value);
}

/**
 * The chart the printed `helm install` line names when none is configured:
 * the hawser-agent chart of the checkout (or unpacked release) this server
 * runs from, as an absolute path, so the line works as printed from any
 * directory on this machine. Undefined when there is none (a container
 * image): then set --agent-chart to where you publish the chart.
 */
export function defaultAgentChart(): string | undefined {
  // packages/server/{dist,src}/registration/ in a checkout or the server
  // bundle: the repository's charts/ is a few levels up, wherever this file is.
  let dir = fileURLToPath(new URL('.', import.meta.url));
  for (let up = 0; up < 6; up++) {
    const chart = join(dir, 'charts', AGENT_CHART);
    if (existsSync(join(chart, 'Chart.yaml'))) return chart;
    dir = resolve(dir, '..');
  }
  return undefined;
}

/**
 * Validates a chart reference helm can install from anywhere, and makes
 * local paths absolute (against `cwd`). Accepted:
 *   oci://REGISTRY/PATH/hawser-agent   a chart pushed with `helm push`
 *   https://HOST/PATH/NAME-VERSION.tgz a packaged chart served over HTTPS
 *   PATH/NAME-VERSION.tgz              a packaged chart (npm run pack:charts)
 *   PATH                               an unpacked chart directory (has Chart.yaml)
 * Local paths must exist where the server runs: that is the machine the
 * printed line is meant for; anything else should be an oci:// reference.
 * Returns an error message instead of throwing, for the config's own error.
 */
export function resolveAgentChart(value: string, cwd: string = process.cwd()): { chart: string } | { error: string } {
  const text = value.trim();
  if (text === '') return { error: 'a chart reference' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { error: 'a valid oci:// or https:// URL' };
    }
    if (url.username || url.password || url.search || url.hash) return { error: 'a chart URL without credentials, query or fragment (use helm registry login)' };
    if (url.protocol === 'oci:' && url.host && url.pathname.length > 1) return { chart: text.replace(/\/+$/, '') };
    if (url.protocol === 'https:' && url.pathname.endsWith('.tgz')) return { chart: text };
    return { error: 'oci://REGISTRY/PATH/CHART or an https:// URL of a packaged .tgz chart' };
  }
  const path = isAbsolute(text) ? text : resolve(cwd, text);
  if (!existsSync(path)) return { error: `an existing chart directory or .tgz on this machine (${path} does not exist), or an oci:// reference` };
  if (text.endsWith('.tgz')) return statSync(path).isFile() ? { chart: path } : { error: `a packaged chart file (${path} is not a file)` };
  if (!statSync(path).isDirectory() || !existsSync(join(path, 'Chart.yaml'))) return { error: `a chart directory with a Chart.yaml, or a packaged .tgz (${path} is neither)` };
  return { chart: path };
}

/** The ready-to-paste commands printed by `hawser cluster add` and `hawser cluster token`. */
export function installCommands(input: InstallInput): InstallCommands {
  const chart = word(input.chart ?? defaultAgentChart() ?? AGENT_CHART);
  const helm = [
    `helm install ${AGENT_CHART} ${chart}`,
    `--namespace ${AGENT_NAMESPACE} --create-namespace`,
    `--set-string server.url=${q(input.serverUrl)}`,
    `--set-string server.caHash=${q(input.caHash)}`,
    `--set-string bootstrap.token=${q(input.token)}`,
  ].join(' ');
  const kubectl = [
    `kubectl create namespace ${AGENT_NAMESPACE} --dry-run=client -o yaml | kubectl apply -f -`,
    `kubectl -n ${AGENT_NAMESPACE} create secret generic ${BOOTSTRAP_SECRET}` +
      ` --from-literal=server-url=${q(input.serverUrl)}` +
      ` --from-literal=ca-hash=${q(input.caHash)}` +
      ` --from-literal=token=${q(input.token)}` +
      ` --dry-run=client -o yaml | kubectl apply -f -`,
    `kubectl -n ${AGENT_NAMESPACE} apply -f hawser-agent.yaml  # rendered once with: helm template ${AGENT_CHART} ${chart} -n ${AGENT_NAMESPACE} --set bootstrap.existingSecret=${BOOTSTRAP_SECRET}`,
  ].join('\n');
  return { helm, kubectl };
}
