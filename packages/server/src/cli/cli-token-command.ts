import { AdminClient } from '../admin/admin-client.js';
import { writeAdminTokenFile } from '../data-dir.js';
import { clientSettings, ExitCodes, GLOBAL_HELP, GLOBAL_OPTIONS, parse, usageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { printableJson, printableLines, table } from './cli-table.js';

const HELP = `Usage: hawser token <create|list|revoke|rotate-admin> [options]

Hawser API tokens authenticate people and automation on the relay
(https://SERVER/clusters/NAME/...) when no OIDC provider is used. A token is
shown once; the server keeps only its SHA-256.

  hawser token create --user NAME [--group G]... [--ttl 90d] [-o json]
  hawser token list [-o json]
  hawser token revoke ID
  hawser token rotate-admin [-o json]

Admin tokens (group hawser:admins) are listed and revoked like the others
(the last active one cannot be revoked). rotate-admin mints a new admin
token, revokes the one the command authenticated with, and writes the new
one to the admin token file the command read (default <data-dir>/admin-token);
with HAWSER_ADMIN_TOKEN it prints the new token instead.

Options:
  --user NAME        the user name the token authenticates as (impersonated as <prefix>NAME)
  --group G          a group of the user (repeatable); in tier mode, groups map to tiers
  --ttl DUR          lifetime, e.g. 12h or 90d (default: no expiry)
  -o, --output FMT   text (default) or json

${GLOBAL_HELP}
`;

/** `hawser token …` */
export async function tokenCommand(args: readonly string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
    io.stdout(HELP);
    return sub === undefined ? ExitCodes.USAGE : ExitCodes.OK;
  }
  const { values, positionals } = parse(rest, {
    ...GLOBAL_OPTIONS,
    user: { type: 'string' },
    group: { type: 'string', multiple: true },
    ttl: { type: 'string' },
    output: { type: 'string', short: 'o' },
  });
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  const json = values.output === 'json';
  if (values.output !== undefined && !json && values.output !== 'text') throw usageError('--output: expected text or json');
  const settings = () => clientSettings(values, io.env);
  const client = () => new AdminClient(settings());
  switch (sub) {
    case 'create': {
      if (!values.user) throw usageError('hawser token create needs --user NAME');
      if (positionals.length) throw usageError('hawser token create takes no arguments');
      const res = await client().createApiToken({ user: values.user, groups: values.group ?? [], ...(values.ttl ? { ttl: values.ttl } : {}) });
      io.stdout(printableLines(
        json
          ? printableJson(res)
          : `API token ${res.id} for ${res.user}${res.groups.length ? ` (groups: ${res.groups.join(', ')})` : ''}, ` +
              `${res.expiresAt ? `expires ${res.expiresAt}` : 'no expiry'}. It is shown only now:\n  ${res.token}\n`,
      ));
      return ExitCodes.OK;
    }
    case 'list': {
      const res = await client().listApiTokens();
      if (json) io.stdout(printableJson(res));
      else if (!res.tokens.length) io.stdout('No API tokens. Create one with: hawser token create --user NAME\n');
      else io.stdout(table([['ID', 'KIND', 'USER', 'GROUPS', 'CREATED', 'EXPIRES'], ...res.tokens.map((t) => [t.id, t.admin ? 'admin' : 'api', t.user, t.groups.join(',') || '-', t.createdAt, t.expiresAt ?? '-'])]));
      return ExitCodes.OK;
    }
    case 'revoke': {
      if (positionals.length !== 1) throw usageError('hawser token revoke takes exactly one ID');
      const res = await client().revokeApiToken(positionals[0]!);
      io.stdout(json ? printableJson(res) : printableLines(`API token ${res.revoked.id} (${res.revoked.user}) revoked.\n`));
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
      if (json) io.stdout(printableJson({ ...res, ...(written ? { token: undefined, writtenTo: written } : {}) }));
      else if (written) io.stdout(printableLines(`Admin token ${res.id} minted and written to ${written}; ${res.revoked} revoked.\n`));
      else io.stdout(printableLines(`Admin token ${res.id} minted; ${res.revoked} revoked.${failed ? ` ${failed}.` : ''} It is shown only now:\n  ${res.token}\n`));
      return ExitCodes.OK;
    }
    default:
      throw usageError(`unknown command "hawser token ${sub}" (see hawser token --help)`);
  }
}
