import { AdminClient, AuditEventTypes } from '../admin/admin-client.js';
import type { AuditEventView } from '../admin/admin-client.js';
import { ErrorCodes } from '../errors.js';
import type { CliCommand } from './cli-command.js';
import { closest } from './cli-command.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { columns, machineOutput, OUTPUT_OPTION, outputFormat, TABLE_FORMATS } from './cli-output.js';

const TYPES: readonly string[] = Object.values(AuditEventTypes);

const HELP = `Usage: hawser audit [--cluster NAME] [--user NAME] [--since 1h] [--type T] [--limit N] [-o json|yaml|wide]

Reads the audit trail, newest events last: control-plane events
(cluster.added, token.used, certificate.issued, agent.connected, ...) and one
request.relayed event per request relayed to a cluster, with who, tier,
verb, resource, status, bytes, duration and the request id the cluster's own
audit log shows as the hawser.dev/request-id user extra.

Without --since every age is searched and the newest --limit events are
shown. When --limit or --since left events out, a line on standard error
says so.

Options:
  --cluster NAME     only this cluster: the active one of that name (a
                     deregistered one by its id, or when none is active)
  --user NAME        only this actor (operator user name, admin, agent:<id>)
  --since DUR|TIME   e.g. 15m, 24h or 2026-11-22T08:00:00Z (default: no limit)
  --type TYPE        only this event type: ${TYPES.join(', ')}
  --limit N          the newest N events (default 1000, at most 10000)
  -o, --output FMT   text (default), wide (adds cluster id, request id, source IP), json or yaml

${GLOBAL_HELP}
`;

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  ...OUTPUT_OPTION,
  cluster: { type: 'string' },
  user: { type: 'string' },
  since: { type: 'string' },
  type: { type: 'string' },
  limit: { type: 'string' },
} as const;

/** `hawser audit …` */
export const auditCommand: CliCommand = { name: 'audit', summary: 'read the audit trail', options: OPTIONS, run: runAudit };

function detail(e: AuditEventView): string {
  const d = e.details as Record<string, unknown>;
  if (e.type !== AuditEventTypes.REQUEST_RELAYED) return `${e.reason ?? ''} ${JSON.stringify(d)}`.trim();
  const target = `${d.verb} ${d.resource}${d.subresource ? `/${d.subresource}` : ''}${d.namespace ? ` -n ${d.namespace}` : ''}${d.name ? ` ${d.name}` : ''}`;
  return `${d.cluster} ${target} -> ${d.status} (${d.bytes} B, ${d.durationMs} ms${d.tier ? `, tier ${d.tier}` : ''}) ${e.requestId}`;
}

async function runAudit(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS, 'hawser audit');
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser audit takes no arguments (see --help)');
  const format = outputFormat(values.output, TABLE_FORMATS, 'hawser audit');
  if (values.type !== undefined && !TYPES.includes(values.type)) {
    const guess = closest(values.type, TYPES);
    throw usageError(
      `unknown audit event type ${JSON.stringify(values.type)} (--type); ${guess ? `did you mean ${guess}?` : `expected one of ${TYPES.join(', ')}`}`,
      ErrorCodes.CLI_USAGE,
    );
  }
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 10_000)) throw usageError('--limit: expected a whole number from 1 to 10000');
  const res = await new AdminClient(clientSettings(values, io.env)).audit({
    cluster: values.cluster,
    user: values.user,
    since: values.since,
    type: values.type,
    limit,
  });
  const machine = machineOutput(format, res);
  if (machine) io.stdout(machine);
  else if (!res.events.length) io.stdout('No audit events match.\n');
  else {
    io.stdout(columns(format, res.events, [
      { head: 'TIME', cell: (e) => e.time },
      { head: 'TYPE', cell: (e) => e.type },
      { head: 'ACTOR', cell: (e) => e.actor },
      { head: 'OUTCOME', cell: (e) => e.outcome },
      { head: 'CLUSTER ID', wide: true, cell: (e) => e.clusterId ?? '-' },
      { head: 'REQUEST ID', wide: true, cell: (e) => e.requestId ?? '-' },
      { head: 'SOURCE IP', wide: true, cell: (e) => e.sourceIp ?? '-' },
      { head: 'DETAIL', cell: detail },
    ]));
  }
  // Said on stderr, so stdout stays a clean table or document.
  if (res.truncated) {
    io.stderr(`hawser: showing the newest ${res.events.length} matching events; older ones exist (raise --limit, up to 10000, or narrow with --since/--type)\n`);
  }
  if (res.olderThanSince) {
    io.stderr(`hawser: events before --since ${values.since} were left out (the newest of them at ${res.olderThanSince}); widen --since to see them\n`);
  }
  return ExitCodes.OK;
}
