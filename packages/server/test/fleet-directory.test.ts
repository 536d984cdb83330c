import { describe, expect, it } from 'vitest';
import { FleetDirectory } from '../src/fleet/fleet-directory.js';
import type { TunnelOwner } from '../src/fleet/tunnel-ownership.js';

const SELF = 'replica-a';

function directory(opts: { owner?: TunnelOwner; gone?: number; localLost?: number; failedAt?: number; startedAt?: number }): FleetDirectory {
  return new FleetDirectory({
    local: { session: () => undefined, lastLost: () => opts.localLost },
    ownership: { replicaId: SELF, owner: () => opts.owner, lastGone: () => opts.gone },
    dialer: { session: () => undefined, failedAt: () => opts.failedAt },
    ...(opts.startedAt !== undefined ? { startedAt: opts.startedAt } : {}),
  });
}

const elsewhere = { clusterId: 'c1', replicaId: 'replica-b', peerUrl: 'https://127.0.0.1:1', epoch: 1, agent: { software: 'x', capabilities: [], maxHeaderSize: 1024 } } as unknown as TunnelOwner;

describe('FleetDirectory.lastLost (what makes "not connected" say Retry-After)', () => {
  it('is the local loss first, then the owner that cannot be reached, then the last release', () => {
    expect(directory({ localLost: 5, gone: 7 }).lastLost('c1')).toBe(5);
    expect(directory({ owner: elsewhere, failedAt: 6, gone: 7 }).lastLost('c1')).toBe(6);
    expect(directory({ gone: 7, startedAt: 1 }).lastLost('c1')).toBe(7);
  });

  it('is the replica start when no owner and no release was ever seen (a replica started during a rolling restart)', () => {
    expect(directory({ startedAt: 1234 }).lastLost('c1')).toBe(1234);
  });

  it('is nothing for an owner elsewhere that was never unreachable', () => {
    expect(directory({ owner: elsewhere, startedAt: 1234 }).lastLost('c1')).toBeUndefined();
  });
});
