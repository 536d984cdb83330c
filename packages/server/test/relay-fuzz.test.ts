import { describe, expect, it } from 'vitest';
import { runRelayFuzz } from '../fuzz/relay-fuzz-core.js';

// The fuzz target of `npm run fuzz` (packages/server/fuzz/relay-fuzz.ts), run
// for a few thousand inputs with a fixed seed so CI exercises the harness and
// its oracle on every change to the relay.
describe('relay fuzz', () => {
  it('relays 2,000 random and mutated requests without any identity, credential or refused request reaching the API server', async () => {
    const stats = await runRelayFuzz({ inputs: 2_000, seed: 20261129, concurrency: 64 });
    expect(stats.inputs).toBe(2_000);
    // The inputs reach every stage, so the oracle had something to check.
    expect(stats.parserRefused).toBeGreaterThan(0);
    expect(stats.serverRefused).toBeGreaterThan(0);
    expect(stats.agentRefused).toBeGreaterThan(0);
    expect(stats.forwarded).toBeGreaterThan(100);
    expect(stats.upgrades).toBeGreaterThan(0);
  }, 60_000);
});
