import type { ParseArgsOptionsConfig } from './cli-io.js';
import { AdminClient, type CaStatus } from '../admin/admin-client.js';
import { printableJson, printableLines, table } from './cli-table.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliCommand } from './cli-command.js';
import type { CliIo } from './cli-io.js';

const HELP = {
  ca: `Usage: hawser ca <status|rotate|renew-now|retire> [options]

Commands:
  status      the signing CA, the old one during a rotation, which signs the
              serving certificate, and which clusters still hold certificates
              only from the old CA
  rotate      create a new CA: it signs agent certificates from now on; the old
              one stays trusted; connected agents are asked to renew now
  renew-now   ask every connected agent to renew its certificate now
  retire      stop trusting the old CA, once no cluster holds certificates only
              from it (--force: cut those clusters off; they must register again)

${GLOBAL_HELP}`,
  status: `Usage: hawser ca status [-o json]\n\n${GLOBAL_HELP}`,
  rotate: `Usage: hawser ca rotate [-o json]\n\n${GLOBAL_HELP}`,
  'renew-now': `Usage: hawser ca renew-now [-o json]\n\n${GLOBAL_HELP}`,
  retire: `Usage: hawser ca retire [--force] [-o json]

Removes the old CA after a rotation. Refused (HSR_ERR_CA_RETIRE_BLOCKED)
while a cluster still holds certificates only from it; --force retires it
anyway, closes those clusters' tunnels and names them: they must register
again (a new bootstrap token, or a re-join with their ServiceAccount).

${GLOBAL_HELP}`,
} as const;

function statusText(s: CaStatus): string {
  const lines = [
    `Signing CA:  ${s.signer.hash} (${s.signer.subject}, expires ${s.signer.notAfter})`,
    s.previous ? `Old CA:      ${s.previous.hash} (${s.previous.subject}), still trusted` : 'Old CA:      none (no rotation in progress)',
    `Serving certificate from: ${s.serving === 'previous' ? 'the old CA (until every agent trusts the new one)' : 'the signing CA'}`,
    '',
  ];
  if (s.clusters.length > 0) {
    const rows = [['CLUSTER', 'CERTIFICATE FROM', 'CONNECTED', 'EXPIRES']];
    for (const c of s.clusters) rows.push([c.name, c.holds === 'previous' ? 'old CA' : c.holds === 'current' ? 'signing CA' : '-', c.connected ? 'yes' : 'no', c.notAfter ?? '-']);
    lines.push(table(rows).trimEnd(), '');
  }
  if (s.rotating) {
    lines.push(
      s.waitingFor.length === 0
        ? 'No cluster needs the old CA: `hawser ca retire` can remove it.'
        : `Waiting for: ${s.waitingFor.join(', ')} (they renew on their next connection or schedule).`,
      '',
    );
  }
  return lines.join('\n');
}

const CA_OPTIONS = { ...GLOBAL_OPTIONS, output: { type: 'string', short: 'o' } } as const satisfies ParseArgsOptionsConfig;

/** `hawser ca` in the command table (help, suggestions, completion). */
export const caCli: CliCommand = {
  name: 'ca',
  summary: 'CA rotation: status, rotate, renew-now, retire',
  options: { help: GLOBAL_OPTIONS.help },
  subcommands: {
    status: { summary: 'which CA signs, and which clusters still hold old-CA certificates', options: CA_OPTIONS },
    rotate: { summary: 'create a new CA; both are trusted until retire', options: CA_OPTIONS },
    'renew-now': { summary: 'ask every connected agent to renew its certificate now', options: CA_OPTIONS },
    retire: { summary: 'remove the old CA once no cluster needs it', options: { ...CA_OPTIONS, force: { type: 'boolean' } } },
  },
  run: (args, io) => caCommand(args, io),
};

/** `hawser ca …` */
export async function caCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(HELP.ca + '\n');
    return sub === undefined ? ExitCodes.USAGE : ExitCodes.OK;
  }
  if (!(sub in HELP) || sub === 'ca') throw usageError(`unknown command "hawser ca ${sub}" (see hawser ca --help)`);
  const command = sub as 'status' | 'rotate' | 'renew-now' | 'retire';
  const options: ParseArgsOptionsConfig = { ...GLOBAL_OPTIONS, output: { type: 'string', short: 'o' } };
  if (command === 'retire') options.force = { type: 'boolean' };
  const { values, positionals } = parse(rest, options);
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    io.stdout(HELP[command] + '\n');
    return ExitCodes.OK;
  }
  if (positionals.length > 0) throw usageError(`hawser ca ${command} takes no arguments`);
  const output = v.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw usageError(`--output: expected text or json, got ${JSON.stringify(output)}`);
  const client = new AdminClient(clientSettings(v as Record<string, string>, io.env));
  const print = (json: unknown, text: string): void => io.stdout(output === 'json' ? printableJson(json) : printableLines(text));
  switch (command) {
    case 'status': {
      const s = await client.caStatus();
      print(s, statusText(s));
      return ExitCodes.OK;
    }
    case 'rotate': {
      const s = await client.caRotate();
      print(s, `New CA ${s.signer.hash} signs agent certificates from now on; the old CA stays trusted.\n\n${statusText(s)}`);
      return ExitCodes.OK;
    }
    case 'renew-now': {
      const r = await client.caRenewNow();
      print(r, `Asked ${r.asked} connected agent(s) to renew now.\n`);
      return ExitCodes.OK;
    }
    case 'retire': {
      const r = await client.caRetire(v.force === true);
      const cut = r.cutOff.length > 0 ? `Cut off (must register again): ${r.cutOff.join(', ')}.\n` : '';
      print(r, `Old CA retired.\n${cut}\n${statusText(r.status)}`);
      return ExitCodes.OK;
    }
  }
}
