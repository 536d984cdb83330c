import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A PEM certificate and its PEM private key. */
export interface KeyPair {
  cert: string;
  key: string;
}

interface Subject {
  cn: string;
  o?: string[];
}

interface Options {
  subject: Subject;
  issuer?: KeyPair;
  ca?: boolean;
  serverNames?: { dns?: string[]; ip?: string[] };
  client?: boolean;
  days?: number;
}

function newKey(): { pem: string; forgeKey: forge.pki.rsa.PrivateKey; forgePublic: forge.pki.rsa.PublicKey } {
  // Node's native RSA key generation: forge's pure-JS one takes seconds.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { pem, forgeKey, forgePublic: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function attrs(s: Subject): forge.pki.CertificateField[] {
  return [{ name: 'commonName', value: s.cn }, ...(s.o ?? []).map((o) => ({ name: 'organizationName', value: o }))];
}

/** Creates a certificate for the test control plane (CA, serving or client). */
export function createCertificate(opts: Options): KeyPair {
  const key = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.forgePublic;
  // A positive DER integer with no leading zero byte: '00' + a random first
  // byte of 0x00 made a non-minimal encoding that OpenSSL refuses ("illegal
  // padding") about once in 256 certificates.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = new Date(Date.now() - 60 * 60 * 1000);
  cert.validity.notAfter = new Date(Date.now() + (opts.days ?? 365) * 24 * 60 * 60 * 1000);
  cert.setSubject(attrs(opts.subject));
  const extensions: object[] = [{ name: 'basicConstraints', cA: Boolean(opts.ca), critical: true }];
  if (opts.ca) {
    extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true });
    extensions.push({ name: 'subjectKeyIdentifier' });
  } else {
    extensions.push({ name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true });
    extensions.push({ name: 'extKeyUsage', serverAuth: Boolean(opts.serverNames), clientAuth: Boolean(opts.client) });
  }
  if (opts.serverNames) {
    extensions.push({
      name: 'subjectAltName',
      altNames: [
        ...(opts.serverNames.dns ?? []).map((value) => ({ type: 2, value })),
        ...(opts.serverNames.ip ?? []).map((ip) => ({ type: 7, ip })),
      ],
    });
  }
  cert.setExtensions(extensions);
  if (opts.issuer) {
    const issuerCert = forge.pki.certificateFromPem(opts.issuer.cert);
    cert.setIssuer(issuerCert.subject.attributes);
    cert.sign(forge.pki.privateKeyFromPem(opts.issuer.key), forge.md.sha256.create());
  } else {
    cert.setIssuer(attrs(opts.subject));
    cert.sign(key.forgeKey, forge.md.sha256.create());
  }
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** An RSA key pair for signing ServiceAccount tokens. */
export function createSigningKey(): { publicKey: string; privateKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
