import { ErrorCodes, HawserServerError } from '../errors.js';
import type { ClusterJoinRecord } from '../store/store.js';
import { AGENT_CHART, AGENT_NAMESPACE, defaultAgentChart } from './install-commands.js';
import { SERVICE_ACCOUNT_SUBJECT, checkJwks, discoverJwks } from './service-account-join.js';

/** What `hawser cluster add NAME --join kubernetes …` sends. */
export interface JoinInput {
  method?: unknown;
  /** The cluster's service-account issuer (the `iss` of its tokens). */
  issuer?: unknown;
  /** `NS:NAME` or `system:serviceaccount:NS:NAME`; default the chart's, hawser-system:hawser-agent. */
  serviceAccount?: unknown;
  /** Default: the server's agent URL (what the chart's `server.url` holds). */
  audience?: unknown;
  /** Where discovery is read when the issuer URL is not reachable as such (e.g. the API server's own address). */
  discoveryUrl?: unknown;
  /** PEM that discovery URL is trusted by. */
  discoveryCa?: unknown;
  /** A static JWKS (`--jwks-file`): no discovery. */
  jwks?: unknown;
}

/** The ServiceAccount the agent chart creates, in the namespace the printed helm line installs into. */
export const DEFAULT_JOIN_SERVICE_ACCOUNT = `system:serviceaccount:${AGENT_NAMESPACE}:${AGENT_CHART}`;

function invalid(message: string): never {
  throw new HawserServerError(ErrorCodes.JOIN_CONFIG_INVALID, message);
}

function httpsUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 2048) invalid(`${field}: expected an https:// URL`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return invalid(`${field}: ${JSON.stringify(value.slice(0, 100))} is not a URL`);
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.hash) invalid(`${field}: expected an https:// URL without credentials or fragment`);
  return value;
}

/**
 * Checks a join request and finds the issuer's keys once (a static JWKS is
 * checked for shape; discovery is fetched), so `cluster add` fails at once
 * for an issuer the server cannot use rather than at the agent's first try.
 */
export async function clusterJoinInput(input: JoinInput, agentUrl: string): Promise<Omit<ClusterJoinRecord, 'clusterId'>> {
  if (typeof input !== 'object' || input === null) invalid('join: expected an object');
  if (input.method !== 'kubernetes') invalid('join.method: only "kubernetes" is supported');
  if (typeof input.issuer !== 'string' || input.issuer === '' || input.issuer.length > 2048) invalid('join.issuer: required (the cluster\'s service-account issuer)');
  const issuer = input.issuer;
  let subject = DEFAULT_JOIN_SERVICE_ACCOUNT;
  if (input.serviceAccount !== undefined) {
    if (typeof input.serviceAccount !== 'string') invalid('join.serviceAccount: expected NS:NAME');
    subject = input.serviceAccount.startsWith('system:serviceaccount:') ? input.serviceAccount : `system:serviceaccount:${input.serviceAccount}`;
    if (!SERVICE_ACCOUNT_SUBJECT.test(subject)) invalid(`join.serviceAccount: ${JSON.stringify(input.serviceAccount.slice(0, 300))} is not NS:NAME`);
  }
  const audience = input.audience === undefined ? agentUrl : input.audience;
  if (typeof audience !== 'string' || audience === '' || audience.length > 1024) invalid('join.audience: expected a non-empty string');
  const discoveryUrl = input.discoveryUrl === undefined ? null : httpsUrl(input.discoveryUrl, 'join.discoveryUrl');
  if (input.discoveryCa !== undefined && (typeof input.discoveryCa !== 'string' || !input.discoveryCa.includes('-----BEGIN CERTIFICATE-----'))) {
    invalid('join.discoveryCa: expected PEM certificates');
  }
  const discoveryCa = (input.discoveryCa as string | undefined) ?? null;
  if (input.jwks !== undefined) {
    if (discoveryUrl) invalid('join: give either a JWKS or a discovery URL, not both');
    const jwks = checkJwks(input.jwks, 'join.jwks');
    return { issuer, subject, audience, discoveryUrl: null, discoveryCa: null, jwks: jwks as unknown as Record<string, unknown> };
  }
  if (!discoveryUrl) httpsUrl(issuer, 'join.issuer (discovery reads it; give a JWKS file for an issuer that is not an https URL)');
  await discoverJwks({ issuer, discoveryUrl, discoveryCa });
  return { issuer, subject, audience, discoveryUrl, discoveryCa, jwks: null };
}

/** Single-quotes for POSIX shells. */
function q(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The `helm install` line for a cluster that joins with its ServiceAccount: no token in it. */
export function joinInstallCommand(input: { cluster: string; serverUrl: string; caHash: string; join: ClusterJoinRecord; chart?: string }): string {
  // The chart's ServiceAccount is always hawser-agent; the namespace is the subject's.
  const namespace = input.join.subject.split(':')[2];
  const chart = input.chart ?? defaultAgentChart() ?? AGENT_CHART;
  return [
    `helm install ${AGENT_CHART} ${q(chart)}`,
    `--namespace ${q(namespace ?? AGENT_NAMESPACE)} --create-namespace`,
    `--set-string server.url=${q(input.serverUrl)}`,
    `--set-string server.caHash=${q(input.caHash)}`,
    `--set-string join.method=kubernetes`,
    `--set-string join.cluster=${q(input.cluster)}`,
    `--set-string join.audience=${q(input.join.audience)}`,
  ].join(' ');
}
