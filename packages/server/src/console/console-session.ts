import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HAWSER_COOKIE_PREFIX } from '@hawser/contract';
import type { OperatorIdentity } from '../auth/authorization.js';
import type { Store } from '../store/store.js';
import type { FleetBus } from '../fleet/fleet-event.js';

/**
 * `__Host-` makes the browser refuse the cookie unless it is Secure, has
 * Path=/ and no Domain: no sibling host and no plain-HTTP page can plant or
 * read it. The relay never forwards it toward a cluster (the contract's
 * HAWSER_COOKIE_PREFIX and forwardableCookie).
 */
export const SESSION_COOKIE = `${HAWSER_COOKIE_PREFIX}session`;
/** Unsafe requests made with the session cookie must echo the session's CSRF token here. */
export const CSRF_HEADER = 'x-hawser-csrf';
/** A console session lasts a working day; signing in again is cheap. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The session id in a Cookie header, if any. */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** What the browser sends with a request: enough to judge a cookie-authenticated call. */
export interface SessionRequest {
  readonly method?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

function header(req: SessionRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Console sessions: a random id in an HttpOnly, Secure, SameSite=Strict
 * cookie, only its hash in the store (so every replica sees the same
 * sessions and a stolen database holds no usable id). A session made from
 * an API token ends with it (the store's lookup checks the token).
 *
 * Cross-site defences, in depth: SameSite=Strict keeps the browser from
 * sending the cookie on any cross-site request; an unsafe method must also
 * carry the session's CSRF token in a header (which another origin cannot
 * read or set without CORS, which Hawser never grants), and a request whose
 * Origin is not the listener's own is refused.
 */
export class ConsoleSessions {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #bus: FleetBus | undefined;
  /** What this replica serves per session that must stop when it ends (the live event streams). */
  readonly #live = new Map<string, Set<() => void>>();

  constructor(store: Store, ttlMs = SESSION_TTL_MS, bus?: FleetBus) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#bus = bus;
  }

  /** Starts a session for an authenticated operator; returns the Set-Cookie value and the CSRF token. */
  async create(identity: OperatorIdentity, opts: { apiTokenId?: string | null; notAfter?: Date } = {}): Promise<{ setCookie: string; csrf: string; expiresAt: Date }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    // An OIDC session lasts no longer than the ID token it was made from:
    // the groups (and so the tier) are the token's, and are asked again then.
    const expiresAt = new Date(Math.min(Date.now() + this.#ttlMs, opts.notAfter?.getTime() ?? Infinity));
    await this.#store.insertConsoleSession({
      idHash: hashId(id),
      user: identity.username,
      groups: identity.groups,
      apiTokenId: opts.apiTokenId ?? null,
      credentialId: identity.credentialId,
      csrf,
      expiresAt,
    });
    const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
    return { setCookie: `${SESSION_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`, csrf, expiresAt };
  }

  /**
   * The operator behind a request's session cookie. Throws (with a reason
   * for the log) when the session is unknown or ended, or when an unsafe
   * request lacks the CSRF token or comes from another origin.
   */
  async identify(req: SessionRequest): Promise<{ identity: OperatorIdentity; csrf: string }> {
    const id = sessionIdFrom(header(req, 'cookie'));
    if (!id) throw new Error('no session cookie');
    const session = await this.#store.findConsoleSession(hashId(id));
    if (!session) throw new Error('unknown, ended or expired console session');
    const origin = header(req, 'origin');
    const host = header(req, 'host') ?? header(req, ':authority');
    if (origin !== undefined && (!host || origin !== `https://${host}`)) throw new Error(`cross-origin request from ${origin}`);
    if (!SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) {
      const sent = header(req, CSRF_HEADER);
      if (!sent || !sameSecret(sent, session.csrf)) throw new Error('missing or wrong CSRF token on an unsafe request');
    }
    const identity: OperatorIdentity = {
      username: session.user,
      groups: [...session.groups],
      via: session.apiTokenId ? 'api-token' : 'oidc',
      credentialId: session.credentialId,
    };
    return { identity, csrf: session.csrf };
  }

  /** Ends the request's session; true when there was one. */
  async end(req: SessionRequest): Promise<boolean> {
    const id = sessionIdFrom(header(req, 'cookie'));
    if (!id) return false;
    const idHash = hashId(id);
    const ended = await this.#store.deleteConsoleSession(idHash);
    this.ended(idHash);
    // Every replica ends its streams of the session (fleet-reactions.ts); the store already refuses it everywhere.
    if (ended) await this.#bus?.publish({ type: 'console-session.ended', idHash }).catch(() => undefined);
    return ended;
  }

  /**
   * Ties something long-lived (a live event stream) to the request's
   * session: `stop` runs when the session ends on any replica. Returns the
   * untrack function.
   */
  track(req: SessionRequest, stop: () => void): () => void {
    const id = sessionIdFrom(header(req, 'cookie'));
    if (!id) return () => undefined;
    const idHash = hashId(id);
    let set = this.#live.get(idHash);
    if (!set) this.#live.set(idHash, (set = new Set()));
    set.add(stop);
    return () => {
      set.delete(stop);
      if (set.size === 0 && this.#live.get(idHash) === set) this.#live.delete(idHash);
    };
  }

  /** The session ended (here or on another replica): stops what track() tied to it. */
  ended(idHash: string): void {
    const set = this.#live.get(idHash);
    this.#live.delete(idHash);
    for (const stop of set ?? []) stop();
  }

  /** A Set-Cookie value that makes the browser drop the cookie. */
  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
