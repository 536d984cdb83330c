import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { createNamespace, uniqueName } from '../support/kube.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'dist-pack/hawser-agent/bin/hawser-agent');

// The deployable bundle the agent image copies (npm run pack:agent): built
// here, then run as the agent against the real control plane.
describe('the hawser-agent bundle', () => {
  let server: TestServer;
  let agent: TestAgent;
  let ns: Awaited<ReturnType<typeof createNamespace>>;

  beforeAll(async () => {
    await run('npx', ['tsx', 'scripts/pack.ts', 'agent'], { cwd: root, timeout: 180_000 });
  }, 200_000);
  afterAll(async () => {
    await agent?.remove();
    await server?.remove();
    await ns?.remove();
  });

  it('holds only the runtime: built JS and production dependencies', () => {
    expect(existsSync(join(root, 'dist-pack/hawser-agent/node_modules/@hawser/agent/dist/cli.js'))).toBe(true);
    expect(existsSync(join(root, 'dist-pack/hawser-agent/node_modules/@hawser/agent/src'))).toBe(false);
    for (const dev of ['vitest', 'typescript', 'eslint', 'tsx']) expect(existsSync(join(root, `dist-pack/hawser-agent/node_modules/${dev}`))).toBe(false);
  });

  it('prints its version and help', async () => {
    const { stdout } = await run(bin, ['--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run(bin, ['--help'])).stdout).toContain('Usage: hawser-agent');
  });

  it('registers and connects as the chart\'s ServiceAccount when run from the bundle', async () => {
    server = await startServer();
    ns = await createNamespace();
    const { token } = await addCluster(server, uniqueName('bundle'));
    agent = await deployAgent({ namespace: ns.name, server, token, cli: bin });
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });
});
