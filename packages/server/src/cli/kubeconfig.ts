import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ErrorCodes, HawserServerError } from '../errors.js';

/** How the kubeconfig's user authenticates to the Hawser relay. */
export type KubeconfigCredential =
  | { kind: 'token'; token: string }
  | { kind: 'oidc'; issuer: string; clientId: string; extraScopes?: string[] }
  /** An exec credential plugin as given (hawser login --oidc: `hawser oidc-token …`). */
  | { kind: 'exec'; command: string; args: readonly string[] };

type Named = { name: string } & Record<string, unknown>;

/** The entries Hawser writes: one cluster and one context per cluster, one user per server. */
export interface KubeconfigEntries {
  clusters: Named[];
  contexts: Named[];
  users: Named[];
}

/**
 * The prefix of every name Hawser writes into a kubeconfig:
 * `hawser-<host>[:port]/`. It names the Hawser server, so it cannot collide
 * with the contexts of other tools (kind-, gke_, arn:…) nor with a second
 * Hawser server; `/` appears in neither host names nor cluster names, so
 * `<prefix><cluster>` is unambiguous.
 */
export function namePrefix(publicUrl: string): string {
  return `hawser-${new URL(publicUrl).host}/`;
}

/**
 * A cluster and a context per cluster, each pointing at the relay path
 * `https://SERVER/clusters/NAME` and trusting the Hawser CA. OIDC users get
 * an exec entry for the kubelogin plugin (`kubectl oidc-login`), so kubectl
 * fetches and refreshes ID tokens itself.
 */
export function kubeconfigEntries(opts: {
  publicUrl: string;
  caBundle: readonly string[];
  clusters: readonly string[];
  credential: KubeconfigCredential;
  prefix?: string;
}): KubeconfigEntries {
  const prefix = opts.prefix ?? namePrefix(opts.publicUrl);
  const ca = Buffer.from(opts.caBundle.join('')).toString('base64');
  const user = prefix.replace(/\/$/, '') || 'hawser';
  const base = opts.publicUrl.replace(/\/$/, '');
  const c = opts.credential;
  const credential =
    c.kind === 'token'
      ? { token: c.token }
      : c.kind === 'exec'
        ? { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: c.command, args: [...c.args], interactiveMode: 'Never', provideClusterInfo: false } }
        : {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: 'kubectl',
            args: ['oidc-login', 'get-token', `--oidc-issuer-url=${c.issuer}`, `--oidc-client-id=${c.clientId}`, ...(c.extraScopes ?? []).map((s) => `--oidc-extra-scope=${s}`)],
            interactiveMode: 'IfAvailable',
            provideClusterInfo: false,
          },
        };
  return {
    clusters: opts.clusters.map((name) => ({
      name: `${prefix}${name}`,
      cluster: { server: `${base}/clusters/${encodeURIComponent(name)}`, 'certificate-authority-data': ca },
    })),
    contexts: opts.clusters.map((name) => ({ name: `${prefix}${name}`, context: { cluster: `${prefix}${name}`, user } })),
    users: [{ name: user, user: credential }],
  };
}

const YAML_OPTIONS = { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN', lineWidth: 0 } as const;

/** A fresh kubeconfig holding only `entries`; current-context is the first context. */
export function buildKubeconfig(opts: Parameters<typeof kubeconfigEntries>[0]): string {
  const entries = kubeconfigEntries(opts);
  return stringify(
    { apiVersion: 'v1', kind: 'Config', ...entries, 'current-context': entries.contexts[0]?.name ?? '' },
    YAML_OPTIONS,
  );
}

function invalid(source: string, why: string): HawserServerError {
  return new HawserServerError(ErrorCodes.KUBECONFIG_INVALID, `${source} is no kubeconfig Hawser can merge into: ${why}; nothing was written`);
}

/**
 * Merges `entries` into the kubeconfig text `existing`, as `kubectl config
 * set-*` does: entries of other names (other clusters, users, contexts) and
 * other top-level fields stay; entries of the names Hawser writes are
 * replaced. current-context stays unless `use` names one of the written
 * contexts, or the file had none.
 */
export function mergeKubeconfig(existing: string, entries: KubeconfigEntries, opts: { source: string; use?: string | undefined }): string {
  let doc: unknown;
  try {
    doc = existing.trim() ? parse(existing) : {};
  } catch (err) {
    throw invalid(opts.source, `not YAML (${(err as Error).message.split('\n')[0]})`);
  }
  doc ??= {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(opts.source, 'not a YAML mapping');
  const config = { apiVersion: 'v1', kind: 'Config', ...(doc as Record<string, unknown>) };
  if (config.kind !== 'Config') throw invalid(opts.source, `kind is ${JSON.stringify(config.kind)}, not Config`);
  for (const key of ['clusters', 'contexts', 'users'] as const) {
    const list = (config as Record<string, unknown>)[key] ?? [];
    if (!Array.isArray(list) || list.some((e) => !e || typeof e !== 'object' || typeof (e as Named).name !== 'string')) {
      throw invalid(opts.source, `${key} is not a list of named entries`);
    }
    const ours = new Set(entries[key].map((e) => e.name));
    (config as Record<string, unknown>)[key] = [...(list as Named[]).filter((e) => !ours.has(e.name)), ...entries[key]];
  }
  const current = (config as Record<string, unknown>)['current-context'];
  if (opts.use !== undefined) (config as Record<string, unknown>)['current-context'] = opts.use;
  else if (typeof current !== 'string' || current === '') (config as Record<string, unknown>)['current-context'] = entries.contexts[0]?.name ?? '';
  return stringify(config, YAML_OPTIONS);
}

/**
 * Merges into the kubeconfig file `path` (created when missing) and
 * replaces it in one rename, mode 0600: kubectl never reads a half-written
 * file, and a failed merge leaves the old one as it was.
 */
export function mergeKubeconfigFile(path: string, entries: KubeconfigEntries, use?: string): void {
  const target = existsSync(path) ? realpathSync(path) : path;
  let existing = '';
  if (existsSync(target)) {
    try {
      existing = readFileSync(target, 'utf8');
    } catch (err) {
      throw invalid(path, `unreadable (${(err as Error).message})`);
    }
  }
  const text = mergeKubeconfig(existing, entries, { source: path, use });
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const temp = join(dirname(target), `.${Date.now()}-${process.pid}.hawser-kubeconfig.tmp`);
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, target);
}
