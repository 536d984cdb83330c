import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';

/**
 * Generates the agent's key pair locally and a CSR for it. The private key
 * never leaves the cluster; the server ignores every field of the CSR but
 * the public key and sets the certificate's subject itself.
 *
 * RSA-2048: node-forge, the chosen PKI library, has no ECDSA support.
 */
export function createKeyAndCsr(commonName: string): { key: string; csr: string } {
  // Native key generation: forge's pure-JS RSA takes seconds.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(key) as forge.pki.rsa.PrivateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(forgeKey, forge.md.sha256.create());
  return { key, csr: forge.pki.certificationRequestToPem(csr) };
}
