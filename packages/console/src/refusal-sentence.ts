import { Refusal } from './api.js';

/** What the view was doing when it was refused, to say so in the operator's terms. */
export interface Attempt {
  verb: 'list' | 'get' | 'watch';
  resource: string;
  namespace?: string | undefined;
  cluster: string;
}

// The API server's RBAC refusal: `pods is forbidden: User "hawser:carol" cannot list resource "pods" in API group "" ...`.
// A refusal naming a ServiceAccount is the agent's own (its chart), which the agent already words itself.
const RBAC = /is forbidden: User "(?!system:serviceaccount:)[^"]*" cannot ([a-z]+) resource "([^"]+)"/;

/**
 * The sentence shown where the data would be. An RBAC refusal of the
 * operator becomes "you cannot list secrets in namespace payments on
 * prod-eu", with the API server's own words after it; Hawser's and the
 * agent's refusals (read-only agent, not connected, ...) already are
 * sentences and are shown as they are.
 */
export function refusalSentence(err: unknown, attempt: Attempt): string {
  if (!(err instanceof Refusal)) return `${attempt.cluster}: ${(err as Error).message}`;
  const m = err.status === 403 ? RBAC.exec(err.message) : null;
  if (m) {
    const where = attempt.namespace ? ` in namespace ${attempt.namespace}` : attempt.verb === 'get' ? '' : ' in any namespace';
    return `you cannot ${m[1]} ${m[2]}${where} on ${attempt.cluster}: RBAC (${err.message})`;
  }
  if (err.status === 404 && err.reason === 'NotFound') return `${attempt.resource} not found on ${attempt.cluster}: ${err.message}`;
  return err.message;
}

/** Whether a refusal is final for this view (asking again would get the same answer). */
export function isFinal(err: unknown): boolean {
  return err instanceof Refusal && (err.status === 400 || err.status === 401 || err.status === 403 || err.status === 404 || err.status === 422);
}
