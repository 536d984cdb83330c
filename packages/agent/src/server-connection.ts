import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { spkiHash } from '@hawser/contract';
import { AgentError, AgentErrorCodes } from './errors.js';
import { bypassesProxy, connectThroughProxy } from './https-proxy.js';

export interface ProxySettings {
  readonly httpsProxy?: string;
  readonly noProxy: readonly string[];
}

export interface TlsSettings {
  ca?: string | string[];
  cert?: string;
  key?: string;
  /** Only for CA discovery, where the pinned hash does the verifying. */
  rejectUnauthorized?: boolean;
}

const CONNECT_TIMEOUT_MS = 15_000;

/** OpenSSL's answers when the server's certificate does not chain to a CA the agent trusts. */
const UNTRUSTED_SERVER = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * The server's certificate is not from a CA in the agent's bundle. The usual
 * cause after a while offline: the server's CA was rotated and the old one
 * retired (`hawser ca retire --force`) before this agent renewed.
 */
function untrustedServer(url: URL, cause: Error): AgentError {
  return new AgentError(
    AgentErrorCodes.SERVER_UNTRUSTED,
    `the server at ${url.host} presents a certificate from a CA this agent does not trust (${cause.message}); ` +
      "if the server's CA was rotated and the old one retired while this agent was away, register again: " +
      '"hawser cluster token NAME" for a new bootstrap token, or for a cluster that joins with its ServiceAccount ' +
      'set server.caHash to the hash "hawser ca status" shows and restart the agent (HAG_ERR_SERVER_UNTRUSTED)',
    { cause },
  );
}

/**
 * Opens a TLS connection to the Hawser server, through the HTTPS proxy when
 * one is configured and the host is not in NO_PROXY. Every connection the
 * agent makes to the server (discovery, registration, renewal, the tunnel)
 * goes through here.
 */
export async function connectToServer(url: URL, tls: TlsSettings, proxy: ProxySettings): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  let raw: Socket | undefined;
  if (proxy.httpsProxy && !bypassesProxy(host, port, proxy.noProxy)) {
    raw = await connectThroughProxy(proxy.httpsProxy, host, port, CONNECT_TIMEOUT_MS);
  }
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      ...(raw ? { socket: raw } : { host, port }),
      // SNI takes host names only, never IP literals.
      ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => socket.destroy(new Error(`TLS connection to ${url.host} timed out`)), CONNECT_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(tls.ca && UNTRUSTED_SERVER.has((err as { code?: string }).code ?? '') ? untrustedServer(url, err) : err);
    });
  });
}

/**
 * The `createConnection` option for node:https and ws: lets an HTTP client
 * or WebSocket run over `connectToServer`'s socket.
 */
export function serverConnector(url: URL, tls: TlsSettings, proxy: ProxySettings) {
  return (_opts: unknown, callback: (err: Error | null, socket?: TLSSocket) => void): undefined => {
    connectToServer(url, tls, proxy).then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err),
    );
    return undefined;
  };
}

/**
 * Finds the server's CA by the hash the bootstrap token (or the chart) pins,
 * before the agent trusts the server with anything: connects without
 * verification, walks the presented chain, and returns the PEM of the
 * certificate whose public key has that hash, after checking that the
 * serving certificate really was issued by it.
 */
export async function discoverServerCA(url: URL, caHash: string, proxy: ProxySettings): Promise<string> {
  const socket = await connectToServer(url, { rejectUnauthorized: false }, proxy);
  try {
    const leaf = socket.getPeerCertificate(true) as DetailedPeerCertificate;
    const seen = new Set<string>();
    const chain: X509Certificate[] = [];
    for (let c: DetailedPeerCertificate | undefined = leaf; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
      seen.add(c.fingerprint256);
      chain.push(new X509Certificate(c.raw));
    }
    const ca = chain.find((c) => spkiHash(c) === caHash);
    if (!ca || !ca.ca) {
      throw new AgentError(
        AgentErrorCodes.SERVER_CA_MISMATCH,
        `the server at ${url.host} did not present a CA with public-key hash ${caHash}: refusing to register (is the URL right, or is something intercepting TLS?)`,
      );
    }
    const serving = chain[0]!;
    if (serving !== ca && !serving.checkIssued(ca)) {
      throw new AgentError(AgentErrorCodes.SERVER_CA_MISMATCH, `the server's certificate at ${url.host} was not issued by the pinned CA ${caHash}`);
    }
    return ca.toString();
  } finally {
    socket.destroy();
  }
}
