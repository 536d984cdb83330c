import { readFileSync } from 'node:fs';
import type { CliIo } from './cli-io.js';
import { usageError } from './cli-io.js';

/** The flags that carry an operator's token. */
export const TOKEN_OPTIONS = {
  'token-file': { type: 'string' },
  token: { type: 'string' },
} as const;

export const TOKEN_HELP = `  --token-file FILE      read the token from FILE (- reads standard input)
                         (env HAWSER_TOKEN holds the token itself)
  --token TOKEN          the token on the command line: visible in ps and shell
                         history, so a warning is printed; prefer --token-file`;

async function readStdin(io: CliIo): Promise<string> {
  if (io.stdin) return io.stdin();
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * An operator's token from `--token-file FILE`, `--token-file -` (stdin),
 * HAWSER_TOKEN, or `--token` (which warns: the token would sit in ps output
 * and shell history). Undefined when none is given.
 */
export async function operatorToken(values: { 'token-file'?: string | undefined; token?: string | undefined }, io: CliIo): Promise<string | undefined> {
  if (values['token-file'] !== undefined && values.token !== undefined) throw usageError('pass either --token-file or --token, not both');
  let token: string | undefined;
  const file = values['token-file'];
  if (file === '-') token = await readStdin(io);
  else if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8');
    } catch (err) {
      throw usageError(`cannot read --token-file ${file}: ${(err as Error).message}`);
    }
  } else if (values.token !== undefined) {
    io.stderr('hawser: warning: --token puts the token in ps output and shell history; use --token-file FILE, --token-file - or HAWSER_TOKEN\n');
    token = values.token;
  } else token = io.env.HAWSER_TOKEN;
  if (token === undefined) return undefined;
  token = token.trim();
  if (!token || /\s/.test(token)) throw usageError(`the token${file ? ` in ${file === '-' ? 'standard input' : file}` : ''} is empty or has whitespace inside`);
  return token;
}

/** `$KUBECONFIG`'s first file, else ~/.kube/config: where kubectl writes. */
export function defaultKubeconfigPath(env: CliIo['env']): string {
  const first = env.KUBECONFIG?.split(process.platform === 'win32' ? ';' : ':').find(Boolean);
  return first ?? `${env.HOME ?? process.env.HOME ?? '.'}/.kube/config`;
}
