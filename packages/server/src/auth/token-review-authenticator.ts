import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { TIERS, type Tier } from '@hawser/contract';
import { requestJson } from '@hawser/https-json';
import type { OperatorIdentity } from './authorization.js';

/** Operators authenticated by the Kubernetes cluster Hawser runs in; see docs/security.md, "Automation identities". */
export interface KubernetesAuthConfig {
  /** The audience tokens must be minted for (TokenRequest `audiences`); the review must confirm it. */
  readonly audience: string;
  /** The API server of the cluster Hawser runs in. Default: in-cluster (KUBERNETES_SERVICE_HOST/PORT). */
  readonly apiServer: string;
  /** Its CA. Default: the pod's ServiceAccount ca.crt. */
  readonly caFile: string;
  /** The server's own ServiceAccount token, read afresh for each review (it rotates). */
  readonly tokenFile: string;
  /** ServiceAccounts (`system:serviceaccount:NS:NAME`) and groups (`system:serviceaccounts:NS`) per tier; highest wins. */
  readonly tiers: Readonly<Record<Tier, readonly string[]>>;
  /** How long a positive review is reused, in ms. Default 10 s; 0 asks every time. */
  readonly cacheMs: number;
}

/** Cache size bound: a flood of distinct valid tokens cannot grow memory without limit. */
const CACHE_MAX = 10_000;
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([a-z0-9-]+):([a-z0-9.-]+)$/;

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[] };
  audiences?: string[];
  error?: string;
}

/**
 * Verifies a workload's ServiceAccount token with a TokenReview against the
 * API server of the cluster Hawser runs in (the API server checks
 * signature, expiry and that the ServiceAccount, and the pod a bound token
 * names, still exist), bound to the configured audience, and maps the
 * ServiceAccount and its groups to a tier. Throws with a reason for the log.
 *
 * Positive answers are reused for `cacheMs` (default 10 s): every relayed
 * request authenticates, and a TokenReview per small GET would double the
 * API server's load. So a deleted ServiceAccount loses access within that
 * time; refusals are never cached.
 */
export class TokenReviewAuthenticator {
  readonly #config: KubernetesAuthConfig;
  readonly #cache = new Map<string, { identity: OperatorIdentity; until: number }>();
  #agent: Agent | undefined;

  constructor(config: KubernetesAuthConfig) {
    this.#config = config;
  }

  async verify(token: string): Promise<OperatorIdentity> {
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.identity;
    if (hit) this.#cache.delete(key);
    const status = await this.#review(token);
    if (!status.authenticated) throw new Error(`TokenReview: not authenticated${status.error ? ` (${status.error})` : ''}`);
    // An API server that ignores spec.audiences would answer for its own
    // default audience; only an explicit confirmation counts.
    if (!status.audiences?.includes(this.#config.audience)) throw new Error(`TokenReview: the token is not for the audience "${this.#config.audience}"`);
    const username = status.user?.username ?? '';
    if (!SERVICE_ACCOUNT_USER.test(username)) throw new Error(`TokenReview: "${username}" is not a ServiceAccount`);
    const groups = (status.user?.groups ?? []).filter((g) => typeof g === 'string');
    let best = -1;
    for (const [i, tier] of TIERS.entries()) {
      if (this.#config.tiers[tier].some((name) => name === username || groups.includes(name))) best = i;
    }
    const identity: OperatorIdentity = {
      username,
      groups,
      via: 'kubernetes',
      credentialId: `kubernetes:${status.user?.uid ?? username}`,
      ...(best >= 0 ? { tier: TIERS[best]! } : {}),
    };
    if (this.#config.cacheMs > 0) {
      if (this.#cache.size >= CACHE_MAX) this.#cache.clear();
      this.#cache.set(key, { identity, until: now + this.#config.cacheMs });
    }
    return identity;
  }

  async #review(token: string): Promise<TokenReviewStatus> {
    this.#agent ??= new Agent({ ca: readFileSync(this.#config.caFile, 'utf8'), keepAlive: true, maxSockets: 16 });
    const own = readFileSync(this.#config.tokenFile, 'utf8').trim();
    const res = await requestJson({
      method: 'POST',
      url: new URL('/apis/authentication.k8s.io/v1/tokenreviews', this.#config.apiServer),
      agent: this.#agent,
      headers: { authorization: `Bearer ${own}` },
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.#config.audience] } },
      timeoutMs: 10_000,
    });
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`TokenReview answered ${res.status} (does the server's ServiceAccount hold create tokenreviews?)`);
    }
    return ((res.json as { status?: TokenReviewStatus } | undefined)?.status ?? {}) as TokenReviewStatus;
  }

  close(): void {
    this.#agent?.destroy();
    this.#cache.clear();
  }
}
