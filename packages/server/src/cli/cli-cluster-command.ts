import type { ParseArgsOptionsConfig } from './cli-io.js';
import { AdminClient } from '../admin/admin-client.js';
import type { ClusterView } from '../admin/admin-client.js';
import { parseLabelArgs } from '../registration/cluster-names.js';
import { printableLines } from './cli-table.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, subcommandOf, usageError } from './cli-io.js';
import type { CliCommand, CliSubcommand } from './cli-command.js';
import { columns, machineOutput, OUTPUT_OPTION, outputFormat, RESULT_FORMATS, TABLE_FORMATS } from './cli-output.js';
import type { OutputFormat } from './cli-output.js';
import { bootstrapTokenTtlProblem, MAX_BOOTSTRAP_TOKEN_TTL } from '../config.js';
import { parseDuration } from '../duration.js';
import type { CliIo } from './cli-io.js';

const HELP = {
  cluster: `Usage: hawser cluster <add|list|token|rm> [options]

Commands:
  add NAME     register a cluster and print its bootstrap token and install commands
  list         list clusters with connection state
  token NAME   mint a fresh bootstrap token for a cluster
  rm NAME      deregister a cluster: revoke its certificates and cut its tunnel

${GLOBAL_HELP}`,
  add: `Usage: hawser cluster add NAME [--label k=v]... [--token-ttl 1h] [-o json|yaml]

Registers a cluster (NAME: a DNS-1123 label such as prod-eu) and mints a
single-use bootstrap token. Prints a helm install line and a kubectl
alternative that carry the token.

Options:
  --label k=v        cluster label (repeatable)
  --token-ttl DUR    token lifetime, e.g. 30m, 1h, 2d (default: the server's, 1h; at most ${MAX_BOOTSTRAP_TOKEN_TTL})
  -o, --output FMT   text (default), json or yaml

${GLOBAL_HELP}`,
  list: `Usage: hawser cluster list [-o json|yaml|wide]

Lists clusters: name, connection status (connected, disconnected, never),
last seen, agent and Kubernetes versions, certificate expiry.

Options:
  -o, --output FMT   text (default), wide (also id, created, cluster uid, labels), json or yaml

${GLOBAL_HELP}`,
  token: `Usage: hawser cluster token NAME [--token-ttl 1h] [-o json|yaml]

Mints a fresh single-use bootstrap token (e.g. after the first expired, or
to re-register an agent whose certificate expired).

Options:
  --token-ttl DUR    token lifetime (default: the server's, 1h; at most ${MAX_BOOTSTRAP_TOKEN_TTL})
  -o, --output FMT   text (default), json or yaml

${GLOBAL_HELP}`,
  rm: `Usage: hawser cluster rm NAME [-o json|yaml]

Deregisters a cluster: revokes every certificate it holds, invalidates unused
tokens and closes its live tunnel within a second, telling the agent why.

Options:
  -o, --output FMT   text (default), json or yaml

${GLOBAL_HELP}`,
} as const;

const WITH_TTL = { 'token-ttl': { type: 'string' } } as const;

/** The subcommands and their flags: the parser and the completion scripts read this one table. */
const SUBCOMMANDS = {
  add: { summary: 'register a cluster', options: { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION, ...WITH_TTL, label: { type: 'string', multiple: true } } },
  list: { summary: 'list clusters', options: { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION } },
  token: { summary: 'mint a fresh bootstrap token', options: { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION, ...WITH_TTL } },
  rm: { summary: 'deregister a cluster', options: { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION } },
} as const satisfies Record<string, CliSubcommand>;

/** `--token-ttl`, checked here with the server's one rule so a wrong value never leaves the machine. */
function tokenTtlFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(value, '--token-ttl');
  } catch (err) {
    throw usageError((err as Error).message);
  }
  const problem = bootstrapTokenTtlProblem(ms);
  if (problem) throw usageError(`--token-ttl: a bootstrap token lives ${problem}, got ${JSON.stringify(value)}`);
  return value;
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


function listText(clusters: ClusterView[], format: OutputFormat): string {
  if (clusters.length === 0) return 'No clusters. Add one with: hawser cluster add NAME\n';
  return columns(format, clusters, [
    { head: 'NAME', cell: (c) => c.name },
    { head: 'STATUS', cell: (c) => c.status },
    { head: 'LAST SEEN', cell: (c) => c.lastSeen ?? '-' },
    { head: 'AGENT', cell: (c) => c.agentVersion ?? '-' },
    { head: 'KUBERNETES', cell: (c) => c.kubernetesVersion ?? '-' },
    { head: 'CERT EXPIRES', cell: (c) => c.certificateNotAfter ?? '-' },
    { head: 'ID', wide: true, cell: (c) => c.id },
    { head: 'CREATED', wide: true, cell: (c) => c.createdAt },
    { head: 'CLUSTER UID', wide: true, cell: (c) => c.clusterUID ?? '-' },
    { head: 'LABELS', wide: true, cell: (c) => Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-' },
  ]);
}

/** `hawser cluster …` */
export const clusterCommand: CliCommand = {
  name: 'cluster',
  summary: 'add, list, token, rm: register clusters and mint their bootstrap tokens',
  options: { help: GLOBAL_OPTIONS.help },
  subcommands: SUBCOMMANDS,
  run: runCluster,
};

async function runCluster(args: readonly string[], io: CliIo): Promise<number> {
  const picked = subcommandOf(args, SUBCOMMANDS, 'hawser cluster', HELP.cluster + '\n', io);
  if ('exit' in picked) return picked.exit;
  const { sub: command, rest } = picked;
  const options: ParseArgsOptionsConfig = SUBCOMMANDS[command].options;
  const { values, positionals } = parse(rest, options, `hawser cluster ${command}`);
  const v = values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) {
    io.stdout(HELP[command] + '\n');
    return ExitCodes.OK;
  }
  const format = outputFormat(v.output as string | undefined, command === 'list' ? TABLE_FORMATS : RESULT_FORMATS, `hawser cluster ${command}`);
  const ttl = tokenTtlFlag(v['token-ttl'] as string | undefined);
  // Built after the arguments are checked, so a usage error is reported as such.
  const client = (): AdminClient => new AdminClient(clientSettings(v as Record<string, string>, io.env));
  const print = (json: unknown, text: string): void => io.stdout(machineOutput(format, json) ?? printableLines(text));

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
      const res = await client().addCluster({ name, labels, ...(ttl ? { tokenTtl: ttl } : {}) });
      print(res, `Cluster ${res.cluster.name} added (id ${res.cluster.id}).\n\n${bootstrapText(name, res.bootstrap)}`);
      return ExitCodes.OK;
    }
    case 'list': {
      if (positionals.length > 0) throw usageError('hawser cluster list takes no arguments');
      const res = await client().listClusters();
      print(res, listText(res.clusters, format));
      return ExitCodes.OK;
    }
    case 'token': {
      const name = oneName(positionals, 'token');
      const res = await client().mintToken(name, ttl);
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
