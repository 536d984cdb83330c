import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alive } from '../controlplane/control-plane.js';
import { runCommand } from '../support/processes.js';
import { testCluster } from '../support/test-cluster.js';

const root = resolve(import.meta.dirname, '../..');
const cli = (args: string[], env: NodeJS.ProcessEnv) => runCommand(process.execPath, ['--import', 'tsx', 'test/controlplane/cli.ts', ...args], { cwd: root, env });

// `npm run controlplane -- up|status|down` as a developer uses it (the suites
// themselves get theirs from the global setup).
describe.skipIf(testCluster().external)('npm run controlplane', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('starts, is harmless to start twice, reports status, and leaves nothing behind after down', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'hawser-cp-cli-')), 'cp');
    dirs.push(dir);
    const env = { ...process.env, HAWSER_CONTROLPLANE_DIR: dir };
    const up = await cli(['up'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout.trim()).toBe(join(dir, 'admin.kubeconfig'));
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { etcd: { pid: number }; apiserver: { pid: number; port: number }; controllerManager: { pid: number } };
    const pids = [state.etcd.pid, state.apiserver.pid, state.controllerManager.pid];

    const again = await cli(['up'], env);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(up.stdout.trim());
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).apiserver.pid).toBe(state.apiserver.pid);

    const status = await cli(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`https://127.0.0.1:${state.apiserver.port}`);

    const version = await runCommand(process.execPath, ['--import', 'tsx', 'test/controlplane/cli.ts', 'kubectl', 'version', '-o', 'json'], { cwd: root, env });
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toMatch(/^v1\.36\./);

    const down = await cli(['down'], env);
    expect(down.code).toBe(0);
    expect(existsSync(dir)).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
    expect((await cli(['status'], env)).code).toBe(1);
  }, 120_000);

  it('says in one sentence what is missing when Go is not installed', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'hawser-empty-cache-'));
    dirs.push(cache);
    const res = await cli(['build'], { HOME: process.env.HOME, PATH: '/usr/bin:/bin', HAWSER_CACHE_DIR: cache });
    expect(res.code).toBe(1);
    expect(res.stderr.trim()).toMatch(/^controlplane: Go is not installed: .* needs Go 1\.\d+\+ and the Go module proxy\. To run the end-to-end suites against an existing cluster instead, set HAWSER_E2E_KUBECONFIG=\/path\/to\/kubeconfig\.$/);
  });
});
