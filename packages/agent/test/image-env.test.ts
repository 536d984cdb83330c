import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AGENT_IMAGE_ENV, AGENT_NODE_ARGS } from '../../../bench/lib/agent-image-env.js';

/** The ENV instruction's KEY=value pairs (quoted values unquoted), continuation lines joined. */
function imageEnv(dockerfile: string): Record<string, string> {
  const text = dockerfile.replace(/\\\n/g, ' ');
  const env: Record<string, string> = {};
  for (const line of text.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const m of line.slice(4).matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env[m[1]!] = m[3] ?? m[2]!;
  }
  return env;
}

describe('the agent image', () => {
  it('sets the memory settings the RSS benchmark measured', () => {
    const env = imageEnv(readFileSync(new URL('../../../Dockerfile.agent', import.meta.url), 'utf8'));
    for (const [key, value] of Object.entries(AGENT_IMAGE_ENV)) expect({ key, value: env[key] }).toEqual({ key, value });
  });

  it('runs hawser-agent with the node flags the RSS benchmark measured, and hawser-agent-jit without them', () => {
    const dockerfile = readFileSync(new URL('../../../Dockerfile.agent', import.meta.url), 'utf8');
    // A shebang line carries one argument on Linux.
    expect(AGENT_NODE_ARGS).toHaveLength(1);
    expect(dockerfile).toContain(`sed -i '1s|^#!.*$|#!/nodejs/bin/node ${AGENT_NODE_ARGS[0]}|' /opt/hawser-agent/bin/hawser-agent;`);
    expect(dockerfile).toContain(`sed '1s|^#!.*$|#!/nodejs/bin/node|' /opt/hawser-agent/bin/hawser-agent > /opt/hawser-agent/bin/hawser-agent-jit;`);
  });
});
