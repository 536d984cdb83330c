import { describe, expect, it } from 'vitest';
import { OperatorStreams, apiTokenCredential } from '../src/auth/operator-streams.js';

describe('OperatorStreams', () => {
  it('ends every live request of one credential, once each, and leaves the others running', () => {
    const streams = new OperatorStreams();
    const ended: string[] = [];
    streams.track(apiTokenCredential('a'), (r) => ended.push(`a1:${r}`));
    streams.track(apiTokenCredential('a'), (r) => ended.push(`a2:${r}`));
    streams.track(apiTokenCredential('b'), (r) => ended.push(`b1:${r}`));
    expect(streams.endAll(apiTokenCredential('a'), 'API token revoked')).toBe(2);
    expect(ended).toEqual(['a1:API token revoked', 'a2:API token revoked']);
    expect(streams.endAll(apiTokenCredential('a'), 'again')).toBe(0);
    expect(streams.count()).toBe(1);
  });

  it('forgets a request that finished by itself', () => {
    const streams = new OperatorStreams();
    let ended = false;
    const untrack = streams.track('oidc:https://idp#u1', () => (ended = true));
    untrack();
    expect(streams.endAll('oidc:https://idp#u1', 'revoked')).toBe(0);
    expect(ended).toBe(false);
    expect(streams.count()).toBe(0);
  });
});
