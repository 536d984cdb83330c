import type { Logger } from '../log.js';
import type { FleetEvent } from './fleet-event.js';

/**
 * The subscriber list both buses deliver to: one failing subscriber must
 * not keep an event from the others (a deregistration must still close the
 * tunnel when the console's handler throws).
 */
export class FleetSubscribers {
  readonly #fns = new Set<(event: FleetEvent) => void>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  add(fn: (event: FleetEvent) => void): () => void {
    // Wrapped, so the same function subscribed twice is two subscriptions.
    const entry = (event: FleetEvent): void => fn(event);
    this.#fns.add(entry);
    return () => this.#fns.delete(entry);
  }

  deliver(event: FleetEvent): void {
    for (const fn of [...this.#fns]) {
      try {
        fn(event);
      } catch (err) {
        this.#log?.error({ err, event: event.type }, 'a fleet event subscriber failed');
      }
    }
  }

  clear(): void {
    this.#fns.clear();
  }
}
