import { readFileSync } from 'node:fs';
import type { ParseArgsOptionsConfig } from './cli-io.js';
import { clusterModeCommand } from './cli-cluster-mode-command.js';
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
  cluster: `Usage: hawser cluster <add|list|token|rm|mode> [options]

Commands:
  add NAME     register a cluster and print its bootstrap token and install commands
  list         list clusters with connection state
  token NAME   mint a fresh bootstrap token for a cluster
  rm NAME      deregister a cluster: revoke its certificates and cut its tunnel
  mode NAME    print the helm upgrade and the RBAC change for another agent mode

${GLOBAL_HELP}`,
  add: `Usage: hawser cluster add NAME [--label k=v]... [--token-ttl 1h] [-o json|yaml]
       hawser cluster add NAME --join kubernetes (--issuer URL [--discovery-url URL] [--discovery-ca-file F] | --jwks-file F)
                          [--service-account NS:NAME] [--audience AUD]

Registers a cluster (NAME: a DNS-1123 label such as prod-eu) and mints a
single-use bootstrap token. Prints a helm install line and a kubectl
alternative that carry the token.

Options:
  --label k=v        cluster label (repeatable)
  --token-ttl DUR    token lifetime, e.g. 30m, 1h, 2d (default: the server's, 1h; at most ${MAX_BOOTSTRAP_TOKEN_TTL})
  -o, --output FMT   text (default), json or yaml

Joining without a secret (--join kubernetes): the agent presents a projected
ServiceAccount token of its own cluster instead of a bootstrap token.
  --issuer URL             the cluster's service-account issuer (its tokens' iss)
  --discovery-url URL      read OIDC discovery here instead of at the issuer
  --discovery-ca-file F    CA (PEM) the discovery URL is trusted by
  --jwks-file F            the issuer's public keys, for issuers the server cannot reach
  --service-account NS:NAME  the agent's ServiceAccount (default hawser-system:hawser-agent)
  --audience AUD           the token audience (default: this server's agent URL)

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
  add: {
    summary: 'register a cluster',
    options: {
      ...GLOBAL_OPTIONS,
      ...OUTPUT_OPTION,
      ...WITH_TTL,
      label: { type: 'string', multiple: true },
      join: { type: 'string' },
      issuer: { type: 'string' },
      'discovery-url': { type: 'string' },
      'discovery-ca-file': { type: 'string' },
      'jwks-file': { type: 'string' },
      'service-account': { type: 'string' },
      audience: { type: 'string' },
    },
  },
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
    { head: 'MODE', cell: (c) => c.agentMode ?? '-' },
    { head: 'CHART', cell: (c) => c.chartVersion ?? '-' },
    { head: 'KUBERNETES', cell: (c) => c.kubernetesVersion ?? '-' },
    { head: 'CERT EXPIRES', cell: (c) => c.certificateNotAfter ?? '-' },
    { head: 'ID', wide: true, cell: (c) => c.id },
    { head: 'CREATED', wide: true, cell: (c) => c.createdAt },
    { head: 'CLUSTER UID', wide: true, cell: (c) => c.clusterUID ?? '-' },
    { head: 'LABELS', wide: true, cell: (c) => Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-' },
  ]);
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
export const clusterCommand: CliCommand = {
  name: 'cluster',
  summary: 'add, list, token, rm, mode: register clusters, mint their bootstrap tokens, change agent modes',
  options: { help: GLOBAL_OPTIONS.help },
  subcommands: SUBCOMMANDS,
  run: runCluster,
};

async function runCluster(args: readonly string[], io: CliIo): Promise<number> {
  // `cluster mode` runs helm locally and has flags of its own (cli-cluster-mode-command.ts).
  if (args[0] === 'mode') return clusterModeCommand(args.slice(1), io);
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
      const join = joinRequest(v as Record<string, string | undefined>);
      const res = await client().addCluster({ name, labels, ...(ttl ? { tokenTtl: ttl } : {}), ...(join ? { join } : {}) });
      print(res, `Cluster ${res.cluster.name} added (id ${res.cluster.id}).\n\n${res.join ? joinText(res.join) : bootstrapText(name, res.bootstrap!)}`);
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
