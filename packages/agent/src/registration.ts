import { request } from 'node:https';
import { AgentPaths, meansDeregistered, type ErrorBody, type IssuedCertificate } from '@hawser/contract';
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
  token: string;
  serverCA: string;
  proxy: ProxySettings;
  facts: AgentFacts;
}): Promise<AgentState> {
  const { key, csr } = createKeyAndCsr('hawser-agent');
  const issued = await postJson<IssuedCertificate>(
    new URL(AgentPaths.REGISTER, opts.serverUrl),
    { token: opts.token, csr, ...opts.facts },
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

function postJson<T>(url: URL, body: unknown, tls: TlsSettings, proxy: ProxySettings): Promise<T> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), accept: 'application/json' },
        // No `agent`: Node uses createConnection only when no agent is given.
        createConnection: serverConnector(url, tls, proxy) as never,
        timeout: 30_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let json: unknown = {};
          try {
            json = JSON.parse(text);
          } catch {
            // an error page from a proxy, say
          }
          if (status >= 200 && status < 300) return resolve(json as T);
          const error = (json as Partial<ErrorBody>)?.error;
          const message = typeof error?.message === 'string' ? error.message : text.slice(0, 200);
          const code = typeof error?.code === 'string' ? error.code : '';
          if (meansDeregistered(code)) {
            return reject(new AgentError(AgentErrorCodes.DEREGISTERED, `the server says this cluster was deregistered: ${message}`));
          }
          const what = url.pathname === AgentPaths.RENEW ? AgentErrorCodes.RENEWAL_FAILED : AgentErrorCodes.REGISTRATION_REFUSED;
          reject(new AgentError(what, `${url.pathname} answered ${status}: ${message}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url.host} did not answer within 30 s`)));
    req.on('error', (err) =>
      reject(err instanceof AgentError ? err : new AgentError(AgentErrorCodes.REGISTRATION_REFUSED, `cannot reach ${url.host}: ${err.message}`, { cause: err })),
    );
    req.end(payload);
  });
}
