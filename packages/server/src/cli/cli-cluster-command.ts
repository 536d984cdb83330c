import { readFileSync } from 'node:fs';
import type { ParseArgsOptionsConfig } from './cli-io.js';
import { AdminClient } from '../admin/admin-client.js';
import type { ClusterView } from '../admin/admin-client.js';
import { parseLabelArgs } from '../registration/cluster-names.js';
import { printableJson, printableLines, table } from './cli-table.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { clusterModeCommand } from './cli-cluster-mode-command.js';

const HELP = {
  cluster: `Usage: hawser cluster <add|list|token|rm> [options]

Commands:
  add NAME     register a cluster and print its bootstrap token and install commands
  list         list clusters with connection state
  token NAME   mint a fresh bootstrap token for a cluster
  rm NAME      deregister a cluster: revoke its certificates and cut its tunnel
  mode NAME    print the helm upgrade and RBAC change that raise or lower its agent mode

${GLOBAL_HELP}`,
  add: `Usage: hawser cluster add NAME [--label k=v]... [--token-ttl 1h] [-o json]
       hawser cluster add NAME --join kubernetes (--issuer URL [--discovery-url URL] [--discovery-ca-file F] | --jwks-file F)
                          [--service-account NS:NAME] [--audience AUD]

Registers a cluster (NAME: a DNS-1123 label such as prod-eu) and mints a
single-use bootstrap token. Prints a helm install line and a kubectl
alternative that carry the token.

Options:
  --label k=v        cluster label (repeatable)
  --token-ttl DUR    token lifetime, e.g. 30m, 1h, 2d (default: the server's, 1h)
  -o, --output FMT   text (default) or json

Joining without a secret (--join kubernetes): the agent presents a projected
ServiceAccount token of its own cluster instead of a bootstrap token.
  --issuer URL             the cluster's service-account issuer (its tokens' iss)
  --discovery-url URL      read OIDC discovery here instead of at the issuer
  --discovery-ca-file F    CA (PEM) the discovery URL is trusted by
  --jwks-file F            the issuer's public keys, for issuers the server cannot reach
  --service-account NS:NAME  the agent's ServiceAccount (default hawser-system:hawser-agent)
  --audience AUD           the token audience (default: this server's agent URL)

${GLOBAL_HELP}`,
  list: `Usage: hawser cluster list [-o json]

Lists clusters: name, connection status (connected, disconnected, never),
last seen, agent version, agent mode and chart version (as the agent last
reported them), Kubernetes version, certificate expiry.

Options:
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}`,
  token: `Usage: hawser cluster token NAME [--token-ttl 1h] [-o json]

Mints a fresh single-use bootstrap token (e.g. after the first expired, or
to re-register an agent whose certificate expired).

Options:
  --token-ttl DUR    token lifetime (default: the server's, 1h)
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}`,
  rm: `Usage: hawser cluster rm NAME [-o json]

Deregisters a cluster: revokes every certificate it holds, invalidates unused
tokens and closes its live tunnel within a second, telling the agent why.

Options:
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}`,
} as const;

const OUTPUT = { output: { type: 'string', short: 'o' } } as const;

function outputFormat(value: string | undefined): 'text' | 'json' {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw usageError(`--output: expected text or json, got ${JSON.stringify(value)}`);
}

function oneName(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw usageError(`hawser cluster ${command} takes exactly one NAME (see --help)`);
  return positionals[0]!;
}

function bootstrapText(name: string, b: { token: string; expiresAt: string; helm: string; kubectl: string }): string {
  return [
    `Bootstrap token for ${name} (single use, expires ${b.expiresAt}):`,
    `  ${b.token}`,
    '',
    'Install the agent with Helm:',
    `  ${b.helm}`,
    '',
    'Or with kubectl:',
    ...b.kubectl.split('\n').map((l) => `  ${l}`),
    '',
  ].join('\n');
}


function listText(clusters: ClusterView[]): string {
  if (clusters.length === 0) return 'No clusters. Add one with: hawser cluster add NAME\n';
  const rows = [['NAME', 'STATUS', 'LAST SEEN', 'AGENT', 'MODE', 'CHART', 'KUBERNETES', 'CERT EXPIRES']];
  for (const c of clusters) {
    rows.push([
      c.name,
      c.status,
      c.lastSeen ?? '-',
      c.agentVersion ?? '-',
      c.agentMode ?? '-',
      c.chartVersion ?? '-',
      c.kubernetesVersion ?? '-',
      c.certificateNotAfter ?? '-',
    ]);
  }
  return table(rows);
}

const JOIN_FLAGS = ['join', 'issuer', 'discovery-url', 'discovery-ca-file', 'jwks-file', 'service-account', 'audience'] as const;

/** The `join` object of `cluster add` from the --join flags; undefined without --join. */
function joinRequest(v: Record<string, string | undefined>): Record<string, unknown> | undefined {
  if (v.join === undefined) {
    const stray = JOIN_FLAGS.find((f) => v[f] !== undefined);
    if (stray) throw usageError(`--${stray} needs --join kubernetes`);
    return undefined;
  }
  if (v.join !== 'kubernetes') throw usageError(`--join: only "kubernetes" is supported, got ${JSON.stringify(v.join)}`);
  if (v['token-ttl'] !== undefined) throw usageError('--token-ttl: a cluster that joins with its ServiceAccount gets no bootstrap token');
  const file = (flag: string): string | undefined => {
    const path = v[flag];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw usageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const jwksText = file('jwks-file');
  let jwks: unknown;
  if (jwksText !== undefined) {
    try {
      jwks = JSON.parse(jwksText);
    } catch {
      throw usageError(`--jwks-file: ${v['jwks-file']} is not JSON`);
    }
  }
  if (v.issuer === undefined) throw usageError('--join kubernetes needs --issuer (the issuer of the cluster\'s ServiceAccount tokens)');
  const discoveryCa = file('discovery-ca-file');
  return {
    method: 'kubernetes',
    issuer: v.issuer,
    ...(v['service-account'] !== undefined ? { serviceAccount: v['service-account'] } : {}),
    ...(v.audience !== undefined ? { audience: v.audience } : {}),
    ...(v['discovery-url'] !== undefined ? { discoveryUrl: v['discovery-url'] } : {}),
    ...(discoveryCa !== undefined ? { discoveryCa } : {}),
    ...(jwks !== undefined ? { jwks } : {}),
  };
}

function joinText(j: { issuer: string; serviceAccount: string; audience: string; keys: string; helm: string }): string {
  return [
    `Joins with its ServiceAccount: no token to carry.`,
    `  issuer           ${j.issuer} (keys: ${j.keys})`,
    `  service account  ${j.serviceAccount}`,
    `  audience         ${j.audience}`,
    '',
    'Install the agent with Helm:',
    `  ${j.helm}`,
    '',
  ].join('\n');
}

/** `hawser cluster …` */
export async function clusterCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'mode') return clusterModeCommand(rest, io);
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(HELP.cluster + '\n');
    return sub === undefined ? ExitCodes.USAGE : ExitCodes.OK;
  }
  if (!(sub in HELP) || sub === 'cluster') throw usageError(`unknown command "hawser cluster ${sub}" (see hawser cluster --help)`);
  const command = sub as 'add' | 'list' | 'token' | 'rm';
  const options: ParseArgsOptionsConfig = { ...GLOBAL_OPTIONS, ...OUTPUT };
  if (command === 'add') {
    options.label = { type: 'string', multiple: true };
    for (const flag of JOIN_FLAGS) options[flag] = { type: 'string' };
  }
  if (command === 'add' || command === 'token') options['token-ttl'] = { type: 'string' };
  const { values, positionals } = parse(rest, options);
  const v = values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) {
    io.stdout(HELP[command] + '\n');
    return ExitCodes.OK;
  }
  const format = outputFormat(v.output as string | undefined);
  // Built after the arguments are checked, so a usage error is reported as such.
  const client = (): AdminClient => new AdminClient(clientSettings(v as Record<string, string>, io.env));
  const print = (json: unknown, text: string): void => io.stdout(format === 'json' ? printableJson(json) : printableLines(text));

  switch (command) {
    case 'add': {
      const name = oneName(positionals, 'add');
      let labels: Record<string, string>;
      try {
        labels = parseLabelArgs((v.label as string[] | undefined) ?? []);
      } catch (err) {
        // A bad --label is a command-line mistake: exit 2, like other usage errors.
        throw usageError(`--label: ${(err as Error).message}`);
      }
      const ttl = v['token-ttl'] as string | undefined;
      const join = joinRequest(v as Record<string, string | undefined>);
      const res = await client().addCluster({ name, labels, ...(ttl ? { tokenTtl: ttl } : {}), ...(join ? { join } : {}) });
      print(res, `Cluster ${res.cluster.name} added (id ${res.cluster.id}).\n\n${res.join ? joinText(res.join) : bootstrapText(name, res.bootstrap!)}`);
      return ExitCodes.OK;
    }
    case 'list': {
      if (positionals.length > 0) throw usageError('hawser cluster list takes no arguments');
      const res = await client().listClusters();
      print(res, listText(res.clusters));
      return ExitCodes.OK;
    }
    case 'token': {
      const name = oneName(positionals, 'token');
      const res = await client().mintToken(name, v['token-ttl'] as string | undefined);
      print(res, bootstrapText(name, res.bootstrap));
      return ExitCodes.OK;
    }
    case 'rm': {
      const name = oneName(positionals, 'rm');
      const res = await client().removeCluster(name);
      print(
        res,
        `Cluster ${name} deregistered: ${res.revokedCertificates} certificate(s) revoked, ` +
          `${res.tunnelsClosed} tunnel(s) closed.\n`,
      );
      return ExitCodes.OK;
    }
  }
}
