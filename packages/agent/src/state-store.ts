/**
 * What the agent keeps between restarts: its identity (key, certificate and
 * the server's CA bundle) and whether the server has deregistered it.
 */
export interface AgentState {
  clusterId: string;
  clusterName: string;
  /** Agent endpoint of the server this identity belongs to. */
  serverUrl: string;
  /** PEM private key; generated here, never sent anywhere. */
  key: string;
  /** PEM client certificate. */
  certificate: string;
  /** PEM CA certificates the server may present (old and new during a CA rotation). */
  caBundle: string[];
  /** ISO time the certificate expires. */
  notAfter: string;
  /** Set when the server said this cluster was deregistered. */
  deregisteredAt?: string;
}

/** Where AgentState lives: the one named Secret in a pod, a directory outside. */
export interface StateStore {
  /** The stored state, or undefined when the agent has never registered. */
  load(): Promise<AgentState | undefined>;
  save(state: AgentState): Promise<void>;
  /** Human-readable location for logs ("Secret hawser-system/hawser-agent-state"). */
  readonly description: string;
}

/** Field names shared by both stores (Secret data keys, file names). */
export const StateKeys = {
  clusterId: 'cluster-id',
  clusterName: 'cluster-name',
  serverUrl: 'server-url',
  key: 'tls.key',
  certificate: 'tls.crt',
  caBundle: 'ca.crt',
  notAfter: 'not-after',
  deregisteredAt: 'deregistered-at',
} as const;

/** Flattens a state into string fields (Secret data, files). */
export function encodeState(state: AgentState): Record<string, string> {
  const out: Record<string, string> = {
    [StateKeys.clusterId]: state.clusterId,
    [StateKeys.clusterName]: state.clusterName,
    [StateKeys.serverUrl]: state.serverUrl,
    [StateKeys.key]: state.key,
    [StateKeys.certificate]: state.certificate,
    [StateKeys.caBundle]: state.caBundle.join(''),
    [StateKeys.notAfter]: state.notAfter,
  };
  if (state.deregisteredAt) out[StateKeys.deregisteredAt] = state.deregisteredAt;
  return out;
}

/** The inverse of encodeState; undefined when the fields are absent (never registered). */
export function decodeState(fields: Record<string, string | undefined>): AgentState | undefined {
  const get = (k: string) => fields[k];
  const clusterId = get(StateKeys.clusterId);
  const key = get(StateKeys.key);
  const certificate = get(StateKeys.certificate);
  if (!clusterId || !key || !certificate) return undefined;
  const bundle = get(StateKeys.caBundle) ?? '';
  const deregisteredAt = get(StateKeys.deregisteredAt);
  return {
    clusterId,
    clusterName: get(StateKeys.clusterName) ?? '',
    serverUrl: get(StateKeys.serverUrl) ?? '',
    key,
    certificate,
    caBundle: bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [],
    notAfter: get(StateKeys.notAfter) ?? '',
    ...(deregisteredAt ? { deregisteredAt } : {}),
  };
}
