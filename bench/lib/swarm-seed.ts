/**
 * Thousands of registered clusters, fast, for the fleet bench
 * (bench/fleet.ts): with the server STOPPED (the data-dir lock), open its
 * embedded store and its data-dir CA, create each cluster and issue its
 * client certificate exactly as the registrar does (the CA's
 * issueClientCertificate + store.recordCertificate), but without the HTTP
 * round trip, the bootstrap token or the audit row. This is a shortcut of
 * the bench, said in its output; registration itself is measured apart,
 * through the real `POST /agent/v1/register` (swarm-register.ts).
 *
 * RSA keygen is slow, so a few keys are shared round-robin: each cluster
 * still has its own certificate (CN = cluster id), so its own identity.
 * forge signs in pure JavaScript (~tens of ms with a 3072-bit CA key); the
 * seed hands forge a key whose sign() is node:crypto's, which gives the same
 * PKCS#1 v1.5 signature. And PGlite commits each statement to disk (~20 ms
 * here): the seed runs the store's own SQL in transactions of BATCH clusters.
 * So 10,000 clusters take tens of seconds, not half an hour.
 */
import { constants, createPrivateKey, generateKeyPairSync, privateEncrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { csrPem } from '../../packages/agent/src/csr.js';
import { CertificateAuthority } from '../../packages/server/src/registration/certificate-authority.js';
import { openStore } from '../../packages/server/src/store/open-store.js';
import { openPgliteDriver } from '../../packages/server/src/store/pglite-driver.js';
import { openPostgresDriver } from '../../packages/server/src/store/postgres-driver.js';
import type { SqlDriver, SqlQueryable } from '../../packages/server/src/store/sql-driver.js';
import { SqlStore } from '../../packages/server/src/store/sql-store.js';

/** One seeded agent: its cluster, certificate and which shared key it holds. */
export interface SeededAgent {
  clusterId: string;
  name: string;
  certPem: string;
  keyIndex: number;
}

export interface Seed {
  agents: SeededAgent[];
  keys: string[];
  /** The CA bundle the agents trust (ca.crt). */
  caPem: string;
  ms: number;
}

const BATCH = 500;

/** The store's SQL on one open transaction. */
function storeIn(tx: SqlQueryable, engine: SqlDriver['engine']): SqlStore {
  const driver: SqlDriver = { engine, query: (sql, params) => tx.query(sql, params), exec: (sql) => tx.exec(sql), transaction: (fn) => fn(tx), close: async () => undefined };
  return new SqlStore(driver);
}

/** DER prefix of a SHA-256 DigestInfo (RFC 8017, 9.2 note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** forge's privateKeyFromPem, with sign() done natively; undone by the returned function. */
function nativeForgeSigning(): () => void {
  const original = forge.pki.privateKeyFromPem;
  // The CA asks for its key on every signature; parsing it is a good part of the cost.
  const cache = new Map<string, forge.pki.rsa.PrivateKey>();
  forge.pki.privateKeyFromPem = (pem: forge.pki.PEM) => {
    const cached = cache.get(pem);
    if (cached) return cached;
    const key = original(pem);
    const native = createPrivateKey(pem);
    key.sign = (md: forge.md.MessageDigest) => {
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const signature = privateEncrypt({ key: native, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, digest]));
      return signature.toString('binary');
    };
    cache.set(pem, key);
    return key;
  };
  return () => {
    forge.pki.privateKeyFromPem = original;
  };
}

/** Shared agent keys (PKCS#8 PEM); RSA 2048 as the agent makes them (csr.ts). */
export function agentKeys(count: number): string[] {
  return Array.from({ length: count }, () =>
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  );
}

/** Seeds `count` clusters named `${prefix}-<n>` into the stopped server's data directory (and its PostgreSQL, if it has one). */
export async function seedClusters(dataDir: string, databaseUrl: string | undefined, count: number, prefix: string, keys: string[]): Promise<Seed> {
  const started = performance.now();
  const caPem = readFileSync(join(dataDir, 'ca.crt'), 'utf8');
  const restore = nativeForgeSigning();
  // Migrations first (a server started once has run them already), then the driver itself.
  await (await openStore({ dataDir, databaseUrl })).close();
  const driver = databaseUrl ? await openPostgresDriver(databaseUrl) : await openPgliteDriver(join(dataDir, 'db'));
  try {
    // A fresh bench data dir has no rotation: ca.crt is the signer alone.
    const ca = new CertificateAuthority({ certPem: caPem, keyPem: readFileSync(join(dataDir, 'ca.key'), 'utf8') });
    const csrs = keys.map((key) => csrPem(key, 'hawser-agent'));
    const agents: SeededAgent[] = [];
    for (let from = 0; from < count; from += BATCH) {
      await driver.transaction(async (tx) => {
        const store = storeIn(tx, driver.engine);
        for (let n = from; n < Math.min(count, from + BATCH); n++) {
          const name = `${prefix}-${n}`;
          const cluster = await store.createCluster({ name });
          const keyIndex = n % keys.length;
          const issued = ca.issueClientCertificate({ csrPem: csrs[keyIndex]!, clusterId: cluster.id, ttlMs: 7 * 86_400_000, backdateMs: 60_000 });
          await store.recordCertificate({
            serial: issued.serial,
            clusterId: cluster.id,
            fingerprint: issued.fingerprint,
            notBefore: issued.notBefore,
            notAfter: issued.notAfter,
            caHash: ca.signerHash,
          });
          agents.push({ clusterId: cluster.id, name, certPem: issued.certPem, keyIndex });
        }
      });
    }
    return { agents, keys, caPem, ms: performance.now() - started };
  } finally {
    await driver.close();
    restore();
  }
}
