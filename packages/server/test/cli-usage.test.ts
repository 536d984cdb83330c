import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closest, editDistance } from '../src/cli/cli-command.js';
import { runCli } from './support/cli-run.js';
import { startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

describe('hawser CLI usage errors', () => {
  it('measures typos as edit distance, swaps included', () => {
    expect(editDistance('clustr', 'cluster')).toBe(1);
    expect(editDistance('lsit', 'list')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closest('--clustr', ['--cluster', '--user', '--since'])).toBe('--cluster');
    expect(closest('--zzzzzz', ['--cluster', '--user'])).toBeUndefined();
  });

  it('answers an unknown flag in its own words, with the closest flag and exit code 2', async () => {
    const out = await runCli(['audit', '--clustr', 'prod']);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe('hawser: unknown flag --clustr for "hawser audit"; did you mean --cluster? (HSR_ERR_CLI_UNKNOWN_FLAG)\n');
    const sub = await runCli(['cluster', 'add', 'x', '--lable', 'a=b']);
    expect(sub.stderr).toBe('hawser: unknown flag --lable for "hawser cluster add"; did you mean --label? (HSR_ERR_CLI_UNKNOWN_FLAG)\n');
    const far = await runCli(['version', '--frobnicate']);
    expect(far.code).toBe(2);
    expect(far.stderr).toBe('hawser: unknown flag --frobnicate for "hawser version"; see hawser version --help (HSR_ERR_CLI_UNKNOWN_FLAG)\n');
  });

  it('answers an unknown command or subcommand with a suggestion and exit code 2', async () => {
    const top = await runCli(['clustr', 'list']);
    expect(top.code).toBe(2);
    expect(top.stderr).toBe('hawser: unknown command "hawser clustr"; did you mean "hawser cluster"? (HSR_ERR_CLI_UNKNOWN_COMMAND)\n');
    const sub = await runCli(['cluster', 'lsit']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toBe('hawser: unknown command "hawser cluster lsit"; did you mean "hawser cluster list"? (HSR_ERR_CLI_UNKNOWN_COMMAND)\n');
    const token = await runCli(['token', 'revoek', 'x']);
    expect(token.stderr).toContain('did you mean "hawser token revoke"?');
  });

  it('says which flag lacks a value', async () => {
    const out = await runCli(['audit', '--since']);
    expect(out.code).toBe(2);
    expect(out.stderr).toBe('hawser: flag --since of "hawser audit" needs a value (HSR_ERR_CLI_USAGE)\n');
  });

  it('refuses unknown -o values with the formats the command takes, before asking the server', async () => {
    for (const [args, formats] of [
      [['cluster', 'list', '-o', 'xml'], 'text, json, yaml, wide'],
      [['cluster', 'rm', 'x', '-o', 'wide'], 'text, json, yaml'],
      [['token', 'list', '-o', 'jsn'], 'text, json, yaml, wide'],
      [['audit', '-o', 'csv'], 'text, json, yaml, wide'],
      [['version', '-o', 'wide'], 'text, json, yaml'],
    ] as const) {
      const out = await runCli([...args, '--server', 'https://127.0.0.1:1']);
      expect(out.code, args.join(' ')).toBe(2);
      expect(out.stderr).toMatch(new RegExp(`^hawser: unknown output format ".*" for "hawser [a-z ]+" \\(-o\\); expected one of ${formats} \\(HSR_ERR_CLI_OUTPUT_INVALID\\)\\n$`));
    }
  });

  it('lists every command in its help', async () => {
    const out = await runCli(['--help']);
    for (const name of ['server', 'cluster', 'token', 'kubeconfig', 'login', 'audit', 'version', 'completion']) expect(out.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
  });
});

describe('-o json, yaml and wide where tables are printed', () => {
  let h: Harness;
  let global: string[];
  beforeAll(async () => {
    h = await startServer();
    global = ['--server', h.publicUrl, '--data-dir', h.dataDir];
    await runCli(['cluster', 'add', 'fmt-one', '--label', 'env=dev', ...global]);
  }, 60_000);
  afterAll(async () => h?.stop());

  it('cluster list: wide adds id, created, cluster uid and labels; yaml parses to the JSON document', async () => {
    const wide = await runCli(['cluster', 'list', '-o', 'wide', ...global]);
    expect(wide.code).toBe(0);
    expect(wide.stdout.split('\n')[0]).toMatch(/^NAME\s+STATUS\s+LAST SEEN\s+AGENT\s+MODE\s+CHART\s+KUBERNETES\s+CERT EXPIRES\s+ID\s+CREATED\s+CLUSTER UID\s+LABELS$/);
    expect(wide.stdout).toMatch(/fmt-one\s+never.*[0-9a-f-]{36}.*env=dev/);
    const { parse } = await import('yaml');
    const yaml = await runCli(['cluster', 'list', '-o', 'yaml', ...global]);
    const json = await runCli(['cluster', 'list', '-o', 'json', ...global]);
    expect(parse(yaml.stdout)).toEqual(JSON.parse(json.stdout));
  });

  it('token list: text, wide (STATUS) and yaml', async () => {
    const text = await runCli(['token', 'list', ...global]);
    expect(text.stdout.split('\n')[0]).toMatch(/^ID\s+KIND\s+USER\s+GROUPS\s+CREATED\s+EXPIRES$/);
    const wide = await runCli(['token', 'list', '-o', 'wide', ...global]);
    expect(wide.stdout.split('\n')[0]).toMatch(/EXPIRES\s+STATUS$/);
    expect(wide.stdout).toMatch(/admin\s+.*active/);
    const yaml = await runCli(['token', 'list', '-o', 'yaml', ...global]);
    expect(yaml.stdout).toMatch(/^tokens:\n {2}- id: /);
  });

  it('yaml output cannot drive the terminal: control characters in values are escaped', async () => {
    const { printableYaml } = await import('../src/cli/cli-output.js');
    const text = printableYaml({ name: 'a\u001b[31mred\u009b' });
    expect(text.includes("\u001b") || text.includes("\u009b")).toBe(false);
    expect(text).toContain('\\x1b[31mred\\x9b');
  });
});
