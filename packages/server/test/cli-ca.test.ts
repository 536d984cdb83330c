import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli-main.js';
import { startServer, tempDir, type Harness } from './support/harness.js';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} });
  return { code, stdout, stderr };
}

describe('hawser ca and cluster add --join on the command line', () => {
  const dir = tempDir();
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.stop();
    dir.remove();
  });

  it('rotates, survives a restart mid-rotation, and retires; the local CLI trusts the server throughout', async () => {
    h = await startServer({ dataDir: dir.path });
    const cli = (args: string[]) => run([...args, '--server', h!.publicUrl, '--data-dir', dir.path, '-o', 'json']);
    const before = JSON.parse((await cli(['ca', 'status'])).stdout) as { rotating: boolean; signer: { hash: string } };
    expect(before.rotating).toBe(false);

    const rotated = await cli(['ca', 'rotate']);
    expect(rotated.code).toBe(0);
    const during = JSON.parse(rotated.stdout) as { rotating: boolean; previous: { hash: string }; serving: string; waitingFor: string[] };
    expect(during.previous.hash).toBe(before.signer.hash);
    // No cluster holds an old-CA certificate, so the serving certificate moved at once.
    expect(during.serving).toBe('signer');
    expect(readFileSync(join(dir.path, 'ca.crt'), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(existsSync(join(dir.path, 'ca-previous.key'))).toBe(true);
    const again = await cli(['ca', 'rotate']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('HSR_ERR_CA_ROTATION_IN_PROGRESS');

    await h.server.close();
    h = await startServer({ dataDir: dir.path });
    const restarted = JSON.parse((await cli(['ca', 'status'])).stdout) as { rotating: boolean; serving: string };
    expect(restarted).toMatchObject({ rotating: true, serving: 'signer' });

    const retired = await cli(['ca', 'retire']);
    expect(retired.code).toBe(0);
    expect(JSON.parse(retired.stdout)).toMatchObject({ cutOff: [], status: { rotating: false } });
    expect(existsSync(join(dir.path, 'ca-previous.key'))).toBe(false);
    const none = await cli(['ca', 'retire']);
    expect(none.stderr).toContain('HSR_ERR_CA_NOT_ROTATING');
  }, 180_000);

  it('refuses join flags without --join, --join without --issuer, and a token lifetime for a join cluster, as usage errors', async () => {
    expect((await run(['cluster', 'add', 'x', '--issuer', 'https://i.example'])).code).toBe(2);
    expect((await run(['cluster', 'add', 'x', '--join', 'kubernetes'])).stderr).toContain('--issuer');
    expect((await run(['cluster', 'add', 'x', '--join', 'oidc', '--issuer', 'https://i.example'])).code).toBe(2);
    expect((await run(['cluster', 'add', 'x', '--join', 'kubernetes', '--issuer', 'https://i', '--token-ttl', '1h'])).code).toBe(2);
    expect((await run(['ca', 'retire', 'extra'])).code).toBe(2);
  });
});
