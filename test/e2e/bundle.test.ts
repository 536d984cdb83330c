import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { addCluster, agentReadiness, deployAgent, eventually, startServer, type TestAgent, type TestServer } from '../support/hawser.js';
import { startProcess } from '../support/processes.js';
import { testCluster } from '../support/test-cluster.js';
import { AGENT_IMAGE_ENV } from '../../bench/lib/agent-image-env.js';
import { createNamespace, uniqueName } from '../support/kube.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'dist-pack/hawser-agent/bin/hawser-agent');

// The deployable bundle the agent image copies (npm run pack:agent): one
// esbuild file plus a two-field package.json, built here, then run as the
// agent against the real control plane.
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

  it('is one file with its dependencies inside, and no Kubernetes client library', () => {
    const dir = join(root, 'dist-pack/hawser-agent');
    expect(readdirSync(dir).sort()).toEqual(['bin', 'package.json']);
    expect(readdirSync(join(dir, 'bin'))).toEqual(['hawser-agent']);
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))).toMatchObject({ type: 'module', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    // Well under the 57 MB @kubernetes/client-node alone took before.
    expect(statSync(bin).size).toBeLessThan(2 * 1024 * 1024);
    const meta = JSON.parse(readFileSync(join(root, 'dist-pack/hawser-agent.meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const inputs = Object.keys(meta.inputs);
    expect(inputs.some((i) => i.includes('node_modules/ws/'))).toBe(true);
    expect(inputs.filter((i) => /@kubernetes\/client-node|node_modules\/(vitest|typescript|eslint|tsx)\//.test(i))).toEqual([]);
  });

  it('prints its version and help', async () => {
    const { stdout } = await run(bin, ['--version'], { cwd: '/' });
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await run(bin, ['--help'])).stdout).toContain('Usage: hawser-agent');
  });

  it('registers and connects as the chart\'s ServiceAccount when run from the bundle', async () => {
    server = await startServer();
    ns = await createNamespace();
    const { token } = await addCluster(server, uniqueName('bundle'));
    // With the image's environment (NODE_OPTIONS with --jitless, ...), as Dockerfile.agent runs it.
    agent = await deployAgent({ namespace: ns.name, server, token, cli: bin, env: { ...AGENT_IMAGE_ENV } });
    await eventually(async () => expect((await agentReadiness(agent)).body.status).toBe('connected'), 30_000);
  });

  it('connects from outside a pod with a kubeconfig and a state directory (its own kubeconfig reader)', async () => {
    server ??= await startServer();
    const { token } = await addCluster(server, uniqueName('bundle-kc'));
    const state = await mkdtemp(join(tmpdir(), 'hawser-agent-state-'));
    const proc = startProcess(process.execPath, [bin, '--kubeconfig', testCluster().kubeconfig, '--state-dir', state, '--token', token, '--health-addr', '127.0.0.1:0'], {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
    });
    try {
      const started = await proc.waitForLog((e) => typeof e.health === 'string', 30_000);
      const health = `http://127.0.0.1:${(started.health as string).split(':').pop()}`;
      await eventually(async () => expect(((await (await fetch(`${health}/readyz`)).json()) as { status: string }).status).toBe('connected'), 30_000);
    } finally {
      await proc.stop();
      await rm(state, { recursive: true, force: true });
    }
  });
});
