/** Namespace the agent is installed into. */
export const AGENT_NAMESPACE = 'hawser-system';
/** Helm chart (charts/hawser-agent) and release name. */
export const AGENT_CHART = 'hawser-agent';
/** Secret the kubectl path creates; the chart can read it via bootstrap.existingSecret. */
export const BOOTSTRAP_SECRET = 'hawser-agent-bootstrap';

export interface InstallInput {
  /** URL the agent dials (the agent listener). */
  serverUrl: string;
  /** `sha256:<hex>` of the CA SPKI. */
  caHash: string;
  token: string;
  /** Chart reference; default `hawser-agent`. */
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

/** The ready-to-paste commands printed by `hawser cluster add` and `hawser cluster token`. */
export function installCommands(input: InstallInput): InstallCommands {
  const chart = input.chart ?? AGENT_CHART;
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
