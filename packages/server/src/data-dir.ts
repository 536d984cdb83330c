import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { spkiHash } from '@hawser/contract';
import { CertificateAuthority, createCaCertificate, ServingIssuers } from './registration/certificate-authority.js';
import type { KeyedCertificate } from './registration/certificate-authority.js';
import { ErrorCodes, HawserServerError } from './errors.js';

/** File names inside the data directory. */
export const DataFiles = {
  /** The signing CA first, then the previous CA during a rotation: the bundle the local CLI trusts. */
  CA_CERT: 'ca.crt',
  CA_KEY: 'ca.key',
  /** The CA being rotated out (ca-rotation.ts); present only during a rotation. */
  CA_PREVIOUS_CERT: 'ca-previous.crt',
  CA_PREVIOUS_KEY: 'ca-previous.key',
  /** The bootstrap tokens' `iss`, fixed at first start so a CA rotation leaves minted tokens valid. */
  TOKEN_ISSUER: 'token-issuer',
  /** Optional extra trusted CAs (PEM, concatenated) during a CA rotation. */
  CA_TRUSTED: 'ca-trusted.crt',
  SERVER_CERT: 'server.crt',
  SERVER_KEY: 'server.key',
  TOKEN_SIGNING_KEY: 'token-signing-key.pem',
  ADMIN_TOKEN: 'admin-token',
} as const;

/** Re-issue the serving certificate when it has less than this left. */
const SERVING_RENEW_BEFORE_MS = 30 * 86_400_000;

/** The secrets a server needs, loaded or created on first start. */
export interface ServerSecrets {
  readonly ca: CertificateAuthority;
  readonly serving: KeyedCertificate;
  readonly tokenSigningKey: KeyObject;
  /** `iss` of bootstrap tokens, stable across CA rotations. */
  readonly tokenIssuer: string;
  /** Where the local CLI finds the admin token (admin-token.ts writes it; the server never trusts it). */
  readonly adminTokenFile: string;
  /** What was created on this start (for the start-up log). */
  readonly created: readonly string[];
}

/**
 * Writes atomically (temp file + rename) so a crash never leaves half a key,
 * and with the final mode from the start so a secret is never world-readable.
 */
function writeFileAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

function readIf(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function splitPems(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g)?.map((p) => p.trim() + '\n') ?? [];
}

/** True when the serving certificate covers every name, comes from `caPem` and is not close to expiry. */
function servingCertificateFits(certPem: string, names: readonly string[], caPem: string): boolean {
  const cert = new X509Certificate(certPem);
  if (!cert.checkIssued(new X509Certificate(caPem))) return false;
  if (new Date(cert.validTo).getTime() - Date.now() < SERVING_RENEW_BEFORE_MS) return false;
  return names.every((n) => (isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined));
}

/** The signing CA and, during a rotation, the previous one, as the data directory holds them. */
function loadCa(dataDir: string, created: string[]): { signer: KeyedCertificate; previous?: KeyedCertificate } {
  const path = (name: string): string => join(dataDir, name);
  const caCert = readIf(path(DataFiles.CA_CERT));
  const caKey = readIf(path(DataFiles.CA_KEY));
  if (caCert === undefined || caKey === undefined) {
    if (caCert !== undefined || caKey !== undefined) {
      throw new HawserServerError(
        ErrorCodes.PKI_FAILED,
        `found only one of ${DataFiles.CA_CERT} and ${DataFiles.CA_KEY} in ${dataDir}; restore the other or remove both to create a new CA`,
      );
    }
    const ca = createCaCertificate();
    writeFileAtomic(path(DataFiles.CA_KEY), ca.keyPem, 0o600);
    writeFileAtomic(path(DataFiles.CA_CERT), ca.certPem, 0o644);
    created.push('CA');
    return { signer: ca };
  }
  // ca.crt may hold the previous CA after the signer (the CLI's bundle); the signer is the first.
  const signer = { certPem: splitPems(caCert)[0] ?? caCert, keyPem: caKey };
  const previousCert = readIf(path(DataFiles.CA_PREVIOUS_CERT));
  const previousKey = readIf(path(DataFiles.CA_PREVIOUS_KEY));
  if (previousCert === undefined || previousKey === undefined) return { signer };
  return { signer, previous: { certPem: previousCert, keyPem: previousKey } };
}

/**
 * Loads the CA, serving certificate and token signing key from `dataDir`,
 * creating each one that is missing. Private keys are written with mode
 * 0600. (The admin token is the store's: admin-token.ts.) The serving certificate is re-issued
 * when a configured name is missing from it or it nears expiry. During a CA
 * rotation the serving certificate may come from the previous CA; whichever
 * issued it keeps issuing it.
 */
export function loadOrCreateSecrets(dataDir: string, serverNames: readonly string[]): ServerSecrets {
  const created: string[] = [];
  const path = (name: string): string => join(dataDir, name);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const { signer, previous } = loadCa(dataDir, created);
    const trusted = splitPems(readIf(path(DataFiles.CA_TRUSTED)) ?? '');
    const servingCert = readIf(path(DataFiles.SERVER_CERT));
    const servingKey = readIf(path(DataFiles.SERVER_KEY));
    const byPrevious = Boolean(previous && servingCert && new X509Certificate(servingCert).checkIssued(new X509Certificate(previous.certPem)));
    const ca = new CertificateAuthority(signer, trusted, previous, byPrevious ? ServingIssuers.PREVIOUS : ServingIssuers.SIGNER);

    let serving: KeyedCertificate | undefined;
    if (servingCert && servingKey && servingCertificateFits(servingCert, serverNames, ca.servingCaPem)) {
      serving = { certPem: servingCert, keyPem: servingKey };
    } else {
      serving = ca.issueServingCertificate(serverNames);
      saveServingCertificate(dataDir, serving);
      created.push('serving certificate');
    }

    let signingPem = readIf(path(DataFiles.TOKEN_SIGNING_KEY));
    if (signingPem === undefined) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      signingPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      writeFileAtomic(path(DataFiles.TOKEN_SIGNING_KEY), signingPem, 0o600);
      created.push('token signing key');
    }
    const tokenSigningKey = createPrivateKey(signingPem);
    if (tokenSigningKey.asymmetricKeyType !== 'ec' || tokenSigningKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new HawserServerError(ErrorCodes.PKI_FAILED, `${DataFiles.TOKEN_SIGNING_KEY} must be an EC P-256 key (ES256)`);
    }
    // The issuer was derived from the CA before it could rotate; the first
    // start that finds no file writes the value it always had.
    let tokenIssuer = readIf(path(DataFiles.TOKEN_ISSUER))?.trim();
    if (!tokenIssuer) {
      tokenIssuer = `urn:hawser:ca:${spkiHash((previous ?? signer).certPem).slice(7, 39)}`;
      writeFileAtomic(path(DataFiles.TOKEN_ISSUER), `${tokenIssuer}\n`, 0o644);
    }

    return { ca, serving, tokenSigningKey, tokenIssuer, adminTokenFile: path(DataFiles.ADMIN_TOKEN), created };
  } catch (err) {
    if (err instanceof HawserServerError) throw err;
    throw new HawserServerError(ErrorCodes.PKI_FAILED, `data directory ${dataDir}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Writes the CA files for the state `ca` is in: ca.key the signer's key,
 * ca.crt the signer then the previous CA, ca-previous.* only during a
 * rotation. Keys first, so a crash in between never leaves a certificate
 * without its key.
 */
export function saveCaFiles(dataDir: string, ca: CertificateAuthority): void {
  const path = (name: string): string => join(dataDir, name);
  const previous = ca.previous;
  if (previous) {
    writeFileAtomic(path(DataFiles.CA_PREVIOUS_KEY), previous.keyPem, 0o600);
    writeFileAtomic(path(DataFiles.CA_PREVIOUS_CERT), previous.certPem, 0o644);
  }
  writeFileAtomic(path(DataFiles.CA_KEY), ca.signer.keyPem, 0o600);
  writeFileAtomic(path(DataFiles.CA_CERT), ca.signer.certPem + (previous ? previous.certPem : ''), 0o644);
  if (!previous) {
    rmSync(path(DataFiles.CA_PREVIOUS_CERT), { force: true });
    rmSync(path(DataFiles.CA_PREVIOUS_KEY), { force: true });
  }
}

/** Writes the serving certificate and its key. */
export function saveServingCertificate(dataDir: string, serving: KeyedCertificate): void {
  writeFileAtomic(join(dataDir, DataFiles.SERVER_KEY), serving.keyPem, 0o600);
  writeFileAtomic(join(dataDir, DataFiles.SERVER_CERT), serving.certPem, 0o644);
}

/** Writes the token for the local CLI: mode 0600 from the start, temp file + rename. */
export function writeAdminTokenFile(path: string, token: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
