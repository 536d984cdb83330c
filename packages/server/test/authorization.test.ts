import { describe, expect, it } from 'vitest';
import { authorize, type AuthorizationConfig } from '../src/auth/authorization.js';
import { resolveAuthorization } from '../src/auth/operator-config.js';

const tiers = resolveAuthorization({ tierGroups: { read: ['devs'], write: ['leads'], admin: ['sre'] } });

describe('authorization modes', () => {
  it('maps IdP groups to the highest tier and impersonates prefixed user and tier group', () => {
    expect(authorize({ username: 'alice', groups: ['devs', 'sre'], via: 'oidc', credentialId: 'oidc:test' }, tiers)).toEqual({
      allowed: true,
      user: 'hawser:alice',
      groups: ['hawser:tier:admin'],
      tier: 'admin',
    });
    expect(authorize({ username: 'bob', groups: ['devs'], via: 'oidc', credentialId: 'oidc:test' }, tiers)).toMatchObject({ groups: ['hawser:tier:read'], tier: 'read' });
  });

  it('refuses a user in no tier group', () => {
    expect(authorize({ username: 'eve', groups: ['other'], via: 'oidc', credentialId: 'oidc:test' }, tiers)).toMatchObject({ allowed: false, reason: expect.stringContaining('no group that maps') });
  });

  it('prefixes every IdP group in raw mode and impersonates nobody in shared mode', () => {
    const raw: AuthorizationConfig = resolveAuthorization({ authorizationMode: 'raw', impersonationPrefix: 'corp:' });
    expect(authorize({ username: 'a', groups: ['x', 'y'], via: 'api-token', credentialId: 'api-token:test' }, raw)).toEqual({ allowed: true, user: 'corp:a', groups: ['corp:x', 'corp:y'] });
    const shared = resolveAuthorization({ authorizationMode: 'shared' });
    expect(authorize({ username: 'a', groups: [], via: 'api-token', credentialId: 'api-token:test' }, shared)).toEqual({ allowed: true, groups: [] });
  });

  it('refuses names with control characters (they cannot travel in headers)', () => {
    expect(authorize({ username: 'a\nb', groups: [], via: 'oidc', credentialId: 'oidc:test' }, tiers).allowed).toBe(false);
    expect(authorize({ username: 'a', groups: ['x\u0000'], via: 'oidc', credentialId: 'oidc:test' }, tiers).allowed).toBe(false);
  });

  it('rejects a bad mode, a system: prefix and unknown tiers at start-up, naming the field', () => {
    expect(() => resolveAuthorization({ authorizationMode: 'rbac' })).toThrow(/config.authorizationMode/);
    expect(() => resolveAuthorization({ impersonationPrefix: 'system:' })).toThrow(/config.impersonationPrefix/);
    expect(() => resolveAuthorization({ tierGroups: { owner: ['x'] } })).toThrow(/config.tierGroups.owner/);
  });
});
