import type { CliCommand } from './cli-command.js';
import { ExitCodes, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { currentIdToken, execCredential } from './oidc-exec-credential.js';
import { OidcProviderClient } from './oidc-provider-client.js';
import { defaultCacheDir, OidcTokenCache } from './oidc-token-cache.js';

const HELP = `Usage: hawser oidc-token --issuer URL --client-id ID [--cache-dir DIR]

The kubeconfig's credential plugin after hawser login --oidc: kubectl runs
it (users[].user.exec) and reads a client.authentication.k8s.io/v1
ExecCredential from its standard output. It prints the ID token cached by
hawser login --oidc; when that has less than a minute left it first gets a
new one with the refresh token, and caches it. When there is no sign-in, or
the provider refuses the refresh token, it fails with
HSR_ERR_OIDC_LOGIN_REQUIRED: run hawser login --oidc again.

Options:
  --issuer URL       the OpenID provider (as the server announced it)
  --client-id ID     the client the sign-in used
  --cache-dir DIR    the token cache (env HAWSER_OIDC_CACHE_DIR;
                     default ~/.kube/cache/hawser-oidc)
  -h, --help         show help
`;

const OPTIONS = {
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'cache-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `hawser oidc-token …` (run by kubectl, not by people) */
export const oidcTokenCommand: CliCommand = {
  name: 'oidc-token',
  summary: 'print an ExecCredential from the OIDC sign-in cache (kubectl runs it)',
  options: OPTIONS,
  run: runOidcToken,
};

async function runOidcToken(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser oidc-token');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser oidc-token takes no arguments (see --help)');
  const issuer = values.issuer;
  const clientId = values['client-id'];
  if (!issuer || !clientId) throw usageError('hawser oidc-token needs --issuer URL and --client-id ID (hawser login --oidc writes them into the kubeconfig)');
  const cache = new OidcTokenCache(values['cache-dir'] ?? defaultCacheDir(io.env), issuer, clientId);
  const { idToken, exp } = await currentIdToken({ cache, client: new OidcProviderClient(issuer, clientId), issuer, clientId });
  io.stdout(execCredential(idToken, exp));
  return ExitCodes.OK;
}
