import { AdminClient, AuditEventTypes } from '../admin/admin-client.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { printableJson, table } from './cli-table.js';

const HELP = `Usage: hawser audit [--cluster NAME] [--user NAME] [--since 1h] [--type T] [--limit N] [-o json]

Reads the audit trail: control-plane events (cluster.added, token.used,
certificate.issued, agent.connected, ...) and one request.relayed event per
request relayed to a cluster, with who, tier, verb, resource, status, bytes,
duration and the request id the cluster's own audit log shows as the
hawser.dev/request-id user extra.

Options:
  --cluster NAME     only this cluster
  --user NAME        only this actor (operator user name, admin, agent:<id>)
  --since DUR|TIME   e.g. 15m, 24h or 2026-11-22T08:00:00Z (default 1h)
  --type TYPE        only this event type (e.g. request.relayed)
  --limit N          at most N events (default 1000)
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}
`;

/** `hawser audit …` */
export async function auditCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...GLOBAL_OPTIONS,
    cluster: { type: 'string' },
    user: { type: 'string' },
    since: { type: 'string' },
    type: { type: 'string' },
    limit: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length) throw usageError('hawser audit takes no arguments (see --help)');
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw usageError('--limit: expected a positive whole number');
  const res = await new AdminClient(clientSettings(values, io.env)).audit({
    cluster: values.cluster,
    user: values.user,
    since: values.since ?? '1h',
    type: values.type,
    limit,
  });
  if (values.output === 'json') {
    io.stdout(printableJson(res));
    return ExitCodes.OK;
  }
  if (!res.events.length) {
    io.stdout('No audit events match.\n');
    return ExitCodes.OK;
  }
  const rows = [['TIME', 'TYPE', 'ACTOR', 'OUTCOME', 'DETAIL']];
  for (const e of res.events) {
    const d = e.details as Record<string, unknown>;
    const detail =
      e.type === AuditEventTypes.REQUEST_RELAYED
        ? `${d.cluster} ${d.verb} ${d.resource}${d.subresource ? `/${d.subresource}` : ''}${d.namespace ? ` -n ${d.namespace}` : ''}${d.name ? ` ${d.name}` : ''} -> ${d.status} (${d.bytes} B, ${d.durationMs} ms${d.tier ? `, tier ${d.tier}` : ''}) ${e.requestId}`
        : `${e.reason ?? ''} ${JSON.stringify(d)}`.trim();
    rows.push([e.time, e.type, e.actor, e.outcome, detail]);
  }
  io.stdout(table(rows));
  return ExitCodes.OK;
}
