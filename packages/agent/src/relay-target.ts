import type { Agent as HttpAgent } from 'node:http';

/** Where relayed requests go: the agent's API server (KubeTarget), or a stand-in in tests and benchmarks. */
export interface RelayTarget {
  readonly url: URL;
  /** Keep-alive pool toward the API server (an https.Agent, or http.Agent for an http:// stand-in). */
  readonly agent: HttpAgent;
  /** The agent's own credential, sent on every request. */
  authorization(): string | undefined;
}
