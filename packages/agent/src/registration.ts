import { AgentPaths, meansDeregistered, type IssuedCertificate } from '@hawser/contract';
import { errorOf, isSuccess, requestJson } from '@hawser/https-json';
import { createKeyAndCsr } from './csr.js';
import { AgentError, AgentErrorCodes } from './errors.js';
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

/** Register and renew: JSON both ways over the proxy-aware connection; refusals become AgentErrors by code. */
async function postJson<T>(url: URL, body: unknown, tls: TlsSettings, proxy: ProxySettings): Promise<T> {
  let res;
  try {
    res = await requestJson({ method: 'POST', url, body, createConnection: serverConnector(url, tls, proxy), timeoutMs: 30_000 });
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError(AgentErrorCodes.REGISTRATION_REFUSED, `cannot reach ${url.host}: ${(err as Error).message}`, { cause: err });
  }
  if (isSuccess(res)) return res.json as T;
  const error = errorOf(res);
  const message = error?.message || res.text.slice(0, 200);
  if (meansDeregistered(error?.code ?? '')) {
    throw new AgentError(AgentErrorCodes.DEREGISTERED, `the server says this cluster was deregistered: ${message}`);
  }
  const what = url.pathname === AgentPaths.RENEW ? AgentErrorCodes.RENEWAL_FAILED : AgentErrorCodes.REGISTRATION_REFUSED;
  throw new AgentError(what, `${url.pathname} answered ${res.status}: ${message}`);
}
