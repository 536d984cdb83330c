import { readFile } from 'node:fs/promises';
import type { AgentBootstrapClaims } from '@hawser/contract';
import { readBootstrapToken } from './bootstrap-token.js';

/** What the agent presents to register: a bootstrap token, or its own ServiceAccount token. */
export type JoinCredential =
  | { readonly kind: 'bootstrap'; readonly token: string; readonly claims: AgentBootstrapClaims }
  | { readonly kind: 'kubernetes'; readonly token: string; readonly cluster: string; readonly exp: number | undefined };

/**
 * Where the agent finds its credential to register: the bootstrap token
 * (the flag, or the file the chart mounts from its Secret), or, for a
 * cluster that joins with its ServiceAccount, the projected token the
 * kubelet keeps fresh. Files are read afresh each time, so a new token is
 * seen without a restart. Remembers the token it registered with, so a
 * deregistered agent waits for a different one.
 */
export class BootstrapTokenSource {
  readonly #token: string | undefined;
  readonly #file: string;
  readonly #join: { readonly tokenFile: string; readonly cluster: string } | undefined;
  #used: string | undefined;

  constructor(opts: { token?: string | undefined; file: string; join?: { readonly tokenFile: string; readonly cluster: string } | undefined }) {
    this.#token = opts.token;
    this.#file = opts.file;
    this.#join = opts.join;
  }

  /** Joins with the ServiceAccount rather than a bootstrap token. */
  get joinsWithServiceAccount(): boolean {
    return this.#join !== undefined;
  }

  /** The bootstrap token, or undefined when there is none (no flag, no file, an empty file). */
  async read(): Promise<string | undefined> {
    if (this.#token) return this.#token;
    return readTrimmed(this.#file);
  }

  /**
   * The credential to register with: the ServiceAccount token when the agent
   * joins with it, else the bootstrap token with its claims (which throw
   * HAG_ERR_TOKEN_MALFORMED for a token that is not one). Undefined: none.
   */
  async credential(): Promise<JoinCredential | undefined> {
    if (this.#join) {
      const token = await readTrimmed(this.#join.tokenFile);
      return token ? { kind: 'kubernetes', token, cluster: this.#join.cluster, exp: expiryOf(token) } : undefined;
    }
    const token = await this.read();
    return token ? { kind: 'bootstrap', token, claims: readBootstrapToken(token) } : undefined;
  }

  /** Notes the token a registration used. */
  used(token: string): void {
    this.#used = token;
  }

  /** A token other than the one used last, and not expired. */
  async hasFresh(): Promise<boolean> {
    const credential = await this.credential().catch(() => undefined);
    if (!credential || credential.token === this.#used) return false;
    const exp = credential.kind === 'bootstrap' ? credential.claims.exp : credential.exp;
    return exp === undefined || exp * 1000 > Date.now();
  }
}

async function readTrimmed(file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** `exp` of a JWT read without verifying (only for "is it worth trying"); undefined when unreadable. */
function expiryOf(token: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}
