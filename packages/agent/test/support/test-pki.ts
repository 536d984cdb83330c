import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A PEM certificate and its PEM private key. */
export interface Issued {
  cert: string;
  key: string;
}

interface IssueOptions {
  cn: string;
  /** Signs with this CA; self-signed when absent. */
  issuer?: Issued;
  ca?: boolean;
  /** A serving certificate for these IP addresses. */
  serverIps?: string[];
  client?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Certify this public key (from a CSR) instead of a new one; `key` is then ''. */
  publicKeyPem?: string;
}

/**
 * Certificates for the agent's unit tests: a CA, a serving certificate for
 * 127.0.0.1, client certificates with exact validity (for renewal timing),
 * and certificates for the public key of an agent's CSR (a stub server
 * answering /agent/v1/register).
 */
export function issue(opts: IssueOptions): Issued {
  let keyPem = '';
  let publicKey: forge.pki.PublicKey;
  if (opts.publicKeyPem) {
    publicKey = forge.pki.publicKeyFromPem(opts.publicKeyPem);
  } else {
    // Native key generation: forge's pure-JS RSA takes seconds.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const k = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
    publicKey = forge.pki.setRsaPublicKey(k.n, k.e);
  }
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive DER integer with no leading zero byte: '00' + a random first
  // byte of 0x00 made a non-minimal encoding that OpenSSL refuses ("illegal
  // padding") about once in 256 certificates.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 24 * 3600_000);
  const subject = [{ name: 'commonName', value: opts.cn }];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? forge.pki.certificateFromPem(opts.issuer.cert).subject.attributes : subject);
  const extensions: object[] = [{ name: 'basicConstraints', cA: Boolean(opts.ca), critical: true }];
  if (opts.ca) extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true });
  else extensions.push({ name: 'extKeyUsage', serverAuth: Boolean(opts.serverIps), clientAuth: Boolean(opts.client) });
  if (opts.serverIps) extensions.push({ name: 'subjectAltName', altNames: opts.serverIps.map((ip) => ({ type: 7, ip })) });
  cert.setExtensions(extensions);
  const signer = forge.pki.privateKeyFromPem(opts.issuer?.key ?? keyPem);
  cert.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

/** The public key of a PEM CSR, as PEM. */
export function csrPublicKey(csrPem: string): string {
  return forge.pki.publicKeyToPem(forge.pki.certificationRequestFromPem(csrPem).publicKey!);
}

/** A CA and a serving certificate for 127.0.0.1 that it issued. */
export function serverPki(name = 'Test CA'): { ca: Issued; serving: Issued } {
  const ca = issue({ cn: name, ca: true });
  return { ca, serving: issue({ cn: '127.0.0.1', issuer: ca, serverIps: ['127.0.0.1'] }) };
}
