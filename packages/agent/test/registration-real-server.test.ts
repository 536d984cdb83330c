import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../../../test/support/eventually.js';
import { Agent } from '../src/agent.js';
import { AgentErrorCodes } from '../src/errors.js';
import { freePort, LogCapture, tempDir, testConfig, writeKubeconfig } from './support/agent-harness.js';
import { HttpsStub, json } from './support/https-stub.js';
import { serverPki } from './support/test-pki.js';

// The real `hawser server` binary (built by `npm run build`); the agent
// package never imports the server, so the check goes through the binary.
const SERVER_CLI = fileURLToPath(new URL('../../server/dist/cli.js', import.meta.url));

/** Runs the server binary until its "listening" line; `stop()` sends SIGTERM and waits. */
async function runServer(dataDir: string, ports: { listen: number; agent: number }): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [SERVER_CLI, 'server', '--data-dir', dataDir, '--listen', `127.0.0.1:${ports.listen}`, '--agent-listen', `127.0.0.1:${ports.agent}`, '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const exited = once(child, 'exit');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('hawser server listening')) resolve();
    });
    child.once('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  return {
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function cli(dataDir: string, listen: number, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [SERVER_CLI, ...args, '--server', `https://127.0.0.1:${listen}`, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return once(child, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`hawser ${args.join(' ')} exited ${String(code)}`);
    return out;
  });
}

describe.skipIf(!existsSync(SERVER_CLI))('an agent installed before its server is reachable (real hawser server on 127.0.0.1)', () => {
  const dirs: { remove(): void }[] = [];
  let agent: Agent | undefined;
  let server: { stop(): Promise<void> } | undefined;
  afterEach(async () => {
    agent?.destroy();
    await server?.stop();
    for (const d of dirs.splice(0)) d.remove();
  });

  it('registers within seconds of the server\'s port opening, with the production retry timings', async () => {
    const serverDir = tempDir();
    const agentDir = tempDir();
    dirs.push(serverDir, agentDir);
    const dataDir = join(serverDir.path, 'data');
    const ports = { listen: await freePort(), agent: await freePort() };
    // Mint a bootstrap token, then stop the server: its agent port is closed.
    server = await runServer(dataDir, ports);
    const added = JSON.parse(await cli(dataDir, ports.listen, ['cluster', 'add', 'early', '-o', 'json'])) as { bootstrap: { token: string } };
    await server.stop();
    server = undefined;

    const pki = serverPki('Kube CA');
    const api = await HttpsStub.start(pki.serving, [pki.serving.cert], (_req, res) => json(res, 404, {}));
    try {
      const logs = new LogCapture();
      const config = testConfig(agentDir.path, writeKubeconfig(agentDir.path, api.url, pki.ca.cert), { bootstrapToken: added.bootstrap.token });
      agent = new Agent(config, logs.logger);
      await agent.start();
      const refused = await logs.next('cannot connect yet');
      expect(refused).toMatchObject({ code: AgentErrorCodes.SERVER_UNREACHABLE, transient: true });
      expect(refused.retryInMs as number).toBeLessThanOrEqual(30_000);

      server = await runServer(dataDir, ports);
      const opened = Date.now();
      await logs.next('registered');
      const tookMs = Date.now() - opened;
      // The backoff ceiling after a few seconds of refusals is a few seconds (500 ms doubling, full jitter).
      expect(tookMs).toBeLessThan(15_000);
      await until(() => agent!.health.state.status === 'connected', 'the tunnel comes up', 20_000);
    } finally {
      await api.close();
    }
  }, 90_000);
});
