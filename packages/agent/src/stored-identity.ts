import { X509Certificate, createPrivateKey } from 'node:crypto';
import { AgentError, AgentErrorCodes } from './errors.js';
import type { AgentState, StateStore } from './state-store.js';

/**
 * Loads the stored identity and checks it parses before anything uses it:
 * a damaged state Secret or file would otherwise surface later as an
 * OpenSSL decoder message from the TLS layer, naming neither the Secret
 * nor the fix.
 */
export async function loadStoredIdentity(store: StateStore): Promise<AgentState | undefined> {
  let state: AgentState | undefined;
  try {
    state = await store.load();
  } catch (err) {
    if (err instanceof AgentError) throw err;
    if (err instanceof SyntaxError) throw corrupt(store.description, 'is not valid JSON');
    const errno = (err as NodeJS.ErrnoException).code;
    throw new AgentError(
      AgentErrorCodes.STATE_UNAVAILABLE,
      `cannot read the agent's state in ${store.description}${errno ? ` (${errno})` : ''}: check that the path is a directory the agent's user may read and write (--state-dir)`,
      { cause: err },
    );
  }
  if (!state) return undefined;
  let key;
  try {
    key = createPrivateKey(state.key);
  } catch {
    throw corrupt(store.description, 'holds a private key that does not parse');
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(state.certificate);
  } catch {
    throw corrupt(store.description, 'holds a client certificate that does not parse');
  }
  if (!certificate.checkPrivateKey(key)) throw corrupt(store.description, 'holds a client certificate that does not belong to its private key');
  for (const pem of state.caBundle) {
    try {
      new X509Certificate(pem);
    } catch {
      throw corrupt(store.description, 'holds a server CA bundle that does not parse');
    }
  }
  return state;
}

function corrupt(where: string, what: string): AgentError {
  return new AgentError(
    AgentErrorCodes.STATE_CORRUPT,
    `the agent's stored identity in ${where} ${what}: delete that state (for the chart: kubectl delete the state Secret and reinstall the chart, which creates it empty) and register again with a new bootstrap token from "hawser cluster token NAME"`,
  );
}
