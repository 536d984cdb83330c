import { existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * What the agent needs from a kubeconfig to run outside a pod: the API
 * server URL, its CA, and a static credential (bearer token or client
 * certificate). A deliberately small reader, so the agent does not carry
 * @kubernetes/client-node (57 MB installed) for ten lines of it.
 *
 * Not supported, refused with a clear message: exec credential plugins,
 * auth-provider plugins, insecure-skip-tls-verify, several files in
 * KUBECONFIG. Relative file paths resolve against the kubeconfig's directory,
 * as kubectl does.
 */
export interface KubeconfigTarget {
  readonly server: URL;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  /** `tls-server-name`: the name to verify the serving certificate against. */
  readonly serverName?: string;
}

interface Named<T> {
  name?: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}
type Fields = Record<string, unknown>;

export function readKubeconfig(path: string, context?: string): KubeconfigTarget {
  if (path.includes(delimiter) && !existsSync(path)) {
    throw new Error(`${path}: several kubeconfig files are not supported; pass one file`);
  }
  const doc = parse(readFileSync(path, 'utf8')) as Fields | null;
  if (!doc || typeof doc !== 'object') throw new Error(`${path}: not a kubeconfig (empty or not a mapping)`);
  const base = dirname(resolve(path));
  const contextName = context ?? str(doc['current-context']);
  if (!contextName) throw new Error(`${path}: no current-context; pass --context`);
  const ctx = entry(doc, 'contexts', 'context', contextName, path);
  const clusterName = str(ctx.cluster);
  if (!clusterName) throw new Error(`${path}: context "${contextName}" names no cluster`);
  const cluster = entry(doc, 'clusters', 'cluster', clusterName, path);
  const userName = str(ctx.user);
  const user = userName ? entry(doc, 'users', 'user', userName, path) : {};

  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new Error(`${path}: user "${userName}" uses an exec or auth-provider plugin, which hawser-agent does not run; use a token or a client certificate`);
  }
  if (cluster['insecure-skip-tls-verify'] === true) {
    throw new Error(`${path}: cluster "${clusterName}" sets insecure-skip-tls-verify; hawser-agent always verifies the API server (give certificate-authority-data)`);
  }
  const serverText = str(cluster.server);
  if (!serverText) throw new Error(`${path}: cluster "${clusterName}" has no server`);
  const server = new URL(serverText);
  if (server.protocol !== 'https:') throw new Error(`${path}: cluster "${clusterName}" server must be https:// (got ${server.protocol})`);

  const read = (data: unknown, file: unknown): Buffer | undefined => {
    if (str(data)) return Buffer.from(str(data)!, 'base64');
    if (str(file)) return readFileSync(isAbsolute(str(file)!) ? str(file)! : resolve(base, str(file)!));
    return undefined;
  };
  const ca = read(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = read(user['client-certificate-data'], user['client-certificate']);
  const key = read(user['client-key-data'], user['client-key']);
  const tokenFile = str(user.tokenFile);
  const token = str(user.token) ?? (tokenFile ? readFileSync(isAbsolute(tokenFile) ? tokenFile : resolve(base, tokenFile), 'utf8').trim() : undefined);
  const serverName = str(cluster['tls-server-name']);
  return {
    server,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token } : {}),
    ...(serverName ? { serverName } : {}),
  };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function entry(doc: Fields, list: 'clusters' | 'users' | 'contexts', field: 'cluster' | 'user' | 'context', name: string, path: string): Fields {
  const items = Array.isArray(doc[list]) ? (doc[list] as Named<Fields>[]) : [];
  const found = items.find((i) => i && i.name === name);
  if (!found) throw new Error(`${path}: no ${field} named "${name}"`);
  const value = found[field];
  return value && typeof value === 'object' ? value : {};
}
