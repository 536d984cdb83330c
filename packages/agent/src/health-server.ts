import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What /readyz reports; the agent updates it as its tunnel comes and goes. */
export interface HealthState {
  ready: boolean;
  /** One word for dashboards: registering, connecting, connected, disconnected, deregistered, expired. */
  status: string;
  detail?: string;
}

/**
 * /healthz (the process is alive and its event loop turns) and /readyz (the
 * tunnel is up). Readiness is false while disconnected, so a rollout waits
 * for the new pod to connect.
 */
export class HealthServer {
  readonly #server: Server;
  #state: HealthState = { ready: false, status: 'starting' };

  constructor() {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const body = JSON.stringify(this.#state) + '\n';
        res.writeHead(this.#state.ready ? 200 : 503, { 'content-type': 'application/json' }).end(body);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
  }

  set(state: HealthState): void {
    this.#state = state;
  }

  get state(): HealthState {
    return this.#state;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve(this.#server.address() as AddressInfo));
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
