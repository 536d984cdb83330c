/**
 * The agent's life cycle as one value. Each phase says what the agent is
 * doing, and the table below is the only way between them: a move the
 * table does not list is refused, which is how a late event (a tunnel that
 * closes after the server deregistered the cluster, a timer that fires
 * while stopping) cannot undo what an earlier one decided.
 */
export const AgentPhases = {
  /** Health endpoints up, reading the API server and the cluster's facts. */
  STARTING: 'starting',
  /** Loading the stored identity or registering with a bootstrap token (also while parked until that can work). */
  REGISTERING: 'registering',
  /** The reconnect loop is running and no session is up. */
  RECONNECTING: 'reconnecting',
  /** A session is up. */
  CONNECTED: 'connected',
  /** The server deregistered this cluster: no reconnecting until a new bootstrap token appears. */
  DEREGISTERED: 'deregistered',
  /** close() or destroy() was called. */
  STOPPING: 'stopping',
  STOPPED: 'stopped',
} as const;

export type AgentPhase = (typeof AgentPhases)[keyof typeof AgentPhases];

const P = AgentPhases;

/** Where each phase may go next. Staying in a phase is always allowed. */
const transitions: Readonly<Record<AgentPhase, readonly AgentPhase[]>> = {
  [P.STARTING]: [P.REGISTERING, P.STOPPING],
  [P.REGISTERING]: [P.RECONNECTING, P.DEREGISTERED, P.STOPPING],
  // REGISTERING from a live loop: the certificate expired under it.
  [P.RECONNECTING]: [P.CONNECTED, P.REGISTERING, P.DEREGISTERED, P.STOPPING],
  [P.CONNECTED]: [P.RECONNECTING, P.REGISTERING, P.DEREGISTERED, P.STOPPING],
  // REGISTERING: the slow retry looks for a new bootstrap token.
  [P.DEREGISTERED]: [P.REGISTERING, P.STOPPING],
  [P.STOPPING]: [P.STOPPED],
  [P.STOPPED]: [],
};

/** The current phase and its legal moves. */
export class AgentLifecycle {
  #phase: AgentPhase = P.STARTING;

  get phase(): AgentPhase {
    return this.#phase;
  }

  /** close() or destroy() has been called. */
  get stopping(): boolean {
    return this.#phase === P.STOPPING || this.#phase === P.STOPPED;
  }

  /** Whether the reconnect loop should keep trying. */
  get tunnelWanted(): boolean {
    return this.#phase === P.RECONNECTING || this.#phase === P.CONNECTED;
  }

  /** Moves to `next` if the table allows it; false (and no change) if not. */
  to(next: AgentPhase): boolean {
    if (next === this.#phase) return true;
    if (!transitions[this.#phase].includes(next)) return false;
    this.#phase = next;
    return true;
  }

  static canMove(from: AgentPhase, to: AgentPhase): boolean {
    return from === to || transitions[from].includes(to);
  }
}
