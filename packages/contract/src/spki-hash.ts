import { X509Certificate, createHash } from 'node:crypto';

/**
 * `sha256:<hex>` of a certificate's SubjectPublicKeyInfo, kubeadm's
 * discovery-hash form. The server prints it into bootstrap tokens and the
 * chart; the agent pins the server CA by it before it trusts the server.
 */
export function spkiHash(cert: X509Certificate | string): string {
  const x509 = typeof cert === 'string' ? new X509Certificate(cert) : cert;
  const der = x509.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/** The form {@link spkiHash} returns. */
export const SPKI_HASH_PATTERN = /^sha256:[0-9a-f]{64}$/;
