import { writeFileSync } from 'node:fs';
import { AdminClient } from '../admin/admin-client.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { buildKubeconfig, type KubeconfigCredential } from './kubeconfig.js';

const HELP = `Usage: hawser kubeconfig [NAME...] (--token TOKEN | --oidc-issuer URL --oidc-client-id ID) [--output FILE]

Writes a kubeconfig with one context per cluster (all registered clusters
when no NAME is given). Each context points at https://SERVER/clusters/NAME
and trusts the Hawser CA, so plain kubectl works:

  hawser kubeconfig --token "$(cat my-token)" --output ~/.kube/hawser
  kubectl --kubeconfig ~/.kube/hawser --context prod-eu get pods -A

Options:
  --token TOKEN          a Hawser API token (hawser token create) for the user entry
  --oidc-issuer URL      use an OIDC exec entry (kubectl oidc-login) instead of a token
  --oidc-client-id ID    the OIDC client id
  --oidc-extra-scope S   extra scope to request (repeatable)
  --output FILE          write here (mode 0600) instead of standard output

${GLOBAL_HELP}
`;

/** `hawser kubeconfig …` */
export async function kubeconfigCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...GLOBAL_OPTIONS,
    token: { type: 'string' },
    'oidc-issuer': { type: 'string' },
    'oidc-client-id': { type: 'string' },
    'oidc-extra-scope': { type: 'string', multiple: true },
    output: { type: 'string' },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  let credential: KubeconfigCredential;
  if (values.token && values['oidc-issuer']) throw usageError('pass either --token or --oidc-issuer, not both');
  if (values.token) credential = { kind: 'token', token: values.token };
  else if (values['oidc-issuer'] && values['oidc-client-id']) {
    credential = { kind: 'oidc', issuer: values['oidc-issuer'], clientId: values['oidc-client-id'], extraScopes: values['oidc-extra-scope'] ?? [] };
  } else throw usageError('hawser kubeconfig needs --token TOKEN, or --oidc-issuer URL with --oidc-client-id ID');

  const client = new AdminClient(clientSettings(values, io.env));
  const [server, list] = await Promise.all([client.serverInfo(), client.listClusters()]);
  const known = new Set(list.clusters.map((c) => c.name));
  const unknown = positionals.filter((n) => !known.has(n));
  if (unknown.length) throw usageError(`unknown cluster(s): ${unknown.join(', ')} (see hawser cluster list)`);
  const clusters = positionals.length ? positionals : [...known].sort();
  if (!clusters.length) throw usageError('no clusters are registered yet (hawser cluster add NAME)');
  const text = buildKubeconfig({ publicUrl: server.publicUrl, caBundle: server.caBundle, clusters, credential });
  if (values.output) {
    writeFileSync(values.output, text, { mode: 0o600 });
    io.stderr(`wrote ${values.output} with ${clusters.length} context(s): ${clusters.join(', ')}\n`);
  } else {
    io.stdout(text);
  }
  return ExitCodes.OK;
}
