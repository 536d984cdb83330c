import { isIP } from 'node:net';
import { LOG_FORMATS, isLogFormat, type LogFormat } from '@hawser/contract';
import { parseDuration } from './duration.js';
import { newReplicaId } from './fleet/replica-id.js';
import { AUDIT_SYNC_MODES, type AuditSync } from './audit/audit-journal.js';
import type { AuthorizationConfig } from './auth/authorization.js';
import { ErrorCodes, HawserServerError } from './errors.js';
import type { OidcConfig } from './auth/oidc-authenticator.js';
import { resolveAuthorization, resolveKubernetesAuth, resolveOidc, type OperatorConfigInput } from './auth/operator-config.js';
import type { KubernetesAuthConfig } from './auth/token-review-authenticator.js';
import { defaultAgentChart, resolveAgentChart } from './registration/install-commands.js';

/** A host and port to listen on. Port 0 picks a free port (tests). */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The validated, frozen server configuration. */
export interface ServerConfig {
  /** Directory for the CA, keys, admin token and the embedded database. Default `./.hawser/data`. */
  readonly dataDir: string;
  /**
   * `postgres://…` or `postgresql://…` selects PostgreSQL; `memory://` an
   * in-memory PGlite (tests); unset selects embedded PGlite in `<dataDir>/db`.
   */
  readonly databaseUrl: string | undefined;
  /** Operator + admin API listener. Default `127.0.0.1:8443`. */
  readonly listen: ListenAddress;
  /** Agent (mTLS) listener. Default `127.0.0.1:8444`. */
  readonly agentListen: ListenAddress;
  /** URL operators use. Default: derived from `listen` once bound. */
  readonly publicUrl: string | undefined;
  /** URL agents dial (put into bootstrap tokens). Default: derived from `agentListen` once bound. */
  readonly agentUrl: string | undefined;
  /**
   * Host names and IPs in the serving certificate. Default
   * `localhost, 127.0.0.1, ::1`; the hosts of `publicUrl`/`agentUrl` are added.
   */
  readonly serverNames: readonly string[];
  /** Lifetime of bootstrap tokens in ms. Default 1 h, at most {@link MAX_BOOTSTRAP_TOKEN_TTL}. */
  readonly tokenTtlMs: number;
  /** Audit events older than this (ms) are deleted, at start and hourly. Default 90 days. */
  readonly auditRetentionMs: number;
  /** Lifetime of agent client certificates in ms. Default 30 days. */
  readonly certificateTtlMs: number;
  /** How far notBefore is set in the past to absorb clock skew, in ms. Default 5 min. */
  readonly certificateBackdateMs: number;
  /** Default `info`. */
  readonly logLevel: LogLevel;
  /** `json`, `pretty`, or `auto` (the default): readable on a terminal, JSON otherwise. */
  readonly logFormat: LogFormat;
  /**
   * A plain-HTTP listener for `/metrics` (and `/livez`, `/readyz`), kept
   * off the public listeners. Unset: none. A bare port listens on loopback.
   */
  readonly metricsListen: ListenAddress | undefined;
  /** Whether the operator listener serves `/metrics` too. Default: only when `metricsListen` is unset. */
  readonly operatorMetrics: boolean;
  /** How operators map to impersonated identities. Default tier mode, prefix `hawser:`, no tier groups. */
  readonly authorization: AuthorizationConfig;
  /** OIDC verification of operator tokens; unset: Hawser API tokens only. */
  readonly oidc: OidcConfig | undefined;
  readonly kubernetesAuth: KubernetesAuthConfig | undefined;
  /**
   * The agent chart the printed `helm install` line names: an oci://
   * reference, an https:// .tgz, or a local chart directory or .tgz (made
   * absolute). Default: this checkout's charts/hawser-agent, if any.
   */
  readonly agentChart: string | undefined;
  /** How durable a relayed request's audit record is before its stream opens (audit-journal.ts). Default `process`. */
  readonly auditSync: AuditSync;
  /** This replica's id in the fleet (leases, peers, logs). Default: `r-` and 8 random base32 characters, new at each start. */
  readonly replicaId: string;
  /** How long a tunnel lease lives unrenewed (renewed every third of it). Default 15 s. */
  readonly leaseTtlMs: number;
  /** How long a draining server (SIGTERM) lets accepted requests finish before it cuts them. Default 25 s. */
  readonly drainTimeoutMs: number;
  /**
   * The replica-to-replica (mTLS) listener: unset is none. Default none on
   * the embedded store (one replica), `127.0.0.1:8445` with a PostgreSQL
   * `databaseUrl`; `off` turns it off.
   */
  readonly peerListen: ListenAddress | undefined;
  /** `https://host:port` other replicas dial. Default: derived from `peerListen` once bound. */
  readonly peerAdvertise: string | undefined;
}

/** What callers pass: every field optional, durations as `1h`-style strings or ms. */
export interface ServerConfigInput extends OperatorConfigInput {
  dataDir?: string;
  databaseUrl?: string;
  listen?: string | ListenAddress;
  agentListen?: string | ListenAddress;
  publicUrl?: string;
  agentUrl?: string;
  serverNames?: readonly string[];
  tokenTtl?: string | number;
  auditRetention?: string | number;
  certificateTtl?: string | number;
  certificateBackdate?: string | number;
  logLevel?: string;
  agentChart?: string;
  auditSync?: string;
  logFormat?: string;
  /** `HOST:PORT`, a bare `PORT` (loopback), `off`, or `{ host, port }`. */
  metricsListen?: string | ListenAddress;
  operatorMetrics?: boolean;
  /** A DNS label (the chart passes the pod name). */
  replicaId?: string;
  leaseTtl?: string | number;
  drainTimeout?: string | number;
  /** `HOST:PORT`, `off`, or `{ host, port }`. */
  peerListen?: string | ListenAddress;
  peerAdvertise?: string;
}

/** The one defaults object. */
export const DEFAULTS = Object.freeze({
  dataDir: './.hawser/data',
  listen: '127.0.0.1:8443',
  agentListen: '127.0.0.1:8444',
  serverNames: Object.freeze(['localhost', '127.0.0.1', '::1']),
  tokenTtl: '1h',
  auditRetention: '90d',
  certificateTtl: '30d',
  certificateBackdate: '5m',
  logLevel: 'info',
  auditSync: 'process',
  logFormat: 'auto',
  leaseTtl: '15s',
  drainTimeout: '25s',
  peerListen: '127.0.0.1:8445',
} as const);

/**
 * The one cap on bootstrap token lifetimes (server flag, config, admin API,
 * CLI and docs): a bootstrap token is a credential lying around until used.
 */
export const MAX_BOOTSTRAP_TOKEN_TTL = '7d';
export const MAX_BOOTSTRAP_TOKEN_TTL_MS = parseDuration(MAX_BOOTSTRAP_TOKEN_TTL);

/** Why `ms` is no valid bootstrap token lifetime, or undefined when it is. */
export function bootstrapTokenTtlProblem(ms: number): string | undefined {
  return ms > MAX_BOOTSTRAP_TOKEN_TTL_MS ? `at most ${MAX_BOOTSTRAP_TOKEN_TTL} (${MAX_BOOTSTRAP_TOKEN_TTL_MS} ms)` : undefined;
}

/** Shortest audit retention: pruning must never eat the events an operator is looking at today. */
export const MIN_AUDIT_RETENTION = '1h';

function invalid(field: string, expected: string, got: unknown): never {
  throw new HawserServerError(
    ErrorCodes.CONFIG_INVALID,
    `config.${field}: expected ${expected}, got ${JSON.stringify(got)}`,
  );
}

function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') invalid(field, 'a non-empty string', value);
  return value;
}

/** Parses `host:port`, `[v6]:port` or `{ host, port }`. */
export function parseListenAddress(field: string, value: unknown): ListenAddress {
  const expected = 'host:port (e.g. 127.0.0.1:8443 or [::1]:8443) with port 0-65535';
  let host: unknown;
  let port: unknown;
  if (typeof value === 'string') {
    const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value.trim());
    if (!match) invalid(field, expected, value);
    host = match[1] ?? match[2];
    port = Number(match[3]);
  } else if (typeof value === 'object' && value !== null) {
    ({ host, port } = value as { host?: unknown; port?: unknown });
  } else {
    invalid(field, expected, value);
  }
  if (typeof host !== 'string' || host === '') invalid(field, expected, value);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) invalid(field, expected, value);
  return Object.freeze({ host, port });
}

function optionalUrl(field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = nonEmptyString(field, value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    invalid(field, 'an absolute https:// URL', value);
  }
  if (url.protocol !== 'https:') invalid(field, 'an absolute https:// URL', value);
  return text.replace(/\/+$/, '');
}

function duration(field: string, value: string | number): number {
  try {
    return parseDuration(value, `config.${field}`);
  } catch {
    invalid(field, 'a positive duration such as 90s, 15m, 1h or 30d', value);
  }
}

function tokenTtl(value: string | number): number {
  const ms = duration('tokenTtl', value);
  const problem = bootstrapTokenTtlProblem(ms);
  if (problem) invalid('tokenTtl', `a bootstrap token lifetime of ${problem}`, value);
  return ms;
}

function auditRetention(value: string | number): number {
  const ms = duration('auditRetention', value);
  if (ms < parseDuration(MIN_AUDIT_RETENTION)) invalid('auditRetention', `a duration of at least ${MIN_AUDIT_RETENTION}, such as 90d`, value);
  return ms;
}

/** Longer than a pod's usual grace would only postpone the SIGKILL that ends it anyway. */
const MAX_DRAIN_TIMEOUT_MS = 10 * 60_000;

function drainTimeout(value: string | number): number {
  const ms = duration('drainTimeout', value);
  if (ms > MAX_DRAIN_TIMEOUT_MS) invalid('drainTimeout', 'a duration of at most 10m, such as 25s', value);
  return ms;
}

function databaseUrl(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  const text = nonEmptyString('databaseUrl', value);
  if (!/^(postgres|postgresql|memory):\/\//.test(text)) {
    invalid('databaseUrl', 'postgres://…, postgresql://… or memory://', '<redacted url>');
  }
  return text;
}

function agentChart(value: unknown): string | undefined {
  if (value === undefined) return defaultAgentChart();
  const resolved = resolveAgentChart(nonEmptyString('agentChart', value));
  if ('error' in resolved) invalid('agentChart', resolved.error, value);
  return resolved.chart;
}

/** The metrics listener: `off` or unset is none; a bare port listens on loopback. */
function metricsAddress(value: unknown): ListenAddress | undefined {
  if (value === undefined || value === '' || value === 'off') return undefined;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return parseListenAddress('metricsListen', `127.0.0.1:${value.trim()}`);
  return parseListenAddress('metricsListen', value);
}

/** A replica id goes into logs, lease rows and certificate names: a DNS label, as a pod name is. */
function replicaIdOf(value: unknown): string {
  const text = nonEmptyString('replicaId', value);
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(text)) invalid('replicaId', 'a DNS label: a-z, 0-9 and -, at most 63 characters', value);
  return text;
}

/** Between 1 s (tests) and 10 min: shorter floods the database with renewals, longer leaves dead owners routed to. */
function leaseTtl(value: string | number): number {
  const ms = duration('leaseTtl', value);
  if (ms < 1_000 || ms > 600_000) invalid('leaseTtl', 'a duration from 1s to 10m, such as 15s', value);
  return ms;
}

/** The peer listener: off on the embedded store (one replica), on by default with PostgreSQL. */
function peerAddress(value: unknown, database: string | undefined): ListenAddress | undefined {
  if (value === 'off') return undefined;
  if (value === undefined || value === '') return database && /^postgres(ql)?:/.test(database) ? parseListenAddress('peerListen', DEFAULTS.peerListen) : undefined;
  return parseListenAddress('peerListen', value);
}

/** Host name of a URL without IPv6 brackets. */
export function urlHost(url: string): string {
  return new URL(url).hostname.replace(/^\[|\]$/g, '');
}

/**
 * Validates `input` against the schema, fills defaults and returns a frozen
 * config. Throws HSR_ERR_CONFIG_INVALID naming the first bad field.
 */
export function resolveConfig(input: ServerConfigInput = {}): ServerConfig {
  const known = new Set<string>([
    'dataDir', 'databaseUrl', 'listen', 'agentListen', 'publicUrl', 'agentUrl', 'serverNames',
    'tokenTtl', 'auditRetention', 'certificateTtl', 'certificateBackdate', 'logLevel', 'agentChart', 'auditSync',
    'authorizationMode', 'impersonationPrefix', 'tierGroups', 'oidc', 'kubernetesAuth',
    'logFormat', 'metricsListen', 'operatorMetrics',
    'replicaId', 'leaseTtl',
    'drainTimeout',
    'peerListen', 'peerAdvertise',
  ]);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) invalid(key, `one of the known fields (${[...known].join(', ')})`, 'unknown field');
  }
  const logLevel = input.logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) invalid('logLevel', LOG_LEVELS.join(' | '), logLevel);

  const auditSync = input.auditSync ?? DEFAULTS.auditSync;
  if (!(AUDIT_SYNC_MODES as readonly string[]).includes(auditSync)) invalid('auditSync', AUDIT_SYNC_MODES.join(' | '), auditSync);
  const logFormat = input.logFormat ?? DEFAULTS.logFormat;
  if (!isLogFormat(logFormat)) invalid('logFormat', LOG_FORMATS.join(' | '), logFormat);
  const metricsListen = metricsAddress(input.metricsListen);
  if (input.operatorMetrics !== undefined && typeof input.operatorMetrics !== 'boolean') invalid('operatorMetrics', 'true or false', input.operatorMetrics);

  const dbUrl = databaseUrl(input.databaseUrl);
  const peerListen = peerAddress(input.peerListen, dbUrl);
  const peerAdvertise = optionalUrl('peerAdvertise', input.peerAdvertise);
  if (peerAdvertise && !peerListen) invalid('peerAdvertise', 'no value without peerListen (the peer listener is off)', input.peerAdvertise);
  const publicUrl = optionalUrl('publicUrl', input.publicUrl);
  const agentUrl = optionalUrl('agentUrl', input.agentUrl);
  const names = input.serverNames ?? DEFAULTS.serverNames;
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || n === '')) {
    invalid('serverNames', 'a list of host names or IP addresses', names);
  }
  const serverNames = new Set<string>(names);
  for (const url of [publicUrl, agentUrl]) if (url) serverNames.add(urlHost(url));
  for (const name of serverNames) {
    if (isIP(name) === 0 && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(name)) {
      invalid('serverNames', 'host names or IP addresses', name);
    }
  }

  const config: ServerConfig = {
    dataDir: nonEmptyString('dataDir', input.dataDir ?? DEFAULTS.dataDir),
    databaseUrl: dbUrl,
    listen: parseListenAddress('listen', input.listen ?? DEFAULTS.listen),
    agentListen: parseListenAddress('agentListen', input.agentListen ?? DEFAULTS.agentListen),
    publicUrl,
    agentUrl,
    serverNames: Object.freeze([...serverNames]),
    tokenTtlMs: tokenTtl(input.tokenTtl ?? DEFAULTS.tokenTtl),
    auditRetentionMs: auditRetention(input.auditRetention ?? DEFAULTS.auditRetention),
    certificateTtlMs: duration('certificateTtl', input.certificateTtl ?? DEFAULTS.certificateTtl),
    certificateBackdateMs: duration('certificateBackdate', input.certificateBackdate ?? DEFAULTS.certificateBackdate),
    logLevel: logLevel as LogLevel,
    logFormat,
    metricsListen,
    operatorMetrics: input.operatorMetrics ?? metricsListen === undefined,
    authorization: resolveAuthorization(input),
    oidc: resolveOidc(input.oidc),
    kubernetesAuth: resolveKubernetesAuth(input.kubernetesAuth),
    agentChart: agentChart(input.agentChart),
    auditSync: auditSync as AuditSync,
    replicaId: input.replicaId === undefined ? newReplicaId() : replicaIdOf(input.replicaId),
    leaseTtlMs: leaseTtl(input.leaseTtl ?? DEFAULTS.leaseTtl),
    drainTimeoutMs: drainTimeout(input.drainTimeout ?? DEFAULTS.drainTimeout),
    peerListen,
    peerAdvertise,
  };
  return Object.freeze(config);
}

/** `https://host:port` with IPv6 brackets; used to derive URLs from listeners. */
export function listenUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  return `https://${isIP(shown) === 6 ? `[${shown}]` : shown}:${port}`;
}
