import { ErrorCodes, HawserServerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import type { FleetBus } from './fleet-event.js';
import { LeaseOwnership } from './lease-ownership.js';
import { FLEET_CHANNEL } from './lease-notice.js';
import { LocalFleetBus } from './local-fleet-bus.js';
import { LocalOwnership } from './local-ownership.js';
import { PgFleetBus } from './pg-fleet-bus.js';
import { PgListener } from './pg-listener.js';
import type { TunnelOwnership } from './tunnel-ownership.js';

/** A replica's place in the fleet: who owns which tunnel, and the bus. */
export interface Fleet {
  readonly ownership: TunnelOwnership;
  readonly bus: FleetBus;
  /** Releases this replica's leases, removes its replica row, stops listening. */
  close(): Promise<void>;
}

export interface OpenFleetOptions {
  readonly store: Store;
  /** The store's URL: PostgreSQL gets leases and LISTEN/NOTIFY; anything else is one replica. */
  readonly databaseUrl: string | undefined;
  readonly replicaId: string;
  readonly leaseTtlMs: number;
  readonly log: Logger;
}

/**
 * Opens the fleet parts the store calls for: on PostgreSQL one LISTEN
 * connection shared by the lease ownership and the bus; on the embedded
 * store, the in-process ones.
 */
export async function openFleet(options: OpenFleetOptions): Promise<Fleet> {
  const { store, log } = options;
  if (store.engine !== 'postgres' || options.databaseUrl === undefined) {
    const ownership = new LocalOwnership(options.replicaId);
    const bus = new LocalFleetBus(log);
    return { ownership, bus, close: async () => void (await Promise.all([ownership.close(), bus.close()])) };
  }
  const listener = new PgListener({ url: options.databaseUrl, channel: FLEET_CHANNEL, log });
  try {
    await listener.start();
  } catch (err) {
    throw new HawserServerError(ErrorCodes.FLEET_LISTEN_FAILED, `could not open the fleet notification connection (LISTEN ${FLEET_CHANNEL}) to PostgreSQL: ${(err as Error).message}`, { cause: err });
  }
  try {
    const bus = new PgFleetBus(store, listener, log);
    const ownership = await LeaseOwnership.open({ store, listener, replicaId: options.replicaId, ttlMs: options.leaseTtlMs, log });
    return {
      ownership,
      bus,
      async close() {
        await ownership.close();
        await bus.close();
        await listener.close();
      },
    };
  } catch (err) {
    await listener.close();
    throw err;
  }
}
