import { X509Certificate } from 'node:crypto';
import { spkiHash } from '@hawser/contract';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, createCaCertificate, generateRsaKeyPem, isServerError } from '../src/index.js';
import { createCsr } from './support/csr.js';

describe('a CA rotation in the certificate authority', () => {
  let first: ReturnType<typeof createCaCertificate>;
  let second: ReturnType<typeof createCaCertificate>;
  let csr: string;

  beforeAll(() => {
    first = createCaCertificate();
    second = createCaCertificate('Hawser CA next');
    csr = createCsr(generateRsaKeyPem(2048).privateKeyPem);
  }, 120_000);

  const issuerOf = (pem: string, ca: string) => new X509Certificate(pem).checkIssued(new X509Certificate(ca));

  it('signs agents with the new CA at once, keeps serving from the old one until moved, and trusts both until retired', () => {
    const ca = new CertificateAuthority(first);
    ca.rotate(second);
    expect(ca.bundle).toEqual([second.certPem, first.certPem]);
    expect(ca.signerHash).toBe(spkiHash(second.certPem));
    // Tokens pin what the serving certificate chains to: still the old CA.
    expect(ca.caHash).toBe(spkiHash(first.certPem));
    const agent = ca.issueClientCertificate({ csrPem: csr, clusterId: 'c1', ttlMs: 60_000, backdateMs: 0 });
    expect(issuerOf(agent.certPem, second.certPem)).toBe(true);
    expect(issuerOf(ca.issueServingCertificate(['localhost']).certPem, first.certPem)).toBe(true);
    try {
      ca.rotate(createCaCertificate());
      expect.unreachable();
    } catch (err) {
      expect(isServerError(err, 'HSR_ERR_CA_ROTATION_IN_PROGRESS')).toBe(true);
    }

    ca.moveServing();
    expect(ca.caHash).toBe(spkiHash(second.certPem));
    expect(issuerOf(ca.issueServingCertificate(['localhost']).certPem, second.certPem)).toBe(true);
    expect(ca.bundle).toHaveLength(2);

    ca.retire();
    expect(ca.bundle).toEqual([second.certPem]);
    expect(ca.previous).toBeUndefined();
  }, 120_000);
});
