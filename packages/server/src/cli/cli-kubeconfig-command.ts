import { AdminClient } from '../admin/admin-client.js';
import type { CliCommand } from './cli-command.js';
import { TOKEN_HELP, TOKEN_OPTIONS, operatorToken } from './cli-credential.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { printableLines } from './cli-table.js';
import { buildKubeconfig, kubeconfigEntries, mergeKubeconfigFile, namePrefix, type KubeconfigCredential } from './kubeconfig.js';

const HELP = `Usage: hawser kubeconfig [NAME...] (--token-file FILE | --oidc-issuer URL --oidc-client-id ID) [--kubeconfig FILE]

Writes kubeconfig entries for Hawser clusters (all registered clusters when
no NAME is given): per cluster a cluster entry and a context named
hawser-<server host>/<NAME>, pointing at https://SERVER/clusters/NAME and
trusting the Hawser CA, and one user entry hawser-<server host>.

With --kubeconfig FILE the entries are MERGED into FILE as kubectl config
does: other clusters, users and contexts stay, entries of the same names
are replaced, current-context stays (set it with --use NAME; a file without
one gets the first cluster's). Without it a new kubeconfig is printed.

  hawser kubeconfig --token-file my-token --kubeconfig ~/.kube/config
  kubectl --context hawser-hawser.example.com/prod-eu get pods -A

Operators without the admin token use hawser login instead.

Options:
${TOKEN_HELP}
  --oidc-issuer URL      use an OIDC exec entry (kubectl oidc-login) instead of a token
  --oidc-client-id ID    the OIDC client id
  --oidc-extra-scope S   extra scope to request (repeatable)
  --kubeconfig FILE      merge into FILE (mode 0600; created when missing);
                         --output FILE is the same flag's older name
  --use NAME             make NAME's context the current context
  --context-prefix P     name entries P<NAME> instead of hawser-<server host>/<NAME>

${GLOBAL_HELP}
`;

/** The target-file flags shared with hawser login. */
export const KUBECONFIG_TARGET_OPTIONS = {
  kubeconfig: { type: 'string' },
  use: { type: 'string' },
  'context-prefix': { type: 'string' },
} as const;

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  ...TOKEN_OPTIONS,
  ...KUBECONFIG_TARGET_OPTIONS,
  'oidc-issuer': { type: 'string' },
  'oidc-client-id': { type: 'string' },
  'oidc-extra-scope': { type: 'string', multiple: true },
  output: { type: 'string' },
} as const;

/** `hawser kubeconfig …` */
export const kubeconfigCommand: CliCommand = {
  name: 'kubeconfig',
  summary: 'write or merge kubeconfig entries, one context per cluster (admin)',
  options: OPTIONS,
  run: runKubeconfig,
};

/** Writes `clusters` into the target file (merge) or prints a fresh kubeconfig; shared with hawser login. */
export function writeKubeconfig(
  io: CliIo,
  opts: { publicUrl: string; caBundle: readonly string[]; clusters: readonly string[]; credential: KubeconfigCredential; file: string | undefined; use: string | undefined; prefix: string | undefined },
): void {
  const prefix = opts.prefix ?? namePrefix(opts.publicUrl);
  if (opts.use !== undefined && !opts.clusters.includes(opts.use)) throw usageError(`--use ${opts.use}: not among the clusters written (${opts.clusters.join(', ')})`);
  const spec = { publicUrl: opts.publicUrl, caBundle: opts.caBundle, clusters: opts.clusters, credential: opts.credential, prefix };
  if (!opts.file) {
    io.stdout(buildKubeconfig(spec));
    return;
  }
  mergeKubeconfigFile(opts.file, kubeconfigEntries(spec), opts.use === undefined ? undefined : `${prefix}${opts.use}`);
  io.stderr(printableLines(`merged ${opts.clusters.length} context(s) into ${opts.file}: ${opts.clusters.map((c) => prefix + c).join(', ')}\n`));
}

async function runKubeconfig(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser kubeconfig');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (values.kubeconfig !== undefined && values.output !== undefined) throw usageError('pass either --kubeconfig or --output (its older name), not both');
  let credential: KubeconfigCredential;
  const oidc = values['oidc-issuer'];
  const token = oidc ? undefined : await operatorToken(values, io);
  if (oidc && (values.token !== undefined || values['token-file'] !== undefined)) throw usageError('pass either a token or --oidc-issuer, not both');
  if (token) credential = { kind: 'token', token };
  else if (oidc && values['oidc-client-id']) {
    credential = { kind: 'oidc', issuer: oidc, clientId: values['oidc-client-id'], extraScopes: values['oidc-extra-scope'] ?? [] };
  } else throw usageError('hawser kubeconfig needs a token (--token-file FILE, --token-file -, HAWSER_TOKEN), or --oidc-issuer URL with --oidc-client-id ID');

  const client = new AdminClient(clientSettings(values, io.env));
  const [server, list] = await Promise.all([client.serverInfo(), client.listClusters()]);
  const known = new Set(list.clusters.map((c) => c.name));
  const unknown = positionals.filter((n) => !known.has(n));
  if (unknown.length) throw usageError(`unknown cluster(s): ${unknown.join(', ')} (see hawser cluster list)`);
  const clusters = positionals.length ? positionals : [...known].sort();
  if (!clusters.length) throw usageError('no clusters are registered yet (hawser cluster add NAME)');
  writeKubeconfig(io, {
    publicUrl: server.publicUrl,
    caBundle: server.caBundle,
    clusters,
    credential,
    file: values.kubeconfig ?? values.output,
    use: values.use,
    prefix: values['context-prefix'],
  });
  return ExitCodes.OK;
}
