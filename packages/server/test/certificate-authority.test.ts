import { X509Certificate } from 'node:crypto';
import { spkiHash } from '@hawser/contract';
import forge from 'node-forge';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CertificateAuthority,
  createCaCertificate,
  generateRsaKeyPem,
  isServerError,
} from '../src/index.js';
import { createCsr } from './support/csr.js';

const DAY = 86_400_000;

describe('certificate authority', () => {
  let ca: CertificateAuthority;
  let agentKey: string;

  beforeAll(() => {
    ca = new CertificateAuthority(createCaCertificate());
    agentKey = generateRsaKeyPem(2048).privateKeyPem;
  });

  it('creates a self-signed CA certificate that Node verifies', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(new Date(cert.validTo).getTime() - Date.now()).toBeGreaterThan(9 * 365 * DAY);
  });

  it('exposes the CA public key hash in the kubeadm sha256:<hex> form', () => {
    expect(ca.caHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ca.caHash).toBe(spkiHash(ca.certPem));
    expect(ca.bundle).toEqual([ca.certPem]);
  });

  it('sets every field of an issued certificate itself and ignores what the CSR asks for', () => {
    // A CSR asking for a CA certificate, another subject and serverAuth.
    const key = forge.pki.privateKeyFromPem(agentKey) as forge.pki.rsa.PrivateKey;
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    csr.setSubject([
      { name: 'commonName', value: 'system:masters' },
      { name: 'organizationName', value: 'system:masters' },
    ]);
    csr.setAttributes([
      {
        name: 'extensionRequest',
        extensions: [
          { name: 'basicConstraints', cA: true },
          { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
          { name: 'subjectAltName', altNames: [{ type: 2, value: 'kubernetes.default' }] },
        ],
      },
    ]);
    csr.sign(key, forge.md.sha256.create());
    const before = Date.now();
    const issued = ca.issueClientCertificate({
      csrPem: forge.pki.certificationRequestToPem(csr),
      clusterId: '6b1c3f1e-8f0e-4c59-9a53-0f7d5c9b4a10',
      ttlMs: 30 * DAY,
      backdateMs: 5 * 60_000,
    });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.subject).toBe('CN=6b1c3f1e-8f0e-4c59-9a53-0f7d5c9b4a10\nO=hawser:agent');
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.subjectAltName).toBeUndefined();
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(cert.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(issued.fingerprint);
    const notBefore = new Date(cert.validFrom).getTime();
    const notAfter = new Date(cert.validTo).getTime();
    expect(before - notBefore).toBeGreaterThanOrEqual(5 * 60_000 - 1000);
    expect(before - notBefore).toBeLessThan(6 * 60_000);
    expect(Math.abs(notAfter - (before + 30 * DAY))).toBeLessThan(5000);
    const parsed = forge.pki.certificateFromPem(issued.certPem);
    const keyUsage = parsed.getExtension('keyUsage') as { digitalSignature: boolean; keyEncipherment: boolean; keyCertSign: boolean };
    expect(keyUsage.digitalSignature).toBe(true);
    expect(keyUsage.keyEncipherment).toBe(true);
    expect(keyUsage.keyCertSign).toBe(false);
  });

  it('issues certificates that chain to the CA (Node X509Certificate.verify and checkIssued)', () => {
    const issued = ca.issueClientCertificate({
      csrPem: createCsr(agentKey),
      clusterId: 'c',
      ttlMs: DAY,
      backdateMs: 0,
    });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(issued.certPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    const other = new X509Certificate(createCaCertificate('Other').certPem);
    expect(cert.verify(other.publicKey)).toBe(false);
  });

  it('draws a different random serial for every certificate', () => {
    const csrPem = createCsr(agentKey);
    const serials = new Set(
      Array.from({ length: 5 }, () => ca.issueClientCertificate({ csrPem, clusterId: 'c', ttlMs: DAY, backdateMs: 0 }).serial),
    );
    expect(serials.size).toBe(5);
    for (const s of serials) expect(s).toMatch(/^[4-7][0-9a-f]{31}$/);
  });

  it('refuses a CSR whose signature does not match its key', () => {
    // The signature is the last field of the DER: flip one bit of it.
    const pem = createCsr(agentKey);
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 1] = der[der.length - 1]! ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(() => ca.issueClientCertificate({ csrPem: tampered, clusterId: 'c', ttlMs: DAY, backdateMs: 0 })).toThrow(
      /signature/,
    );
  });

  it('refuses garbage, EC and short-key CSRs with HSR_ERR_CSR_INVALID', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const cases = ['not a csr', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', createCsr(weak)];
    for (const csrPem of cases) {
      let caught: unknown;
      try {
        ca.issueClientCertificate({ csrPem, clusterId: 'c', ttlMs: DAY, backdateMs: 0 });
      } catch (err) {
        caught = err;
      }
      expect(isServerError(caught, 'HSR_ERR_CSR_INVALID')).toBe(true);
    }
  });

  it('refuses an EC CSR with a message saying only RSA is supported', async () => {
    const { execFileSync } = await import('node:child_process');
    const { generateKeyPairSync } = await import('node:crypto');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'hawser-ec-'));
    try {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      writeFileSync(join(dir, 'ec.key'), key);
      const csrPem = execFileSync('openssl', ['req', '-new', '-key', join(dir, 'ec.key'), '-subj', '/CN=agent'], { encoding: 'utf8' });
      expect(() => ca.issueClientCertificate({ csrPem, clusterId: 'c', ttlMs: DAY, backdateMs: 0 })).toThrow(
        /only RSA CSRs are supported/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issues a serving certificate for DNS names and IPs that Node accepts for each', () => {
    const serving = ca.issueServingCertificate(['localhost', '127.0.0.1', '::1', 'hawser.example.com']);
    const cert = new X509Certificate(serving.certPem);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('hawser.example.com')).toBe('hawser.example.com');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBeDefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(cert.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });

  it('keeps older CAs in the trust bundle for rotation while signing with the new one', () => {
    const next = createCaCertificate('Next');
    const rotated = new CertificateAuthority(next, [ca.certPem, next.certPem]);
    expect(rotated.bundle).toEqual([next.certPem, ca.certPem]);
    expect(rotated.caHash).toBe(spkiHash(next.certPem));
  });
});
