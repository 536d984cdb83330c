/**
 * Live relayed requests by the credential that opened them: an API token
 * (`api-token:<id>`) or an OIDC subject (`oidc:<issuer>#<sub>`). A request
 * is authenticated once, when it starts; a watch, `logs -f` or an exec
 * session can then run for hours. Revoking the credential must end them
 * too, so the relay tracks each request here for its lifetime and a
 * revocation ends every one of them at once.
 */
export class OperatorStreams {
  readonly #live = new Map<string, Set<(reason: string) => void>>();

  /**
   * Tracks one live request. `end` must stop it (destroy both sides); it is
   * called at most once. Returns the untrack function the request calls
   * when it finishes by itself.
   */
  track(credentialId: string, end: (reason: string) => void): () => void {
    let set = this.#live.get(credentialId);
    if (!set) this.#live.set(credentialId, (set = new Set()));
    let done = false;
    const entry = (reason: string): void => {
      if (done) return;
      done = true;
      end(reason);
    };
    set.add(entry);
    return () => {
      done = true;
      set.delete(entry);
      if (set.size === 0 && this.#live.get(credentialId) === set) this.#live.delete(credentialId);
    };
  }

  /**
   * Ends every live request of this credential, and of the console sessions
   * made from it (`<credential>|console:<session>`, console-session.ts);
   * returns how many.
   */
  endAll(credentialId: string, reason: string): number {
    const entries: ((reason: string) => void)[] = [];
    for (const [key, set] of this.#live) {
      if (key !== credentialId && !key.startsWith(`${credentialId}|console:`)) continue;
      this.#live.delete(key);
      entries.push(...set);
    }
    for (const end of entries) end(reason);
    return entries.length;
  }

  /** Live requests of one credential (all, without an argument). */
  count(credentialId?: string): number {
    if (credentialId !== undefined) return this.#live.get(credentialId)?.size ?? 0;
    let n = 0;
    for (const set of this.#live.values()) n += set.size;
    return n;
  }
}

/** The credential id of an API token, as OperatorIdentity.credentialId carries it. */
export function apiTokenCredential(id: string): string {
  return `api-token:${id}`;
}

/** The credential id of an OIDC subject. */
export function oidcCredential(issuer: string, subject: string): string {
  return `oidc:${issuer}#${subject}`;
}
