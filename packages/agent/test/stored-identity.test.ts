import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentErrorCodes, type AgentError } from '../src/errors.js';
import { DirStateStore } from '../src/dir-state-store.js';
import type { AgentState, StateStore } from '../src/state-store.js';
import { loadStoredIdentity } from '../src/stored-identity.js';
import { identity, tempDir } from './support/agent-harness.js';
import { serverPki } from './support/test-pki.js';

const pki = serverPki('Hawser CA');

/** A state Secret as the API server would hand it back, with whatever fields a test damaged. */
function secretStore(state: AgentState): StateStore {
  return { description: 'Secret hawser-system/hawser-agent-state', load: () => Promise.resolve(state), save: () => Promise.resolve() };
}

describe('loading the stored identity', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => (dir = tempDir()));
  afterEach(() => dir.remove());

  it('names the Secret and the fix when its private key is garbage, instead of an OpenSSL decoder message', async () => {
    const state = { ...identity('https://127.0.0.1:1', pki.ca), key: '-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n' };
    const err = (await loadStoredIdentity(secretStore(state)).catch((e: unknown) => e)) as AgentError;
    expect(err.code).toBe(AgentErrorCodes.STATE_CORRUPT);
    expect(err.message).toMatch(/^the agent's stored identity in Secret hawser-system\/hawser-agent-state holds a private key that does not parse: delete that state/);
    expect(err.message).toContain('hawser cluster token NAME');
    expect(err.message).not.toMatch(/DECODER|error:[0-9A-F]{8}/);
  });

  it('refuses a certificate that belongs to another key, and a damaged CA bundle', async () => {
    const a = identity('https://127.0.0.1:1', pki.ca);
    const b = identity('https://127.0.0.1:1', pki.ca);
    const mixed = (await loadStoredIdentity(secretStore({ ...a, key: b.key })).catch((e: unknown) => e)) as AgentError;
    expect(mixed).toMatchObject({ code: AgentErrorCodes.STATE_CORRUPT });
    expect(mixed.message).toContain('does not belong to its private key');
    const bundle = (await loadStoredIdentity(secretStore({ ...a, caBundle: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'] })).catch((e: unknown) => e)) as AgentError;
    expect(bundle.message).toContain('server CA bundle that does not parse');
  });

  it('names the state file when it is not JSON', async () => {
    mkdirSync(join(dir.path, 'state'));
    writeFileSync(join(dir.path, 'state', 'agent-state.json'), '{ not json');
    const err = (await loadStoredIdentity(new DirStateStore(join(dir.path, 'state'))).catch((e: unknown) => e)) as AgentError;
    expect(err.code).toBe(AgentErrorCodes.STATE_CORRUPT);
    expect(err.message).toContain(join(dir.path, 'state', 'agent-state.json'));
  });

  it('says the state directory cannot be read when its path is a regular file (fails for root too)', async () => {
    writeFileSync(join(dir.path, 'state'), 'a file, not a directory');
    const err = (await loadStoredIdentity(new DirStateStore(join(dir.path, 'state'))).catch((e: unknown) => e)) as AgentError;
    expect(err.code).toBe(AgentErrorCodes.STATE_UNAVAILABLE);
    expect(err.message).toMatch(/cannot read the agent's state in file .*agent-state\.json \(ENOTDIR\): check that the path is a directory/);
  });

  it('passes an intact identity through', async () => {
    const state = identity('https://127.0.0.1:1', pki.ca);
    expect(await loadStoredIdentity(secretStore(state))).toEqual(state);
  });
});
