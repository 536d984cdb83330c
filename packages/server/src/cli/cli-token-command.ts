import { AdminClient } from '../admin/admin-client.js';
import { writeAdminTokenFile } from '../data-dir.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, subcommandOf, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import type { CliCommand, CliSubcommand } from './cli-command.js';
import { columns, machineOutput, OUTPUT_OPTION, outputFormat, RESULT_FORMATS, TABLE_FORMATS } from './cli-output.js';
import { printableLines } from './cli-table.js';

const HELP = `Usage: hawser token <create|list|revoke|rotate-admin> [options]

Hawser API tokens authenticate people and automation on the relay
(https://SERVER/clusters/NAME/...) when no OIDC provider is used. A token is
shown once; the server keeps only its SHA-256.

  hawser token create --user NAME [--group G]... [--ttl 90d] [-o json|yaml]
  hawser token list [-o json|yaml|wide]
  hawser token revoke ID
  hawser token rotate-admin [-o json|yaml]

Admin tokens (group hawser:admins) are listed and revoked like the others
(the last active one cannot be revoked). rotate-admin mints a new admin
token, revokes the one the command authenticated with, and writes the new
one to the admin token file the command read (default <data-dir>/admin-token);
with HAWSER_ADMIN_TOKEN it prints the new token instead.

Options:
  --user NAME        the user name the token authenticates as (impersonated as <prefix>NAME)
  --group G          a group of the user (repeatable); in tier mode, groups map to tiers
  --ttl DUR          lifetime, e.g. 12h or 90d (default: no expiry)
  -o, --output FMT   text (default), json or yaml; list also wide (adds STATUS)

${GLOBAL_HELP}
`;

const COMMON = { ...GLOBAL_OPTIONS, ...OUTPUT_OPTION } as const;

/** The subcommands and their flags: the parser and the completion scripts read this one table. */
const SUBCOMMANDS = {
  create: {
    summary: 'create an API token',
    options: { ...COMMON, user: { type: 'string' }, group: { type: 'string', multiple: true }, ttl: { type: 'string' } },
  },
  list: { summary: 'list API and admin tokens', options: COMMON },
  revoke: { summary: 'revoke a token by id', options: COMMON },
  'rotate-admin': { summary: 'replace the admin token', options: COMMON },
} as const satisfies Record<string, CliSubcommand>;

/** `hawser token …` */
export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'create, list, revoke, rotate-admin: Hawser API tokens for people and automation',
  options: { help: GLOBAL_OPTIONS.help },
  subcommands: SUBCOMMANDS,
  run: runToken,
};

async function runToken(args: readonly string[], io: CliIo): Promise<number> {
  const picked = subcommandOf(args, SUBCOMMANDS, 'hawser token', HELP, io);
  if ('exit' in picked) return picked.exit;
  const { sub, rest } = picked;
  // Each subcommand parses with its own flags; the values read as create's, the widest set.
  const { values, positionals } = parse(rest, SUBCOMMANDS[sub].options, `hawser token ${sub}`) as ReturnType<
    typeof parse<typeof SUBCOMMANDS.create.options>
  >;
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  const format = outputFormat(values.output, sub === 'list' ? TABLE_FORMATS : RESULT_FORMATS, `hawser token ${sub}`);
  const machine = (value: unknown): string | undefined => machineOutput(format, value);
  const settings = () => clientSettings(values, io.env);
  const client = () => new AdminClient(settings());
  switch (sub) {
    case 'create': {
      if (!values.user) throw usageError('hawser token create needs --user NAME');
      if (positionals.length) throw usageError('hawser token create takes no arguments');
      const res = await client().createApiToken({ user: values.user, groups: values.group ?? [], ...(values.ttl ? { ttl: values.ttl } : {}) });
      io.stdout(machine(res) ?? printableLines(
        `API token ${res.id} for ${res.user}${res.groups.length ? ` (groups: ${res.groups.join(', ')})` : ''}, ` +
              `${res.expiresAt ? `expires ${res.expiresAt}` : 'no expiry'}. It is shown only now:\n  ${res.token}\n`,
      ));
      return ExitCodes.OK;
    }
    case 'list': {
      const res = await client().listApiTokens();
      const text = machine(res);
      if (text) io.stdout(text);
      else if (!res.tokens.length) io.stdout('No API tokens. Create one with: hawser token create --user NAME\n');
      else {
        io.stdout(columns(format, res.tokens, [
          { head: 'ID', cell: (t) => t.id },
          { head: 'KIND', cell: (t) => (t.admin ? 'admin' : 'api') },
          { head: 'USER', cell: (t) => t.user },
          { head: 'GROUPS', cell: (t) => t.groups.join(',') || '-' },
          { head: 'CREATED', cell: (t) => t.createdAt },
          { head: 'EXPIRES', cell: (t) => t.expiresAt ?? '-' },
          { head: 'STATUS', wide: true, cell: (t) => (t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active') },
        ]));
      }
      return ExitCodes.OK;
    }
    case 'revoke': {
      if (positionals.length !== 1) throw usageError('hawser token revoke takes exactly one ID');
      const res = await client().revokeApiToken(positionals[0]!);
      io.stdout(machine(res) ?? printableLines(`API token ${res.revoked.id} (${res.revoked.user}) revoked.\n`));
      return ExitCodes.OK;
    }
    case 'rotate-admin': {
      if (positionals.length) throw usageError('hawser token rotate-admin takes no arguments');
      const s = settings();
      const res = await new AdminClient(s).rotateAdminToken();
      let written: string | undefined;
      let failed: string | undefined;
      if (s.adminTokenFile) {
        try {
          writeAdminTokenFile(s.adminTokenFile, res.token);
          written = s.adminTokenFile;
        } catch (err) {
          failed = `could not write ${s.adminTokenFile} (${(err as Error).message})`;
        }
      }
      const shown = machine({ ...res, ...(written ? { token: undefined, writtenTo: written } : {}) });
      if (shown) io.stdout(shown);
      else if (written) io.stdout(printableLines(`Admin token ${res.id} minted and written to ${written}; ${res.revoked} revoked.\n`));
      else io.stdout(printableLines(`Admin token ${res.id} minted; ${res.revoked} revoked.${failed ? ` ${failed}.` : ''} It is shown only now:\n  ${res.token}\n`));
      return ExitCodes.OK;
    }
  }
  return ExitCodes.USAGE;
}
