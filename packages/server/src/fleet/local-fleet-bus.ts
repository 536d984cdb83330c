import type { Logger } from '../log.js';
import type { FleetBus, FleetEvent } from './fleet-event.js';
import { FleetSubscribers } from './fleet-subscribers.js';

/**
 * The fleet bus of one replica (the embedded store): events go to this
 * process's subscribers, on a later tick, as they would arrive from
 * PostgreSQL, so a publisher never runs its subscribers inside its own call.
 */
export class LocalFleetBus implements FleetBus {
  readonly #subscribers: FleetSubscribers;
  #closed = false;

  constructor(log?: Logger) {
    this.#subscribers = new FleetSubscribers(log);
  }

  publish(event: FleetEvent): Promise<void> {
    if (!this.#closed) setImmediate(() => this.#closed || this.#subscribers.deliver(event));
    return Promise.resolve();
  }

  subscribe(fn: (event: FleetEvent) => void): () => void {
    return this.#subscribers.add(fn);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#subscribers.clear();
    return Promise.resolve();
  }
}
