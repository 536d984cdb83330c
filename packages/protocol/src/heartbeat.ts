/**
 * Liveness. Every `intervalMs` the session sends a PING frame (real
 * WebSocket data, which load balancers count as traffic) and a WebSocket
 * ping. Any inbound message or pong counts as proof of life. If nothing
 * arrives for `timeoutMs`, the peer is declared dead, whether the network
 * went silent or the peer process froze (a frozen process answers neither).
 *
 * The deadline timer is re-armed lazily: recording traffic is a single
 * assignment, and the timer only recomputes when it fires.
 */
export class Heartbeat {
  #intervalMs: number;
  #timeoutMs: number;
  #onPing: () => void;
  #onDead: (silentForMs: number) => void;
  #lastSeen = 0;
  #interval: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, timeoutMs: number, onPing: () => void, onDead: (silentForMs: number) => void) {
    this.#intervalMs = intervalMs;
    this.#timeoutMs = timeoutMs;
    this.#onPing = onPing;
    this.#onDead = onDead;
  }

  start(): void {
    this.#lastSeen = Date.now();
    this.#interval = setInterval(heartbeatOnInterval, this.#intervalMs, this);
    this.#interval.unref();
    this.#arm(this.#timeoutMs);
  }

  /** Record inbound traffic. */
  seen(): void {
    this.#lastSeen = Date.now();
  }

  stop(): void {
    if (this.#interval) clearInterval(this.#interval);
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#interval = undefined;
    this.#deadline = undefined;
  }

  /** @internal */
  tick(): void {
    this.#onPing();
  }

  /** @internal */
  check(): void {
    this.#deadline = undefined;
    const silent = Date.now() - this.#lastSeen;
    if (silent >= this.#timeoutMs) {
      this.stop();
      this.#onDead(silent);
    } else {
      this.#arm(this.#timeoutMs - silent);
    }
  }

  #arm(ms: number): void {
    this.#deadline = setTimeout(heartbeatOnDeadline, ms, this);
    this.#deadline.unref();
  }
}

function heartbeatOnInterval(hb: Heartbeat): void {
  hb.tick();
}

function heartbeatOnDeadline(hb: Heartbeat): void {
  hb.check();
}
