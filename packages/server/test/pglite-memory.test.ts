import { describe, expect, it } from 'vitest';
import { openPgliteDriver, PGLITE_SETTINGS } from '../src/store/pglite-driver.js';

describe('embedded PGlite memory settings', () => {
  it('runs PostgreSQL with 16 MB of shared buffers rather than the 128 MB default', async () => {
    expect(PGLITE_SETTINGS).toContain('shared_buffers=16MB');
    const db = await openPgliteDriver(undefined);
    try {
      const [row] = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(row!.shared_buffers).toBe('16MB');
      // PGlite's own start parameters are kept (search_path=public among them).
      const [path] = await db.query<{ search_path: string }>('SHOW search_path');
      expect(path!.search_path).toBe('public');
    } finally {
      await db.close();
    }
  }, 60_000);
});
