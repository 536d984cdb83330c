import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';
import { LogCapture } from './support/harness.js';

describe('logger', () => {
  it('redacts tokens, authorization headers, keys and CSRs', () => {
    const capture = new LogCapture();
    const log = createLogger({ level: 'info', destination: capture }).child({ component: 'test' });
    log.info({
      token: 'tok-secret',
      headers: { authorization: 'Bearer admin-secret' },
      req: { headers: { authorization: 'Bearer admin-secret-2' } },
      body: { token: 'tok-secret-2', csr: '-----BEGIN CERTIFICATE REQUEST-----' },
      privateKey: 'key-secret',
      nested: { key: 'k', adminToken: 'a' },
      clusterId: 'c1',
    }, 'hello');
    const text = capture.text();
    for (const secret of ['tok-secret', 'admin-secret', 'BEGIN CERTIFICATE REQUEST', 'key-secret', '"k"', '"a"']) {
      expect(text).not.toContain(secret);
    }
    expect(capture.lines[0]).toMatchObject({ level: 'info', component: 'test', clusterId: 'c1', token: '[redacted]' });
  });
});
