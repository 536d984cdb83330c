import { describe, expect, it } from 'vitest';
import { OwnerCache } from '../src/fleet/owner-cache.js';

describe('the owner cache after a tunnel left its replica', () => {
  it('says when the lease was released or expired while nobody holds it, so every replica answers "not connected" with Retry-After', () => {
    const cache = new OwnerCache();
    cache.apply({ k: 'lease', c: 'c-1', r: 'r0', n: 'conn-1', e: 1, ms: 10_000, a: {} }, 1_000);
    expect(cache.goneAt('c-1', 2_000)).toBeUndefined();
    // Expired unrenewed (the owner died): gone at its expiry.
    expect(cache.goneAt('c-1', 12_000)).toBe(11_000);
    // Released (the owner drained): gone at the notice; a new claim ends it.
    cache.apply({ k: 'lease', c: 'c-1', r: 'r1', n: 'conn-2', e: 2, ms: 10_000, a: {} }, 13_000);
    cache.apply({ k: 'released', c: 'c-1', r: 'r1', e: 2 }, 14_000);
    expect(cache.goneAt('c-1', 14_500)).toBe(14_000);
    cache.apply({ k: 'lease', c: 'c-1', r: 'r2', n: 'conn-3', e: 3, ms: 10_000, a: {} }, 15_000);
    expect(cache.goneAt('c-1', 15_500)).toBeUndefined();
    expect(cache.goneAt('never-seen')).toBeUndefined();
  });
});
