import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addCluster, openTunnel, registeredAgent, startServer } from './support/harness.js';
import type { Harness } from './support/harness.js';

describe('smoke', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startServer();
  }, 60_000);
  afterAll(async () => h?.stop());

  it('registers and opens a tunnel', async () => {
    const added = await addCluster(h, 'smoke-1');
    expect(added.bootstrap.helm).toContain('helm install');
    const agent = await registeredAgent(h, 'smoke-2');
    const out = await openTunnel(h, { cert: agent.certificate, key: agent.keyPem });
    expect(out.kind).toBe('open');
    if (out.kind === 'open') out.ws.close();
  });
});
