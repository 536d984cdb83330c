import {
  AUTHORIZATION_MODES,
  DEFAULT_AUTHORIZATION_MODE,
  DEFAULT_IMPERSONATION_PREFIX,
  IMPERSONATION_PREFIX_RULE,
  SPKI_HASH_PATTERN,
  isAuthorizationMode,
  isImpersonationPrefix,
  type AuthorizationMode,
} from '@hawser/contract';
import { LOG_FORMATS, isLogFormat, type LogFormat } from '@hawser/contract';
import { AgentError, AgentErrorCodes } from './errors.js';

export const AgentModes = ['read-only', 'read-write', 'full'] as const;
export type AgentMode = (typeof AgentModes)[number];

export const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LogLevels)[number];

/** Where the agent keeps its key, certificate and CA bundle. */
export type StateLocation =
  | { kind: 'secret'; namespace: string; name: string }
  | { kind: 'dir'; path: string };

/** How the agent reaches its own cluster's API server. */
export type KubeAccess =
  | { kind: 'in-cluster'; root: string }
  | { kind: 'kubeconfig'; path: string; context?: string };

/** The agent's whole configuration, validated once and frozen. */
export interface AgentConfig {
  /** Agent endpoint of the Hawser server; defaults to the one in the bootstrap token. */
  readonly serverUrl?: string;
  /** A bootstrap token given inline (development); prefer `bootstrapTokenFile`. */
  readonly bootstrapToken?: string;
  /** File holding the bootstrap token (a mounted Secret in a pod). Default /var/run/hawser/bootstrap/token. */
  readonly bootstrapTokenFile: string;
  /** `sha256:<hex>` of the server CA's public key; overrides (and must match) the token's. */
  readonly caHash?: string;
  readonly state: StateLocation;
  readonly kube: KubeAccess;
  /** Verb ceiling. Default read-only: get, list, watch. */
  readonly mode: AgentMode;
  readonly authzMode: AuthorizationMode;
  /** Prefix every impersonated user and group must carry. Default `hawser:`. */
  readonly impersonationPrefix: string;
  /** Resources (plural, optionally `resource.group`) refused whatever the verb. */
  readonly denyResources: readonly string[];
  /**
   * Namespaces where read-write and full still only read (policy.ts,
   * rule protected-namespace). Default kube-system, kube-public,
   * kube-node-lease plus the agent's own namespace.
   */
  readonly protectedNamespaces: readonly string[];
  /** Version of the chart that installed the agent (HAWSER_CHART_VERSION), reported to the server. */
  readonly chartVersion?: string;
  /** host:port of /healthz and /readyz. Default 0.0.0.0:8080; port 0 picks one. */
  readonly healthAddr: { host: string; port: number };
  readonly logLevel: LogLevel;
  /** JSON lines, human-readable ones, or by whether stdout is a terminal. Default auto. */
  readonly logFormat: LogFormat;
  readonly proxy: { readonly httpsProxy?: string; readonly noProxy: readonly string[] };
  /** Renew the client certificate once this fraction of its lifetime has passed. Default 2/3. */
  readonly renewAt: number;
  /**
   * Join with the pod's own projected ServiceAccount token instead of a
   * bootstrap token (`hawser cluster add NAME --join kubernetes`):
   * HAWSER_JOIN_TOKEN_FILE and HAWSER_JOIN_CLUSTER; needs the server URL and
   * CA hash, which no token carries then.
   */
  readonly join?: { readonly tokenFile: string; readonly cluster: string };
}

/** Raw inputs: command-line flags win over environment variables. */
export interface ConfigInput {
  flags: Record<string, string | boolean | string[] | undefined>;
  env: NodeJS.ProcessEnv;
}

/** The namespaces a writing agent leaves alone unless configured otherwise. */
export const DEFAULT_PROTECTED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

function invalid(field: string, expected: string, got: unknown): never {
  throw new AgentError(AgentErrorCodes.CONFIG_INVALID, `invalid configuration: ${field} must be ${expected}; got ${JSON.stringify(got)}`);
}

/**
 * Builds the configuration from flags and environment, checking every field
 * once at start-up so a bad value fails fast with a message naming it.
 */
export function loadConfig({ flags, env }: ConfigInput): AgentConfig {
  const pick = (flag: string, envName: string): string | undefined => {
    const v = flags[flag];
    if (typeof v === 'string') return v;
    const e = env[envName];
    return e === undefined || e === '' ? undefined : e;
  };

  const serverUrl = pick('server-url', 'HAWSER_SERVER_URL');
  if (serverUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(serverUrl);
    } catch {
      // reported below
    }
    if (!url || url.protocol !== 'https:') invalid('server URL (--server-url / HAWSER_SERVER_URL)', 'an https:// URL', serverUrl);
  }

  const caHash = pick('ca-hash', 'HAWSER_CA_HASH');
  if (caHash !== undefined && !SPKI_HASH_PATTERN.test(caHash)) {
    invalid('CA hash (--ca-hash / HAWSER_CA_HASH)', '"sha256:" followed by 64 lowercase hex digits', caHash);
  }

  const mode = pick('mode', 'HAWSER_MODE') ?? 'read-only';
  if (!(AgentModes as readonly string[]).includes(mode)) invalid('mode (--mode / HAWSER_MODE)', `one of ${AgentModes.join(', ')}`, mode);

  const authzMode = pick('authz-mode', 'HAWSER_AUTHZ_MODE') ?? DEFAULT_AUTHORIZATION_MODE;
  if (!isAuthorizationMode(authzMode)) {
    invalid('authorization mode (--authz-mode / HAWSER_AUTHZ_MODE)', `one of ${AUTHORIZATION_MODES.join(', ')}`, authzMode);
  }

  const impersonationPrefix = pick('impersonation-prefix', 'HAWSER_IMPERSONATION_PREFIX') ?? DEFAULT_IMPERSONATION_PREFIX;
  if (!isImpersonationPrefix(impersonationPrefix)) {
    invalid('impersonation prefix (--impersonation-prefix / HAWSER_IMPERSONATION_PREFIX)', IMPERSONATION_PREFIX_RULE, impersonationPrefix);
  }

  const denyResources = (pick('deny-resources', 'HAWSER_DENY_RESOURCES') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const r of denyResources) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(r)) invalid('deny list (--deny-resources / HAWSER_DENY_RESOURCES)', 'comma-separated resource names', r);
  }

  // Set but empty means "none": the chart always sets it, from a list that may be empty.
  const protectedFlag = flags['protected-namespaces'];
  const protectedRaw = typeof protectedFlag === 'string' ? protectedFlag : env.HAWSER_PROTECTED_NAMESPACES;
  const protectedNamespaces = protectedRaw === undefined ? [...DEFAULT_PROTECTED_NAMESPACES] : protectedRaw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of protectedNamespaces) {
    if (!DNS1123_LABEL.test(n)) invalid('protected namespaces (--protected-namespaces / HAWSER_PROTECTED_NAMESPACES)', 'comma-separated namespace names', n);
  }
  const protectOwn = pick('protect-own-namespace', 'HAWSER_PROTECT_OWN_NAMESPACE') ?? 'true';
  if (protectOwn !== 'true' && protectOwn !== 'false') invalid('HAWSER_PROTECT_OWN_NAMESPACE', 'true or false', protectOwn);
  const ownNamespace = pick('namespace', 'POD_NAMESPACE');
  if (protectOwn === 'true' && ownNamespace && !protectedNamespaces.includes(ownNamespace)) protectedNamespaces.push(ownNamespace);

  const chartVersion = pick('chart-version', 'HAWSER_CHART_VERSION');
  if (chartVersion !== undefined && !/^[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}$/.test(chartVersion)) {
    invalid('chart version (HAWSER_CHART_VERSION)', 'a version string (letters, digits, . + _ -, at most 64)', chartVersion);
  }

  const healthRaw = pick('health-addr', 'HAWSER_HEALTH_ADDR') ?? '0.0.0.0:8080';
  const hm = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(healthRaw);
  const port = hm ? Number(hm[3]) : NaN;
  if (!hm || port > 65535) invalid('health address (--health-addr / HAWSER_HEALTH_ADDR)', 'host:port (port 0 picks a free one)', healthRaw);
  const healthAddr = { host: hm[1] ?? (hm[2] || '0.0.0.0'), port };

  const logLevel = pick('log-level', 'HAWSER_LOG_LEVEL') ?? 'info';
  if (!(LogLevels as readonly string[]).includes(logLevel)) invalid('log level (--log-level / HAWSER_LOG_LEVEL)', `one of ${LogLevels.join(', ')}`, logLevel);

  const logFormat = pick('log-format', 'HAWSER_LOG_FORMAT') ?? 'auto';
  if (!isLogFormat(logFormat)) invalid('log format (--log-format / HAWSER_LOG_FORMAT)', `one of ${LOG_FORMATS.join(', ')}`, logFormat);

  const stateDir = pick('state-dir', 'HAWSER_STATE_DIR');
  const kubeconfig = pick('kubeconfig', 'KUBECONFIG');
  let state: StateLocation;
  if (stateDir) {
    state = { kind: 'dir', path: stateDir };
  } else {
    const name = pick('state-secret', 'HAWSER_STATE_SECRET') ?? 'hawser-agent-state';
    const namespace = pick('namespace', 'POD_NAMESPACE');
    if (!DNS1123_SUBDOMAIN.test(name)) invalid('state Secret name (--state-secret / HAWSER_STATE_SECRET)', 'a DNS-1123 subdomain', name);
    if (!namespace) {
      invalid(
        'namespace (--namespace / POD_NAMESPACE)',
        'set when state is kept in a Secret (in a pod the chart sets POD_NAMESPACE; outside a cluster use --state-dir)',
        namespace,
      );
    }
    state = { kind: 'secret', namespace, name };
  }

  const kube: KubeAccess = kubeconfig
    ? { kind: 'kubeconfig', path: kubeconfig, ...(pick('context', 'HAWSER_KUBE_CONTEXT') ? { context: pick('context', 'HAWSER_KUBE_CONTEXT')! } : {}) }
    : // HAWSER_IN_CLUSTER_ROOT lets tests lay out a pod's ServiceAccount files elsewhere.
      { kind: 'in-cluster', root: env.HAWSER_IN_CLUSTER_ROOT ?? '' };

  const httpsProxy = env.HTTPS_PROXY ?? env.https_proxy;
  if (httpsProxy !== undefined && httpsProxy !== '') {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(httpsProxy).protocol);
    } catch {
      // reported below
    }
    if (!ok) invalid('HTTPS_PROXY', 'an http:// or https:// URL', httpsProxy);
  }
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

  const joinTokenFile = pick('join-token-file', 'HAWSER_JOIN_TOKEN_FILE');
  const joinCluster = pick('join-cluster', 'HAWSER_JOIN_CLUSTER');
  if ((joinTokenFile === undefined) !== (joinCluster === undefined)) {
    invalid('join (HAWSER_JOIN_TOKEN_FILE and HAWSER_JOIN_CLUSTER)', 'both set, or neither', joinTokenFile ?? joinCluster ?? '');
  }
  if (joinTokenFile !== undefined && (serverUrl === undefined || caHash === undefined)) {
    invalid('join (HAWSER_JOIN_TOKEN_FILE)', 'HAWSER_SERVER_URL and HAWSER_CA_HASH set too (no bootstrap token carries them)', joinTokenFile);
  }

  const config: AgentConfig = {
    ...(serverUrl ? { serverUrl } : {}),
    ...(joinTokenFile !== undefined && joinCluster !== undefined ? { join: { tokenFile: joinTokenFile, cluster: joinCluster } } : {}),
    ...(pick('token', 'HAWSER_BOOTSTRAP_TOKEN') ? { bootstrapToken: pick('token', 'HAWSER_BOOTSTRAP_TOKEN')! } : {}),
    bootstrapTokenFile: pick('token-file', 'HAWSER_BOOTSTRAP_TOKEN_FILE') ?? '/var/run/hawser/bootstrap/token',
    ...(caHash ? { caHash } : {}),
    state,
    kube,
    mode: mode as AgentMode,
    authzMode,
    impersonationPrefix,
    denyResources,
    protectedNamespaces,
    ...(chartVersion ? { chartVersion } : {}),
    healthAddr,
    logLevel: logLevel as LogLevel,
    logFormat,
    proxy: { ...(httpsProxy ? { httpsProxy } : {}), noProxy },
    renewAt: 2 / 3,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
