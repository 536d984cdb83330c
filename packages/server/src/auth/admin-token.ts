import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeAdminTokenFile } from '../data-dir.js';
import { hashApiToken } from './api-token.js';
import { ADMIN_GROUP } from './authorization.js';
import type { AuditLog } from '../audit/audit.js';
import type { Logger } from '../log.js';
import type { ApiTokenRecord, Store } from '../store/store.js';

export const ADMIN_TOKEN_PREFIX = 'hsr_admin_';

/** A new admin token: 32 random bytes, recognisable by its prefix. */
export function mintAdminToken(): string {
  return ADMIN_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The format mintAdminToken produces, and nothing else. */
export function looksLikeAdminToken(token: string): boolean {
  return /^hsr_admin_[A-Za-z0-9_-]{43}$/.test(token);
}

/** The stored record of a new admin token (the clear token is never stored). */
export function adminTokenRecord(token: string): Omit<ApiTokenRecord, 'createdAt' | 'revokedAt'> {
  return { id: `admin-${randomUUID()}`, hash: hashApiToken(token), user: 'admin', groups: [ADMIN_GROUP], expiresAt: null };
}

function readTokenFile(path: string): string | undefined {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8').trim() || undefined : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes sure the store holds an active admin token, at start-up. Admin
 * tokens live in the store like every API token (listed, revoked, rotated);
 * the file `<data-dir>/admin-token` only hands the initial one to the local
 * CLI. The server never accepts what the file says: it authenticates by the
 * stored hash alone, so a value written into the file by hand or by mistake
 * is refused like any unknown token.
 *
 * Two narrow cases read the file, both only while the store has no active
 * admin token: after the upgrade to schema v2, the file's value is adopted
 * again if it is one of the revoked legacy values and has the server's own
 * format; and a store that never held an admin token takes the file's value
 * as its first one if it has that format (the Helm chart's pki.existingSecret
 * provides the file before the first start). Otherwise a new token is minted
 * and written to the file.
 */
export async function ensureAdminToken(opts: { store: Store; file: string; log: Logger; audit: AuditLog }): Promise<void> {
  const { store, file, log, audit } = opts;
  let counts = await store.countAdminTokens(ADMIN_GROUP);
  if (counts.active > 0) return;
  const fromFile = readTokenFile(file);
  if (fromFile && looksLikeAdminToken(fromFile) && (await store.adoptLegacyAdminToken(hashApiToken(fromFile)))) {
    log.warn({ adminTokenFile: file }, 'schema v2: kept the admin token in the admin token file; every other earlier admin token value is revoked');
    return;
  }
  counts = await store.countAdminTokens(ADMIN_GROUP);
  if (counts.active > 0) return; // another replica got there first
  if (counts.total === 0 && fromFile && looksLikeAdminToken(fromFile)) {
    const record = adminTokenRecord(fromFile);
    await store.insertApiToken(record);
    await audit.record({ type: 'api-token.created', actor: 'server', details: { id: record.id, user: record.user, groups: record.groups, source: 'admin token file, first start' } });
    log.info({ adminTokenFile: file, id: record.id }, 'first start: the admin token file provided the initial admin token');
    return;
  }
  const token = mintAdminToken();
  const record = adminTokenRecord(token);
  await store.insertApiToken(record);
  await audit.record({ type: 'api-token.created', actor: 'server', details: { id: record.id, user: record.user, groups: record.groups, source: counts.total === 0 ? 'first start' : 'no active admin token' } });
  try {
    writeAdminTokenFile(file, token);
    log.info({ adminTokenFile: file, id: record.id }, `minted an admin token (${record.id}) and wrote it to ${file}`);
  } catch (err) {
    // A read-only mount (the chart's pki.existingSecret): the token exists
    // but nobody holds it. Say so plainly rather than fail the start.
    log.error(
      { err, adminTokenFile: file, id: record.id },
      `minted an admin token but could not write ${file}; provide a valid admin token there (see docs/security.md, "Admin tokens")`,
    );
  }
}
