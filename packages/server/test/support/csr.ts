import forge from 'node-forge';

/**
 * Builds an RSA CSR for a test agent. Production CSRs come from the agent
 * (packages/agent/src/csr.ts); the server only ever reads them.
 */
export function createCsr(keyPem: string, commonName = 'hawser-agent'): string {
  const privateKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  csr.setSubject([{ name: 'commonName', value: commonName }]);
  csr.sign(privateKey, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}
