import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RENEW_SIGNAL } from '@hawser/contract';
import { describe, expect, it } from 'vitest';
import { BootstrapTokenSource } from '../src/bootstrap-token-source.js';
import { isRenewSignal } from '../src/certificate-renewal.js';

function jwt(payload: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part(payload)}.sig`;
}

describe('the credential an agent registers with', () => {
  it('is the projected ServiceAccount token, read afresh, when the agent joins with its ServiceAccount', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hawser-join-cred-'));
    try {
      const file = join(dir, 'token');
      const source = new BootstrapTokenSource({ file: join(dir, 'no-bootstrap'), join: { tokenFile: file, cluster: 'prod-eu' } });
      expect(await source.credential()).toBeUndefined();
      const first = jwt({ sub: 'system:serviceaccount:hawser-system:hawser-agent', exp: Math.floor(Date.now() / 1000) + 600 });
      await writeFile(file, `${first}\n`);
      expect(await source.credential()).toEqual({ kind: 'kubernetes', token: first, cluster: 'prod-eu', exp: expect.any(Number) });
      source.used(first);
      expect(await source.hasFresh()).toBe(false);
      // The kubelet replaced it: a deregistered agent may try again with it.
      const second = jwt({ sub: 'system:serviceaccount:hawser-system:hawser-agent', exp: Math.floor(Date.now() / 1000) + 900 });
      await writeFile(file, second);
      expect(await source.hasFresh()).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tells the server\'s renew signal from a request head', () => {
    expect(isRenewSignal({ openPayload: Buffer.from(RENEW_SIGNAL) })).toBe(true);
    expect(isRenewSignal({ openPayload: Buffer.from('{"v":1,"method":"GET"}') })).toBe(false);
    expect(isRenewSignal({ openPayload: Buffer.from(`${RENEW_SIGNAL}x`) })).toBe(false);
  });
});

describe('joining with the ServiceAccount in the configuration', () => {
  const base = { POD_NAMESPACE: 'hawser-system', HAWSER_SERVER_URL: 'https://hawser.example:8444', HAWSER_CA_HASH: `sha256:${'a'.repeat(64)}` };

  it('takes the token file and cluster name together, and needs the server URL and CA hash no token carries', async () => {
    const { loadConfig } = await import('../src/config.js');
    const c = loadConfig({ flags: {}, env: { ...base, HAWSER_JOIN_TOKEN_FILE: '/var/run/hawser/join/token', HAWSER_JOIN_CLUSTER: 'prod-eu' } });
    expect(c.join).toEqual({ tokenFile: '/var/run/hawser/join/token', cluster: 'prod-eu' });
    expect(() => loadConfig({ flags: {}, env: { ...base, HAWSER_JOIN_TOKEN_FILE: '/t' } })).toThrow(/HAWSER_JOIN_CLUSTER/);
    expect(() => loadConfig({ flags: {}, env: { POD_NAMESPACE: 'x', HAWSER_JOIN_TOKEN_FILE: '/t', HAWSER_JOIN_CLUSTER: 'c' } })).toThrow(/HAWSER_SERVER_URL and HAWSER_CA_HASH/);
  });
});
