import { Agent, type AgentOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Session } from '@hawser/protocol';

/** Idle streams kept for reuse per tunnel; each holds only its small window. */
const MAX_FREE_STREAMS = 64;
/** An idle stream older than this is closed rather than reused. */
const FREE_STREAM_TIMEOUT_MS = 30_000;

/**
 * An http.Agent whose connections are tunnel streams: HTTP/1.1 keep-alive
 * over the tunnel, so a burst of small requests reuses open streams instead
 * of opening one each (measured in docs/protocol.md: c=64 from 31-70% to
 * 49-106% of direct). A request that is aborted still destroys its stream,
 * which resets it at the agent, so cancellation is unchanged; watches and
 * upgrades hold their stream for as long as they run.
 */
export class TunnelAgent extends Agent {
  readonly #session: Session;

  constructor(session: Session, options: AgentOptions = {}) {
    super({ keepAlive: true, maxFreeSockets: MAX_FREE_STREAMS, timeout: FREE_STREAM_TIMEOUT_MS, ...options });
    this.#session = session;
  }

  override createConnection(_options: unknown, callback: (err: Error | null, stream?: Duplex) => void): Duplex | undefined {
    // openStream never waits: it refuses at once (stream limit, draining,
    // closed), which must reach the request as an error, not a throw.
    try {
      return this.#session.openStream();
    } catch (err) {
      callback(err as Error);
      return undefined;
    }
  }
}

const agents = new WeakMap<Session, TunnelAgent>();

/** The one TunnelAgent of a session, created on first use and dropped with it. */
export function tunnelAgentFor(session: Session): TunnelAgent {
  let agent = agents.get(session);
  if (!agent) {
    const created = new TunnelAgent(session);
    agents.set(session, created);
    void session.closed.then(() => created.destroy());
    agent = created;
  }
  return agent;
}
