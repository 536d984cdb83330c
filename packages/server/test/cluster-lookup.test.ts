import { describe, expect, it } from 'vitest';
import { cachedClusterLookup } from '../src/relay/cluster-lookup.js';
import type { ClusterRecord, Store } from '../src/store/store.js';

const record = { id: 'c-1', name: 'prod' } as ClusterRecord;

describe('the relay cluster lookup', () => {
  it('keeps answering with the last record seen while the store fails (a PostgreSQL restart), and fails for names it never saw', async () => {
    let down = false;
    const store = { getClusterByName: async (name: string) => {
      if (down) throw new Error('connection terminated');
      return name === 'prod' ? record : undefined;
    } } as unknown as Store;
    const lookup = cachedClusterLookup(store, 1);
    expect(await lookup('prod')).toBe(record);
    await new Promise((r) => setTimeout(r, 5));
    down = true;
    expect(await lookup('prod')).toBe(record);
    await expect(lookup('other')).rejects.toThrow('connection terminated');
  });
});
