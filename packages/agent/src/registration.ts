import { AgentPaths, meansDeregistered, type IssuedCertificate } from '@hawser/contract';
import { errorOf, isSuccess, requestJson } from '@hawser/https-json';
import { createKeyAndCsr } from './csr.js';
import { AgentError, AgentErrorCodes } from './errors.js';
import { networkFailure, TRANSIENT_STATUSES } from './registration-failure.js';
import { serverConnector, type ProxySettings, type TlsSettings } from './server-connection.js';
import type { AgentState } from './state-store.js';

export interface AgentFacts {
  agentVersion: string;
  clusterUID?: string;
  kubernetesVersion?: string;
}

/**
 * First contact: generates the key locally, sends a CSR with the bootstrap
 * token to the server whose CA was pinned by hash, and returns the identity
 * to store. The token is single-use; the server consumes it atomically.
 */
export async function register(opts: {
  serverUrl: string;
  /** The bootstrap token; or, to join with the ServiceAccount (`--join kubernetes`), `serviceAccount`. */
  token?: string;
  /** The projected ServiceAccount token and the cluster's name at the server. */
  serviceAccount?: { token: string; cluster: string };
  serverCA: string | string[];
  proxy: ProxySettings;
  facts: AgentFacts;
}): Promise<AgentState> {
  const { key, csr } = createKeyAndCsr('hawser-agent');
  const issued = await postJson<IssuedCertificate>(
    new URL(AgentPaths.REGISTER, opts.serverUrl),
    {
      ...(opts.serviceAccount ? { serviceAccountToken: opts.serviceAccount.token, cluster: opts.serviceAccount.cluster } : { token: opts.token }),
      csr,
      ...opts.facts,
    },
    { ca: opts.serverCA },
    opts.proxy,
  );
  return { ...issued, key, serverUrl: opts.serverUrl };
}

/**
 * Renewal over the authenticated channel: a new key and CSR, authenticated
 * by the current (still valid) certificate. The old certificate stays valid
 * until it expires, so an interrupted renewal loses nothing.
 */
export async function renew(state: AgentState, proxy: ProxySettings, facts: AgentFacts): Promise<AgentState> {
  const { key, csr } = createKeyAndCsr('hawser-agent');
  const issued = await postJson<IssuedCertificate>(
    new URL(AgentPaths.RENEW, state.serverUrl),
    { csr, ...facts },
    { ca: state.caBundle, cert: state.certificate, key: state.key },
    proxy,
  );
  return { ...state, ...issued, key };
}

/**
 * Register and renew: JSON both ways over the proxy-aware connection.
 * Failures become AgentErrors by what the caller should do next: no answer
 * (refused, reset, DNS, a TLS handshake cut short, a timeout) or a 502/503/504
 * from something in front of the server is passing and retried within
 * seconds; a 4xx with the server's HSR_ERR_* code is a refusal that
 * retrying does not change.
 */
async function postJson<T>(url: URL, body: unknown, tls: TlsSettings, proxy: ProxySettings): Promise<T> {
  let res;
  try {
    res = await requestJson({ method: 'POST', url, body, createConnection: serverConnector(url, tls, proxy), timeoutMs: 30_000 });
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw networkFailure(err, url.host, url.hostname) ??
      new AgentError(AgentErrorCodes.REGISTRATION_REFUSED, `cannot reach ${url.host}: ${(err as Error).message}`, { cause: err });
  }
  if (isSuccess(res)) return res.json as T;
  const error = errorOf(res);
  const message = error?.message || res.text.slice(0, 200);
  if (meansDeregistered(error?.code ?? '')) {
    throw new AgentError(AgentErrorCodes.DEREGISTERED, `the server says this cluster was deregistered: ${message}`);
  }
  const renewing = url.pathname === AgentPaths.RENEW;
  const refusal = res.status >= 400 && res.status < 500 && !TRANSIENT_STATUSES.has(res.status) && Boolean(error?.code?.startsWith('HSR_ERR_'));
  if (!refusal) {
    const who = error?.code ? `the Hawser server at ${url.host}` : `${url.host} (not the Hawser server: no HSR_ERR code)`;
    throw new AgentError(
      AgentErrorCodes.SERVER_UNAVAILABLE,
      `${who} answered ${res.status} to ${url.pathname} (${message || 'no message'}): the server is starting or failing, or something in front of it (a proxy, a load balancer, an ingress) cannot reach it; check the server's health and the server URL`,
    );
  }
  if (renewing) throw new AgentError(AgentErrorCodes.RENEWAL_FAILED, `${url.pathname} answered ${res.status}: ${message}`);
  const code = error?.code ? ` (${error.code})` : '';
  throw new AgentError(
    AgentErrorCodes.REGISTRATION_REFUSED,
    `${url.pathname} answered ${res.status}: ${message}${code}; mint a new bootstrap token with "hawser cluster token NAME" and install it (chart value bootstrap.token)`,
  );
}
