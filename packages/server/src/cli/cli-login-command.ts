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

const HELP = `Usage: hawser login --server URL (--token-file FILE | --token-file -) [--kubeconfig FILE]

For operators: signs in to a Hawser server with YOUR credential (a Hawser
API token from your admin, or an OIDC ID token), asks it which clusters
are open to you (GET /api/v1/operator/clusters; no admin token involved)
and merges a context per cluster into your kubeconfig, as kubectl config
does: your other clusters, users and contexts stay.

  hawser login --server https://hawser.example.com --token-file ~/hawser-token
  kubectl config get-contexts

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
`;

const OPTIONS = {
  server: { type: 'string' },
  'ca-file': { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...TOKEN_OPTIONS,
  ...KUBECONFIG_TARGET_OPTIONS,
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
  const token = await operatorToken(values, io);
  if (!token) throw usageError('hawser login needs your token: --token-file FILE, --token-file - (standard input) or HAWSER_TOKEN');
  const serverUrl = values.server ?? io.env.HAWSER_SERVER ?? `https://${DEFAULTS.listen}`;
  // The bearer is the operator's own token; the route takes no admin token.
  const view = await new AdminClient({ serverUrl, adminToken: token, ca: caFrom(values, io.env) }).operatorClusters();
  if (!view.clusters.length) {
    io.stderr(printableLines(`hawser: signed in as ${view.user}, but no cluster is registered yet; nothing was written\n`));
    return ExitCodes.OK;
  }
  const file = values.kubeconfig ?? defaultKubeconfigPath(io.env);
  writeKubeconfig(io, {
    publicUrl: view.publicUrl,
    caBundle: view.caBundle,
    clusters: view.clusters.map((c) => c.name),
    credential: { kind: 'token', token },
    file,
    use: values.use,
    prefix: values['context-prefix'],
  });
  io.stdout(printableLines(`Signed in to ${view.publicUrl} as ${view.user}${view.tier ? ` (tier ${view.tier})` : ''}; ${view.clusters.length} cluster(s) in ${file}.\n`));
  return ExitCodes.OK;
}
