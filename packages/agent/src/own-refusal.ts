/**
 * The API server's refusals of the agent's OWN rights, in the operator's
 * terms. Through constrained impersonation the API server checks two things:
 * what the impersonated operator may do, and whether the agent's
 * ServiceAccount may impersonate for that verb at all. A refusal of the
 * second kind names the agent's ServiceAccount and an `impersonate-on:` or
 * `impersonate:` verb, which tells an operator nothing they can act on; it
 * is the agent's chart that decides it.
 */

/** The rights the API server refused the agent itself, read from its 403 message. */
export interface OwnRefusal {
  serviceAccount: string;
  /** `impersonate-on:user-info:create`, `impersonate:user-info`, `impersonate`. */
  verb: string;
  /** The verb the operator's request needed, for impersonate-on refusals. */
  action?: string;
  /** `resource "configmaps" in API group "apps"` or `path "/metrics"`, as the API server wrote it. */
  target: string;
}

// `User "system:serviceaccount:NS:NAME" cannot VERB resource "R" [in API group "G"] ...` or `... cannot VERB path "/p"`.
// The policy never lets the agent impersonate a system:* name, so a refusal
// that names a ServiceAccount and an impersonation verb is the agent's own.
const pattern = /User "(system:serviceaccount:[^":]+:[^"]+)" cannot (impersonate(?:-on:[a-z-]+:([a-z]+)|:[a-z-]+)?) (resource "[^"]*"(?: in API group "[^"]*")?|path "[^"]*")/;

/** What the 403 message says the agent itself may not do, or undefined when it is about someone else. */
export function readOwnRefusal(message: string): OwnRefusal | undefined {
  const m = pattern.exec(message);
  if (!m) return undefined;
  return { serviceAccount: m[1]!, verb: m[2]!, ...(m[3] ? { action: m[3] } : {}), target: m[4]! };
}

/** One sentence an operator can act on: what the chart does not allow, and which value changes it. */
export function describeOwnRefusal(r: OwnRefusal): string {
  const refused = `the API server refused the agent's ServiceAccount ${r.serviceAccount} "${r.verb}" on ${r.target}`;
  if (r.action) {
    if (r.target.startsWith('path ')) {
      return `hawser-agent's chart does not let operators ${r.action} ${r.target} through Hawser (only discovery, /version, /openapi and the health endpoints are granted): ${refused}`;
    }
    return `hawser-agent's chart does not grant "${r.action}" on ${r.target} through Hawser; the chart value agent.mode sets the verbs it grants (read-only: get, list, watch; read-write and full add create, update, patch, delete) and must match the agent's own mode: ${refused}`;
  }
  return `hawser-agent's chart does not let it act as this identity; the chart value authorization.mode sets whom it may impersonate (tier: only the hawser:tier:* groups): ${refused}`;
}
