import type { ServerConfigInput } from './config.js';
import { DEFAULTS } from './config.js';
import { ExitCodes, parse } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { createServer } from './server.js';

const HELP = `Usage: hawser server [options]

Runs the Hawser server: the operator/admin API and the agent (mTLS) endpoint.
On first start it creates the CA, serving certificate, token signing key and
an admin token in the data directory.

Options:
  --data-dir PATH          data directory (env HAWSER_DATA_DIR; default ${DEFAULTS.dataDir})
  --database-url URL       postgres://… for PostgreSQL (env HAWSER_DATABASE_URL, preferred
                           for passwords); default: embedded PGlite in <data-dir>/db
  --listen HOST:PORT       operator + admin API (default ${DEFAULTS.listen})
  --agent-listen HOST:PORT agent endpoint (default ${DEFAULTS.agentListen})
  --public-url URL         URL operators use (default: derived from --listen)
  --agent-url URL          URL agents dial, put into tokens (default: derived from --agent-listen)
  --server-name NAME       extra host name or IP for the serving certificate (repeatable)
  --token-ttl DUR          bootstrap token lifetime (default ${DEFAULTS.tokenTtl})
  --certificate-ttl DUR    agent certificate lifetime (default ${DEFAULTS.certificateTtl})
  --log-level LEVEL        fatal|error|warn|info|debug|trace|silent (default ${DEFAULTS.logLevel})
  -h, --help               show help
`;

const OPTIONS = {
  'data-dir': { type: 'string' },
  'database-url': { type: 'string' },
  listen: { type: 'string' },
  'agent-listen': { type: 'string' },
  'public-url': { type: 'string' },
  'agent-url': { type: 'string' },
  'server-name': { type: 'string', multiple: true },
  'token-ttl': { type: 'string' },
  'certificate-ttl': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** `hawser server`: runs until SIGINT/SIGTERM (or io.stopSignal), then drains. */
export async function serverCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, OPTIONS);
  if (values.help) {
    io.stdout(HELP);
    return ExitCodes.OK;
  }
  if (positionals.length > 0) {
    io.stderr(`hawser server: unexpected argument ${JSON.stringify(positionals[0])} (see --help)\n`);
    return ExitCodes.USAGE;
  }
  const env = io.env;
  const input: ServerConfigInput = {};
  const set = <K extends keyof ServerConfigInput>(key: K, value: ServerConfigInput[K] | undefined): void => {
    if (value !== undefined) input[key] = value;
  };
  set('dataDir', values['data-dir'] ?? env.HAWSER_DATA_DIR);
  set('databaseUrl', values['database-url'] ?? env.HAWSER_DATABASE_URL);
  set('listen', values.listen);
  set('agentListen', values['agent-listen']);
  set('publicUrl', values['public-url']);
  set('agentUrl', values['agent-url']);
  if (values['server-name']) input.serverNames = [...DEFAULTS.serverNames, ...values['server-name']];
  set('tokenTtl', values['token-ttl']);
  set('certificateTtl', values['certificate-ttl']);
  set('logLevel', values['log-level']);

  const server = createServer(input);
  await server.listen();
  const signal = await (io.stopSignal ?? stopSignal());
  server.context.log.info({ signal }, 'shutting down');
  await server.close();
  return ExitCodes.OK;
}
