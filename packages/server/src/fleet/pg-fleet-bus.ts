import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { FleetBus, FleetEvent } from './fleet-event.js';
import { FleetSubscribers } from './fleet-subscribers.js';
import { FLEET_CHANNEL, parseLeaseNotice } from './lease-notice.js';
import type { PgListener } from './pg-listener.js';

/**
 * The fleet bus on PostgreSQL: publish is one NOTIFY on the fleet channel
 * (through the store's pool); every replica's LISTEN connection, this
 * one's included, hears it. Payloads are ids only (NOTIFY's limit is 8000
 * bytes). An event published while a replica's LISTEN connection is down
 * does not reach that replica: what must survive that (revocations,
 * deregistrations) is also in the store, which every replica consults.
 */
export class PgFleetBus implements FleetBus {
  readonly #store: Store;
  readonly #subscribers: FleetSubscribers;
  readonly #unlisten: () => void;
  #closed = false;

  constructor(store: Store, listener: PgListener, log?: Logger) {
    this.#store = store;
    this.#subscribers = new FleetSubscribers(log);
    this.#unlisten = listener.onNotification((payload) => {
      const notice = parseLeaseNotice(payload);
      if (notice?.k === 'event' && !this.#closed) this.#subscribers.deliver(notice.v);
    });
  }

  async publish(event: FleetEvent): Promise<void> {
    await this.#store.notify(FLEET_CHANNEL, JSON.stringify({ k: 'event', v: event }));
  }

  subscribe(fn: (event: FleetEvent) => void): () => void {
    return this.#subscribers.add(fn);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#unlisten();
    this.#subscribers.clear();
    return Promise.resolve();
  }
}
