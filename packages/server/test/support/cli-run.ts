import { main } from '../../src/cli/cli-main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `hawser …` in-process with buffered output; `stdin` feeds `--token-file -`. */
export async function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, stdin?: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    ...(stdin === undefined ? {} : { stdin: async () => stdin }),
  });
  return { code, stdout, stderr };
}
