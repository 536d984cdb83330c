import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient } from '../admin/admin-client.js';
import { DEFAULTS } from '../config.js';
import { DataFiles } from '../data-dir.js';
import type { CliCommand } from './cli-command.js';
import { defaultKubeconfigPath, operatorToken, TOKEN_HELP, TOKEN_OPTIONS } from './cli-credential.js';
import { ExitCodes, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { KUBECONFIG_TARGET_OPTIONS, writeKubeconfig } from './cli-kubeconfig-command.js';
import { printableLines } from './cli-table.js';
import type { KubeconfigCredential } from './kubeconfig.js';
import { oidcSignIn } from './oidc-login.js';
import type { OidcLoginOptions } from './oidc-login.js';
import { parseDuration } from '../duration.js';

/** The flags of the --oidc sign-in. */
const OIDC_LOGIN_OPTIONS = {
  oidc: { type: 'boolean' },
  'no-browser': { type: 'boolean' },
  'client-id': { type: 'string' },
  'callback-port': { type: 'string' },
  timeout: { type: 'string' },
  'cache-dir': { type: 'string' },
  'exec-command': { type: 'string' },
} as const;

function oidcLoginOptions(
  values: { [K in keyof typeof OIDC_LOGIN_OPTIONS]?: (typeof OIDC_LOGIN_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string },
  serverUrl: string,
  ca: string | undefined,
): OidcLoginOptions {
  const port = values['callback-port'] === undefined ? 0 : Number(values['callback-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--callback-port ${values['callback-port']}: expected a port number (0-65535)`);
  return {
    serverUrl,
    ca,
    clientId: values['client-id'],
    openBrowser: !values['no-browser'],
    timeoutMs: parseDuration(values.timeout ?? '5m', '--timeout'),
    callbackPort: port,
    cacheDir: values['cache-dir'],
    execCommand: values['exec-command'],
  };
}

const HELP = `Usage: hawser login --server URL (--token-file FILE | --token-file - | --oidc) [--kubeconfig FILE]

For operators: signs in to a Hawser server with YOUR credential (a Hawser
API token from your admin, or an OIDC ID token), asks it which clusters
are open to you (GET /api/v1/operator/clusters; no admin token involved)
and merges a context per cluster into your kubeconfig, as kubectl config
does: your other clusters, users and contexts stay.

  hawser login --server https://hawser.example.com --token-file ~/hawser-token
  kubectl config get-contexts

With --oidc you sign in with the server's OpenID provider in your browser
(authorization code with PKCE; the redirect comes back to this command on
127.0.0.1). The kubeconfig's user then runs \`hawser oidc-token\`, which
hands kubectl the cached ID token and refreshes it before it expires.

  hawser login --server https://hawser.example.com --oidc

Options:
  --server URL           the Hawser server (env HAWSER_SERVER; default https://${DEFAULTS.listen})
${TOKEN_HELP}
  --ca-file PATH         CA certificate to trust (default: the system's trust store,
                         or <data-dir>/ca.crt when run next to the server)
  --data-dir PATH        local data directory for the CA default (default ${DEFAULTS.dataDir})
  --kubeconfig FILE      merge into FILE (default: the first file of $KUBECONFIG, else ~/.kube/config)
  --use NAME             make NAME's context the current context
  --context-prefix P     name entries P<NAME> instead of hawser-<server host>/<NAME>
  -h, --help             show help

OIDC sign-in (--oidc):
  --oidc                 sign in with the OpenID provider the server names
  --no-browser           print the sign-in URL only (open it on this machine:
                         the redirect goes to 127.0.0.1)
  --client-id ID         the client to sign in as (default: the one the server names)
  --callback-port N      listen for the redirect on this port (default: any free one)
  --timeout D            how long to wait for the browser (default 5m)
  --cache-dir DIR        the token cache (env HAWSER_OIDC_CACHE_DIR;
                         default ~/.kube/cache/hawser-oidc)
  --exec-command PATH    the command kubectl runs for tokens (default: hawser
                         when on PATH, else this CLI's path)
`;

const OPTIONS = {
  server: { type: 'string' },
  'ca-file': { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...TOKEN_OPTIONS,
  ...KUBECONFIG_TARGET_OPTIONS,
  ...OIDC_LOGIN_OPTIONS,
} as const;

/** `hawser login …` */
export const loginCommand: CliCommand = {
  name: 'login',
  summary: 'merge contexts for the clusters open to you into your kubeconfig (operators)',
  options: OPTIONS,
  run: runLogin,
};

function caFrom(values: { 'ca-file'?: string | undefined; 'data-dir'?: string | undefined }, env: CliIo['env']): string | undefined {
  const local = join(values['data-dir'] ?? env.HAWSER_DATA_DIR ?? DEFAULTS.dataDir, DataFiles.CA_CERT);
  const file = values['ca-file'] ?? (existsSync(local) ? local : undefined);
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read CA file ${file}: ${(err as Error).message}`);
  }
}

async function runLogin(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser login');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser login takes no arguments (see --help)');
  const serverUrl = values.server ?? io.env.HAWSER_SERVER ?? `https://${DEFAULTS.listen}`;
  const ca = caFrom(values, io.env);
  let token: string | undefined;
  let credential: KubeconfigCredential;
  if (values.oidc) {
    if (values.token !== undefined || values['token-file'] !== undefined) throw usageError('pass either a token or --oidc, not both');
    const signIn = await oidcSignIn(oidcLoginOptions(values, serverUrl, ca), io);
    token = signIn.idToken;
    credential = { kind: 'exec', ...signIn.exec };
  } else {
    const unused = Object.keys(OIDC_LOGIN_OPTIONS).find((k) => k !== 'oidc' && values[k as keyof typeof values] !== undefined);
    if (unused) throw usageError(`--${unused} belongs to --oidc sign-in; add --oidc or drop it`);
    token = await operatorToken(values, io);
    if (!token) throw usageError('hawser login needs your token: --token-file FILE, --token-file - (standard input), HAWSER_TOKEN, or --oidc');
    credential = { kind: 'token', token };
  }
  // The bearer is the operator's own token; the route takes no admin token.
  const view = await new AdminClient({ serverUrl, adminToken: token, ca }).operatorClusters();
  if (!view.clusters.length) {
    io.stderr(printableLines(`hawser: signed in as ${view.user}, but no cluster is registered yet; nothing was written\n`));
    return ExitCodes.OK;
  }
  const file = values.kubeconfig ?? defaultKubeconfigPath(io.env);
  writeKubeconfig(io, {
    publicUrl: view.publicUrl,
    caBundle: view.caBundle,
    clusters: view.clusters.map((c) => c.name),
    credential,
    file,
    use: values.use,
    prefix: values['context-prefix'],
  });
  io.stdout(printableLines(`Signed in to ${view.publicUrl} as ${view.user}${view.tier ? ` (tier ${view.tier})` : ''}; ${view.clusters.length} cluster(s) in ${file}.\n`));
  return ExitCodes.OK;
}
