import { describe, expect, it } from 'vitest';
import { OwnerCache } from '../src/fleet/owner-cache.js';
import { parseLeaseNotice } from '../src/fleet/lease-notice.js';
import type { TunnelLeaseRecord } from '../src/store/store.js';

const agent = { software: 'hawser-agent/1', capabilities: ['request-head'], maxHeaderSize: 65536 };

function lease(c: string, r: string, e: number, ms = 15_000): TunnelLeaseRecord {
  return { clusterId: c, replicaId: r, connectionId: `${r}-conn`, epoch: e, expiresAt: new Date(0), remainingMs: ms, agent };
}

describe('the owner cache', () => {
  it('keeps the newest claim when an older one arrives late', () => {
    const cache = new OwnerCache();
    cache.apply({ k: 'lease', c: 'c1', r: 'r-b', n: 'b', e: 7, ms: 15_000, a: agent }, 1_000);
    cache.apply({ k: 'lease', c: 'c1', r: 'r-a', n: 'a', e: 6, ms: 15_000, a: agent }, 1_001);
    expect(cache.owner('c1', 1_002)).toMatchObject({ replicaId: 'r-b', epoch: 7, agent });
    // A release of the older epoch does not remove the newer owner.
    cache.apply({ k: 'released', c: 'c1', r: 'r-a', e: 6 }, 1_003);
    expect(cache.owner('c1', 1_004)?.replicaId).toBe('r-b');
  });

  it('answers no owner once a lease has expired unrenewed, and a renewal of its replica extends it', () => {
    const cache = new OwnerCache();
    cache.apply({ k: 'replica', r: 'r-a', u: 'https://10.0.0.1:8445' }, 0);
    cache.apply({ k: 'lease', c: 'c1', r: 'r-a', n: 'a', e: 1, ms: 1_000, a: agent }, 0);
    expect(cache.owner('c1', 999)?.peerUrl).toBe('https://10.0.0.1:8445');
    cache.apply({ k: 'renewed', r: 'r-a', ms: 1_000 }, 900);
    expect(cache.owner('c1', 1_899)?.replicaId).toBe('r-a');
    expect(cache.owner('c1', 1_900)).toBeUndefined();
  });

  it('re-applies the notifications that arrived while a reload ran over its (older) result', () => {
    const cache = new OwnerCache();
    cache.apply({ k: 'lease', c: 'c1', r: 'r-a', n: 'a', e: 1, ms: 15_000, a: agent }, 0);
    cache.beginLoad();
    cache.apply({ k: 'lease', c: 'c2', r: 'r-b', n: 'b', e: 3, ms: 15_000, a: agent }, 10);
    // The SELECT ran before c2's claim and after c1's release (which this replica missed).
    const changed = cache.finishLoad([lease('c3', 'r-c', 2)], [], 20);
    expect(cache.owner('c1', 30)).toBeUndefined();
    expect(cache.owner('c2', 30)?.replicaId).toBe('r-b');
    expect(cache.owner('c3', 30)?.replicaId).toBe('r-c');
    // c2 was announced when its notification arrived; the reload changed c1 and c3.
    expect(changed.sort()).toEqual(['c1', 'c3']);
  });
});

describe('fleet notification payloads', () => {
  it('parses every kind, and ignores malformed or unknown ones instead of failing', () => {
    expect(parseLeaseNotice('{"k":"lease","c":"c1","r":"r-a","n":"x","e":4,"ms":15000,"a":{}}')).toMatchObject({ k: 'lease', e: 4 });
    expect(parseLeaseNotice('{"k":"event","v":{"type":"cluster.deregistered","clusterId":"c1"}}')).toEqual({
      k: 'event',
      v: { type: 'cluster.deregistered', clusterId: 'c1' },
    });
    expect(parseLeaseNotice('{"k":"event","v":{"type":"credential.revoked","clusterId":"c1"}}')).toBeUndefined();
    expect(parseLeaseNotice('{"k":"event","v":{"type":"cluster.renamed","clusterId":"c1"}}')).toBeUndefined();
    expect(parseLeaseNotice('{"k":"lease","c":"c1"}')).toBeUndefined();
    expect(parseLeaseNotice('{"k":"from-the-future"}')).toBeUndefined();
    expect(parseLeaseNotice('not json')).toBeUndefined();
    expect(parseLeaseNotice(undefined)).toBeUndefined();
  });
});
