import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/cli-main.js';
import { bashCompletion } from '../src/cli/cli-completion-command.js';
import { runCli } from './support/cli-run.js';
import { tempDir } from './support/harness.js';

/**
 * Sources the generated script in a real bash and asks its completion
 * function what it offers for a command line ending in `line` (the last
 * word is the one being completed; a trailing space starts a new word).
 */
function complete(script: string, line: string, cwd: string): string[] {
  const words = line.split(' ');
  const program = [
    `source ${JSON.stringify(script)}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_hawser',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const out = execFileSync('bash', ['--noprofile', '--norc', '-c', program], { cwd, encoding: 'utf8' });
  return out.split('\n').filter(Boolean).sort();
}

describe('hawser completion', () => {
  let dir: { path: string; remove(): void };
  let script: string;
  beforeAll(async () => {
    dir = tempDir();
    const out = await runCli(['completion', 'bash']);
    expect(out.code).toBe(0);
    script = join(dir.path, 'hawser.bash');
    writeFileSync(script, out.stdout);
    writeFileSync(join(dir.path, 'token.txt'), 'x');
  });
  afterAll(() => dir?.remove());

  it('completes commands, subcommands and flags in a real bash', () => {
    expect(complete(script, 'hawser ', dir.path)).toEqual(COMMANDS.map((c) => c.name).sort());
    expect(complete(script, 'hawser cl', dir.path)).toEqual(['cluster']);
    expect(complete(script, 'hawser cluster ', dir.path)).toEqual(['add', 'list', 'rm', 'token']);
    expect(complete(script, 'hawser token r', dir.path)).toEqual(['revoke', 'rotate-admin']);
    expect(complete(script, 'hawser audit --cl', dir.path)).toEqual(['--cluster']);
    expect(complete(script, 'hawser cluster add prod --l', dir.path)).toEqual(['--label']);
    expect(complete(script, 'hawser completion ', dir.path)).toEqual(['bash', 'zsh']);
  });

  it('completes the values of -o and file flags, and skips a flag value when finding the subcommand', () => {
    expect(complete(script, 'hawser cluster list -o ', dir.path)).toEqual(['json', 'text', 'wide', 'yaml']);
    expect(complete(script, 'hawser audit --output y', dir.path)).toEqual(['yaml']);
    expect(complete(script, 'hawser login --token-file tok', dir.path)).toEqual(['token.txt']);
    // A flag's value is skipped: "-o" after it is still the flag, not a value.
    expect(complete(script, 'hawser cluster token prod --token-ttl -o --o', dir.path)).toEqual(['--output']);
    // hawser kubeconfig --output is a file, not a format.
    expect(complete(script, 'hawser kubeconfig --output tok', dir.path)).toEqual(['token.txt']);
  });

  it('offers exactly the flags the parser accepts, for every command and subcommand', () => {
    for (const c of COMMANDS) {
      const paths = c.subcommands ? Object.entries(c.subcommands).map(([s, spec]) => [`${c.name} ${s}`, spec.options] as const) : [[c.name, c.options] as const];
      for (const [path, options] of paths) {
        const expected = Object.entries(options).flatMap(([n, o]) => [`--${n}`, ...(o.short ? [`-${o.short}`] : [])]).filter((f) => f.startsWith('--')).sort();
        expect(complete(script, `hawser ${path} --`, dir.path), path).toEqual(expected);
      }
    }
  });

  it('zsh gets the same generator through bashcompinit; an unknown shell is refused', async () => {
    const zsh = await runCli(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef hawser\n/);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain(bashCompletion(COMMANDS));
    const fish = await runCli(['completion', 'fish']);
    expect(fish.code).toBe(2);
    expect(fish.stderr).toBe('hawser: hawser completion takes one shell: bash or zsh, got "fish" (HSR_ERR_CLI_USAGE)\n');
  });
});
