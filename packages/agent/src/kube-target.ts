import { readFileSync, statSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import type { KubeAccess } from './config.js';
import { AgentError, AgentErrorCodes } from './errors.js';
import { checkCaBundle, kubeAccessFailure } from './kube-access-errors.js';

const SERVICEACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How often a projected token file is checked for rotation (client-go uses a minute). */
const TOKEN_RECHECK_MS = 10_000;

/**
 * The agent's own way into its cluster's API server: URL, trust, and the
 * credentials of its ServiceAccount. Every relayed request carries these;
 * the identity it acts as comes from impersonation headers.
 */
export class KubeTarget {
  readonly url: URL;
  readonly agent: HttpsAgent;
  /** Namespace of the agent's ServiceAccount (in-cluster only). */
  readonly namespace: string | undefined;
  readonly #token: (() => string | undefined) | undefined;

  private constructor(url: URL, tls: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string; servername?: string }, token?: () => string | undefined, namespace?: string) {
    this.url = url;
    this.#token = token;
    this.namespace = namespace;
    // Keep-alive: hundreds of small GETs a second must not each pay a TLS
    // handshake. Watches and exec hold their own sockets.
    this.agent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 64, ...tls });
  }

  /** Authorization header value, re-read from a rotating token file when it changes. */
  authorization(): string | undefined {
    const token = this.#token?.();
    return token ? `Bearer ${token}` : undefined;
  }

  static async load(access: KubeAccess): Promise<KubeTarget> {
    try {
      return access.kind === 'in-cluster' ? KubeTarget.#inCluster(access.root) : await KubeTarget.#fromKubeconfig(access.path, access.context);
    } catch (err) {
      throw kubeAccessFailure(err, access);
    }
  }

  static #inCluster(root: string): KubeTarget {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new AgentError(
        AgentErrorCodes.CONFIG_INVALID,
        'not running in a pod (KUBERNETES_SERVICE_HOST/PORT unset): pass --kubeconfig to run outside a cluster',
      );
    }
    const dir = join(root, SERVICEACCOUNT_DIR);
    const url = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
    const namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim();
    const ca = readFileSync(join(dir, 'ca.crt'));
    checkCaBundle(ca, join(dir, 'ca.crt'));
    return new KubeTarget(url, { ca }, tokenFile(join(dir, 'token')), namespace);
  }

  static async #fromKubeconfig(path: string, context?: string): Promise<KubeTarget> {
    // A small reader of our own (kubeconfig.ts), loaded only here: an agent
    // in a pod never reads a kubeconfig, so it never sets up the YAML parser.
    const { readKubeconfig } = await import('./kubeconfig.js');
    const kc = readKubeconfig(path, context);
    if (kc.ca) checkCaBundle(kc.ca, `the certificate-authority of kubeconfig ${path}`);
    const tls = {
      ...(kc.ca ? { ca: kc.ca } : {}),
      ...(kc.cert ? { cert: kc.cert } : {}),
      ...(kc.key ? { key: kc.key } : {}),
      ...(kc.serverName ? { servername: kc.serverName } : {}),
    };
    const token = kc.token;
    return new KubeTarget(kc.server, tls, token ? () => token : undefined);
  }
}

/** A token file that kubelet rewrites as the projected token rotates. */
function tokenFile(path: string): () => string | undefined {
  let token: string | undefined;
  let mtime = 0;
  let checked = 0;
  return () => {
    const now = Date.now();
    if (now - checked >= TOKEN_RECHECK_MS || token === undefined) {
      checked = now;
      try {
        const m = statSync(path).mtimeMs;
        if (m !== mtime || token === undefined) {
          token = readFileSync(path, 'utf8').trim();
          mtime = m;
        }
      } catch {
        // Keep the last token: a rotation in progress must not fail requests.
      }
    }
    return token;
  };
}
