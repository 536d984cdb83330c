import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';

/**
 * Generates the agent's key pair locally and a CSR for it. The private key
 * never leaves the cluster; the server ignores every field of the CSR but
 * the public key and sets the certificate's subject itself.
 *
 * RSA-2048, because the server's PKI library (node-forge) reads RSA CSRs
 * only. The CSR is a PKCS#10 structure written here in a few lines of DER
 * over node:crypto, rather than with node-forge: forge's module setup alone
 * costs the idle agent several MB (bench/agent-rss.ts), for one CSR a month.
 */
export function createKeyAndCsr(commonName: string): { key: string; csr: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { key, csr: csrPem(key, commonName) };
}

/** A PKCS#10 CertificationRequest (RFC 2986) for `keyPem`, signed with SHA-256. */
export function csrPem(keyPem: string, commonName: string): string {
  const privateKey = createPrivateKey(keyPem);
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const subject = seq(set(seq(OID_COMMON_NAME, tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  // version 0, subject, subjectPKInfo, attributes [0] (none)
  const info = seq(tlv(0x02, Buffer.from([0])), subject, spki, tlv(0xa0, Buffer.alloc(0)));
  const signature = sign('sha256', info, privateKey);
  const der = seq(info, seq(OID_SHA256_WITH_RSA, tlv(0x05, Buffer.alloc(0))), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}-----END CERTIFICATE REQUEST-----\n`;
}

/** 2.5.4.3 commonName */
const OID_COMMON_NAME = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]);
/** 1.2.840.113549.1.1.11 sha256WithRSAEncryption */
const OID_SHA256_WITH_RSA = Buffer.from([0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]);

/** One DER tag-length-value; lengths in short or long form. */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
