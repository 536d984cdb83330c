import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/agent-harness.js';

const AGENT_CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** Runs the real `hawser-agent` binary until it exits; what the operator sees. */
async function agentExit(dir: string, kubeconfig: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [AGENT_CLI, '--kubeconfig', kubeconfig, '--state-dir', join(dir, 'state'), '--health-addr', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

function kubeconfigNaming(dir: string, caFile: string): string {
  const path = join(dir, 'kubeconfig.json');
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': caFile } }],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

describe.skipIf(!existsSync(AGENT_CLI))('agent start-up errors from the real hawser-agent process', { timeout: 60_000 }, () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('names the kubeconfig and the flag when the path is a directory (fails for root too)', async () => {
    const notAFile = join(dir.path, 'kube-dir');
    mkdirSync(notAFile);
    const res = await agentExit(dir.path, notAFile);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`hawser-agent: HAG_ERR_CONFIG_INVALID: cannot read the kubeconfig ${notAFile} (--kubeconfig, env KUBECONFIG): it (or a file it names) is a directory`);
  });

  it('names the CA file a kubeconfig points at when it holds garbage, before any connection fails on it', async () => {
    writeFileSync(join(dir.path, 'ca.crt'), 'not a certificate');
    const path = kubeconfigNaming(dir.path, 'ca.crt');
    const res = await agentExit(dir.path, path);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(`HAG_ERR_CONFIG_INVALID: the API server's CA in the certificate-authority of kubeconfig ${path} is not a PEM certificate bundle`);
    expect(res.stderr).not.toMatch(/unable to get local issuer|error:[0-9A-F]{8}/);
  });

  it('names a missing CA file the kubeconfig points at', async () => {
    const path = kubeconfigNaming(dir.path, 'missing-ca.crt');
    const res = await agentExit(dir.path, path);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/cannot read the kubeconfig .*kubeconfig\.json \(--kubeconfig, env KUBECONFIG\): it \(or a file it names\) does not exist; .*missing-ca\.crt/);
  });
});
