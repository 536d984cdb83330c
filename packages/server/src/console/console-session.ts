import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HAWSER_COOKIE_PREFIX } from '@hawser/contract';
import { authorize, type AuthorizationConfig, type OperatorIdentity } from '../auth/authorization.js';
import type { OperatorStreams } from '../auth/operator-streams.js';
import { ErrorCodes, HawserServerError } from '../errors.js';
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

/**
 * How often a replica re-checks the sessions that hold live requests on it:
 * a watch is authenticated once, when it starts, so a session ended on
 * another replica (sign-out, a revoked token) or a lost tier must end it
 * from here within this time.
 */
export const SESSION_RECHECK_MS = 60_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The credential a session's requests are tracked under: the credential it
 * was made from, then `|console:` and the session. Revoking the credential
 * ends them with its other requests (OperatorStreams.endAll matches the
 * prefix); ending the session ends only its own.
 */
export function sessionCredential(credentialId: string, idHash: string): string {
  return `${credentialId}|console:${idHash.slice(0, 32)}`;
}

/** What ends a session besides sign-out and expiry. */
export interface SessionPolicy {
  /**
   * The tier mapping now (a function: it is read on every check). A session
   * whose operator maps to no tier any more ends; a changed tier ends its
   * live requests, which were let in at the old one.
   */
  readonly authorization: () => AuthorizationConfig;
  /** Live relayed requests and event streams, so an ended session's end too. */
  readonly streams: OperatorStreams;
  /** Why a session ended, for the log. */
  readonly onEnded?: (user: string, reason: string) => void;
}

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
 * Origin is not the listener's own is refused. A connection upgrade (an exec
 * WebSocket) cannot carry the CSRF header, so it must carry a same-origin
 * Origin.
 */
export class ConsoleSessions {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #policy: SessionPolicy | undefined;
  /** Sessions seen on this replica: the tier they had and the credential their requests are tracked under. */
  readonly #seen = new Map<string, { tier: string | null; credential: string }>();
  readonly #timer: NodeJS.Timeout | undefined;
  /** Tells the other replicas a session ended (fleet-reactions.ts calls ended() there). */
  readonly #bus: FleetBus | undefined;
  /** What this replica serves per session that must stop when it ends, beyond tracked requests (track()). */
  readonly #live = new Map<string, Set<() => void>>();

  constructor(store: Store, ttlMs = SESSION_TTL_MS, policy?: SessionPolicy, recheckMs = SESSION_RECHECK_MS, bus?: FleetBus) {
    this.#store = store;
    this.#ttlMs = ttlMs;
    this.#policy = policy;
    this.#bus = bus;
    if (policy) {
      this.#timer = setInterval(() => void this.recheck().catch(() => {}), recheckMs);
      this.#timer.unref();
    }
  }

  /** Stops the periodic re-check. */
  close(): void {
    clearInterval(this.#timer);
  }

  /** The refusal for an operator Hawser gives no access to clusters, or undefined. */
  #refusal(identity: OperatorIdentity): string | undefined {
    if (!this.#policy) return undefined;
    const authz = authorize(identity, this.#policy.authorization());
    return authz.allowed ? undefined : authz.reason;
  }

  #ended(idHash: string, credential: string, user: string, reason: string): void {
    this.#seen.delete(idHash);
    const ended = this.#policy?.streams.endAll(credential, reason) ?? 0;
    this.#policy?.onEnded?.(user, `${reason}${ended ? ` (ended ${ended} live request${ended === 1 ? '' : 's'})` : ''}`);
  }

  /**
   * Re-checks every session with live requests on this replica; ends the
   * requests of those that ended elsewhere, expired or lost their tier.
   * Forgets the sessions without live requests (the next request re-adds them).
   */
  async recheck(): Promise<void> {
    const policy = this.#policy;
    if (!policy) return;
    for (const [idHash, seen] of [...this.#seen]) {
      if (policy.streams.count(seen.credential) === 0) {
        this.#seen.delete(idHash);
        continue;
      }
      const session = await this.#store.findConsoleSession(idHash);
      if (!session) {
        this.#ended(idHash, seen.credential, '', 'console session ended');
        continue;
      }
      try {
        this.#judge(idHash, this.#identityOf(session, idHash));
      } catch {
        // #judge ended it (tier lost).
      }
    }
  }

  #identityOf(session: { user: string; groups: readonly string[]; apiTokenId: string | null; credentialId: string }, idHash: string): OperatorIdentity {
    return {
      username: session.user,
      groups: [...session.groups],
      via: session.apiTokenId ? 'api-token' : 'oidc',
      credentialId: sessionCredential(session.credentialId, idHash),
    };
  }

  /** Ends the session when its operator lost every tier; ends its live requests when the tier changed. */
  #judge(idHash: string, identity: OperatorIdentity): void {
    const policy = this.#policy;
    if (!policy) return;
    const authz = authorize(identity, policy.authorization());
    if (!authz.allowed) {
      void this.#store.deleteConsoleSession(idHash).catch(() => {});
      this.#ended(idHash, identity.credentialId, identity.username, `tier lost: ${authz.reason}`);
      throw new Error(`the console session ended: ${authz.reason}`);
    }
    const tier = authz.tier ?? null;
    const seen = this.#seen.get(idHash);
    if (seen && seen.tier !== tier) {
      const ended = policy.streams.endAll(identity.credentialId, `tier changed from ${seen.tier} to ${tier}`);
      policy.onEnded?.(identity.username, `tier changed from ${seen.tier} to ${tier}: ended ${ended} live requests`);
    }
    this.#seen.set(idHash, { tier, credential: identity.credentialId });
  }

  /** Starts a session for an authenticated operator; returns the Set-Cookie value and the CSRF token. */
  async create(identity: OperatorIdentity, opts: { apiTokenId?: string | null; notAfter?: Date } = {}): Promise<{ setCookie: string; csrf: string; expiresAt: Date }> {
    const refused = this.#refusal(identity);
    if (refused) throw new HawserServerError(ErrorCodes.RELAY_FORBIDDEN, `Hawser gives ${identity.username} no access to clusters: ${refused}`);
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
    const idHash = hashId(id);
    const session = await this.#store.findConsoleSession(idHash);
    if (!session) throw new Error('unknown, ended or expired console session');
    const origin = header(req, 'origin');
    const host = header(req, 'host') ?? header(req, ':authority');
    if (origin !== undefined && (!host || origin !== `https://${host}`)) throw new Error(`cross-origin request from ${origin}`);
    // An upgrade (exec, attach, port-forward) is a GET that runs code, and a
    // browser cannot put the CSRF header on a WebSocket: its Origin, which
    // every browser sends on a WebSocket handshake, is the proof instead.
    if (origin === undefined && header(req, 'upgrade') !== undefined) throw new Error('a connection upgrade with the session cookie carries no Origin header');
    if (!SAFE_METHODS.has((req.method ?? 'GET').toUpperCase())) {
      const sent = header(req, CSRF_HEADER);
      if (!sent || !sameSecret(sent, session.csrf)) throw new Error('missing or wrong CSRF token on an unsafe request');
    }
    const identity = this.#identityOf(session, idHash);
    this.#judge(idHash, identity);
    return { identity, csrf: session.csrf };
  }

  /** Ends the request's session; true when there was one. */
  async end(req: SessionRequest): Promise<boolean> {
    const id = sessionIdFrom(header(req, 'cookie'));
    if (!id) return false;
    const idHash = hashId(id);
    const session = await this.#store.findConsoleSession(idHash);
    const deleted = await this.#store.deleteConsoleSession(idHash);
    if (session) this.#ended(idHash, sessionCredential(session.credentialId, idHash), session.user, 'signed out');
    this.#stopLive(idHash);
    // Every replica ends its streams of the session (fleet-reactions.ts); the store already refuses it everywhere.
    if (deleted) await this.#bus?.publish({ type: 'console-session.ended', idHash }).catch(() => undefined);
    return deleted;
  }

  /**
   * Ties something long-lived to the request's session: `stop` runs when the
   * session ends on any replica. Returns the untrack function.
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

  /** The session ended on another replica (or here): its live requests and tracked streams end on this one. */
  ended(idHash: string): void {
    const seen = this.#seen.get(idHash);
    if (seen) this.#ended(idHash, seen.credential, '', 'console session ended');
    this.#stopLive(idHash);
  }

  #stopLive(idHash: string): void {
    const set = this.#live.get(idHash);
    this.#live.delete(idHash);
    for (const stop of set ?? []) stop();
  }

  /** A Set-Cookie value that makes the browser drop the cookie. */
  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
