import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultAgentChart, installCommands, resolveAgentChart, resolveConfig } from '../src/index.js';

const repoChart = resolve(import.meta.dirname, '../../../charts/hawser-agent');
const input = { serverUrl: 'https://hawser.example.com:8444', caHash: 'sha256:ab', token: 't.o.k' };

describe('the agent chart the printed helm line names', () => {
  it('defaults to the absolute path of this checkout\'s chart, so the line works from any directory', () => {
    expect(defaultAgentChart()).toBe(repoChart);
    expect(resolveConfig().agentChart).toBe(repoChart);
    expect(installCommands(input).helm).toMatch(new RegExp(`^helm install hawser-agent ${repoChart} --namespace hawser-system `));
  });

  it('accepts an oci:// reference, an https .tgz, a packaged .tgz and a chart directory, making local paths absolute', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-chart-'));
    mkdirSync(join(dir, 'hawser-agent'));
    writeFileSync(join(dir, 'hawser-agent/Chart.yaml'), 'name: hawser-agent\n');
    writeFileSync(join(dir, 'hawser-agent-0.1.0.tgz'), '');
    expect(resolveAgentChart('oci://registry.example.com/charts/hawser-agent')).toEqual({ chart: 'oci://registry.example.com/charts/hawser-agent' });
    expect(resolveAgentChart('https://example.com/c/hawser-agent-0.1.0.tgz')).toEqual({ chart: 'https://example.com/c/hawser-agent-0.1.0.tgz' });
    expect(resolveAgentChart('hawser-agent-0.1.0.tgz', dir)).toEqual({ chart: join(dir, 'hawser-agent-0.1.0.tgz') });
    expect(resolveAgentChart('./hawser-agent', dir)).toEqual({ chart: join(dir, 'hawser-agent') });
    expect(resolveConfig({ agentChart: 'oci://r.example/x/hawser-agent' }).agentChart).toBe('oci://r.example/x/hawser-agent');
  });

  it('refuses references helm could not install as printed, naming what it expected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hawser-chart-'));
    mkdirSync(join(dir, 'not-a-chart'));
    const cases: [string, RegExp][] = [
      ['hawser-agent', /does not exist/],
      ['oci://', /oci:\/\/REGISTRY\/PATH\/CHART/],
      ['oci://registry.example.com', /oci:\/\/REGISTRY\/PATH\/CHART/],
      ['oci://user:pw@registry.example.com/c/hawser-agent', /without credentials/],
      ['http://example.com/hawser-agent-0.1.0.tgz', /oci:\/\/REGISTRY/],
      ['https://example.com/charts/', /oci:\/\/REGISTRY/],
      ['missing-0.1.0.tgz', /does not exist/],
      ['not-a-chart', /Chart\.yaml/],
    ];
    for (const [ref, message] of cases) {
      const r = resolveAgentChart(ref, dir);
      expect('error' in r && r.error, ref).toMatch(message);
    }
    expect(() => resolveConfig({ agentChart: 'nope/nothing' })).toThrow(/config\.agentChart: expected an existing chart directory/);
  });

  it('prints the configured chart in both the helm line and the kubectl alternative, quoting only what a shell would split', () => {
    const cmds = installCommands({ ...input, chart: '/opt/charts dir/hawser-agent-0.1.0.tgz' });
    expect(cmds.helm).toMatch(/^helm install hawser-agent '\/opt\/charts dir\/hawser-agent-0\.1\.0\.tgz' --namespace/);
    expect(cmds.kubectl).toContain("helm template hawser-agent '/opt/charts dir/hawser-agent-0.1.0.tgz'");
    expect(installCommands({ ...input, chart: 'oci://r.example/c/hawser-agent' }).helm).toMatch(/^helm install hawser-agent oci:\/\/r\.example\/c\/hawser-agent --namespace/);
  });
});
