import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { AgentErrorCodes } from '../src/errors.js';

const base = { POD_NAMESPACE: 'hawser-system' };

describe('agent configuration', () => {
  it('has safe defaults: read-only, tier, hawser: prefix, state in a Secret', () => {
    const c = loadConfig({ flags: {}, env: base });
    expect(c).toMatchObject({
      mode: 'read-only',
      authzMode: 'tier',
      impersonationPrefix: 'hawser:',
      state: { kind: 'secret', namespace: 'hawser-system', name: 'hawser-agent-state' },
      kube: { kind: 'in-cluster' },
      healthAddr: { host: '0.0.0.0', port: 8080 },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.state)).toBe(true);
  });

  it('prefers flags over environment variables', () => {
    const c = loadConfig({ flags: { mode: 'full' }, env: { ...base, HAWSER_MODE: 'read-write' } });
    expect(c.mode).toBe('full');
  });

  it.each([
    [{ HAWSER_MODE: 'rw' }, /mode \(--mode \/ HAWSER_MODE\) must be one of read-only, read-write, full; got "rw"/],
    [{ HAWSER_CA_HASH: 'abc' }, /CA hash .* must be "sha256:"/],
    [{ HAWSER_SERVER_URL: 'http://x' }, /server URL .* must be an https:\/\/ URL/],
    [{ HAWSER_IMPERSONATION_PREFIX: 'system:' }, /impersonation prefix/],
    [{ HAWSER_HEALTH_ADDR: 'nope' }, /health address/],
    [{ HTTPS_PROXY: 'socks5://p:1080' }, /HTTPS_PROXY must be an http/],
    [{ HAWSER_PROTECTED_NAMESPACES: 'kube-system,Bad_NS' }, /protected namespaces .* must be comma-separated namespace names; got "Bad_NS"/],
    [{ HAWSER_PROTECT_OWN_NAMESPACE: 'yes' }, /HAWSER_PROTECT_OWN_NAMESPACE must be true or false/],
    [{ HAWSER_CHART_VERSION: 'v1 beta' }, /chart version/],
  ])('names the bad field and what it expected (%o)', (env, message) => {
    let err: unknown;
    try {
      loadConfig({ flags: {}, env: { ...base, ...env } });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: AgentErrorCodes.CONFIG_INVALID });
    expect((err as Error).message).toMatch(message);
  });

  it('asks for a namespace or a state directory when neither is given', () => {
    expect(() => loadConfig({ flags: {}, env: {} })).toThrow(/POD_NAMESPACE.*--state-dir/);
    expect(loadConfig({ flags: { 'state-dir': '/tmp/x' }, env: {} }).state).toEqual({ kind: 'dir', path: '/tmp/x' });
  });

  it('protects kube-system, kube-public, kube-node-lease and its own namespace by default', () => {
    expect(loadConfig({ flags: {}, env: base }).protectedNamespaces).toEqual(['kube-system', 'kube-public', 'kube-node-lease', 'hawser-system']);
  });

  it('takes the protected namespaces as given, an empty list meaning none but its own, and can leave its own out', () => {
    expect(loadConfig({ flags: {}, env: { ...base, HAWSER_PROTECTED_NAMESPACES: 'kube-system, prod' } }).protectedNamespaces).toEqual(['kube-system', 'prod', 'hawser-system']);
    expect(loadConfig({ flags: {}, env: { ...base, HAWSER_PROTECTED_NAMESPACES: '' } }).protectedNamespaces).toEqual(['hawser-system']);
    expect(loadConfig({ flags: {}, env: { ...base, HAWSER_PROTECTED_NAMESPACES: '', HAWSER_PROTECT_OWN_NAMESPACE: 'false' } }).protectedNamespaces).toEqual([]);
  });
});
