import { TunnelCloseCodes, TunnelCloseReasons } from '@hawser/contract';
import type { Logger } from '../log.js';
import type { FleetBus, FleetEvent } from './fleet-event.js';

/** The parts of a replica that act on fleet events. */
export interface FleetReactors {
  /** Closes a cluster's local tunnels (TunnelRegistry.closeCluster). */
  closeCluster(clusterId: string, code: number, reason: string): Promise<number>;
  /** Ends a credential's live relayed requests (OperatorStreams.endAll). */
  endStreams(credentialId: string, reason: string): number;
  /** Drops cached operator credentials (the authenticator's API token cache). */
  forgetCredentials(): void;
  /** Ends what this replica serves for a console session (its live event stream). */
  endConsoleSession?(idHash: string): void;
  readonly log: Logger;
}

/**
 * What every replica does on hearing a fleet event, whichever replica
 * published it (itself included: acting twice is harmless, a tunnel or a
 * stream ends once). Returns the unsubscribe function.
 */
export function reactToFleetEvents(bus: FleetBus, r: FleetReactors): () => void {
  return bus.subscribe((event: FleetEvent) => {
    switch (event.type) {
      case 'cluster.deregistered':
        r.closeCluster(event.clusterId, TunnelCloseCodes.DEREGISTERED, TunnelCloseReasons.DEREGISTERED).then(
          (closed) => closed > 0 && r.log.info({ clusterId: event.clusterId, closed }, 'closed the tunnel of a cluster deregistered on another replica'),
          (err: unknown) => r.log.error({ err, clusterId: event.clusterId }, 'could not close the tunnel of a deregistered cluster'),
        );
        return;
      case 'credential.revoked': {
        r.forgetCredentials();
        const ended = r.endStreams(event.credentialId, 'credential revoked');
        if (ended > 0) r.log.info({ credentialId: event.credentialId, ended }, 'ended the live requests of a revoked credential');
        return;
      }
      case 'console-session.ended':
        r.endConsoleSession?.(event.idHash);
        return;
      case 'cluster.changed':
        // Cluster records are cached for 2 s at most (cluster-lookup.ts): nothing to drop yet.
        return;
    }
  });
}
