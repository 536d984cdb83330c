import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { createKeyAndCsr } from '../src/csr.js';

describe('the agent\'s certificate signing request', () => {
  it('is a PKCS#10 request that node-forge (the server\'s PKI library) reads and verifies, for the agent\'s own key', () => {
    const { key, csr } = createKeyAndCsr('hawser-agent');
    const parsed = forge.pki.certificationRequestFromPem(csr);
    expect(parsed.verify()).toBe(true);
    expect(parsed.subject.getField('CN').value).toBe('hawser-agent');
    const publicKey = parsed.publicKey as forge.pki.rsa.PublicKey;
    expect(publicKey.n.bitLength()).toBe(2048);
    // The key in the CSR is the agent's key, not another.
    const ours = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
    expect(forge.pki.publicKeyToPem(publicKey).replace(/\r/g, '')).toBe(ours);
  });

  it('passes openssl req -verify when openssl is installed', () => {
    const { csr } = createKeyAndCsr('hawser-agent');
    let out: string;
    try {
      out = execFileSync('openssl', ['req', '-verify', '-noout'], { input: csr, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    expect(out).toBe('');
  });
});
