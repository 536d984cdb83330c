import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiServerCheck } from './api-server-probe.js';

/** The tunnel's part of /readyz; the agent updates it as its tunnel comes and goes. */
export interface HealthState {
  ready: boolean;
  /** One word for dashboards: registering, connecting, connected, disconnected, deregistered, expired. */
  status: string;
  detail?: string;
}

/** What /readyz answers: the tunnel's state, and whether the API server answers the agent. */
export interface ReadinessReport extends HealthState {
  apiServer?: ApiServerCheck & { readonly checkedAt: string };
}

export interface HealthServerOptions {
  /** How long one API-server check answers /readyz before the next is made. Default 5 s. */
  apiServerCacheMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/**
 * /livez and /healthz: the process is alive and its event loop turns (never
 * anything outside it, so a broken API server does not get the pod
 * restarted). /readyz: the tunnel is up AND the agent's API server answers
 * an authenticated request (api-server-probe.ts), checked at most once per
 * `apiServerCacheMs` whatever the probe rate. Not ready means 503 with the
 * reason, so a rollout waits for the new pod and `kubectl describe` says why.
 */
export class HealthServer {
  readonly #server: Server;
  readonly #cacheMs: number;
  readonly #now: () => number;
  #state: HealthState = { ready: false, status: 'starting' };
  #check: (() => Promise<ApiServerCheck>) | undefined;
  #last: { at: number; result: ApiServerCheck } | undefined;
  #inFlight: Promise<ApiServerCheck> | undefined;

  constructor(options: HealthServerOptions = {}) {
    this.#cacheMs = options.apiServerCacheMs ?? 5000;
    this.#now = options.now ?? Date.now;
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz' || path === '/livez') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        void this.readiness().then((report) => {
          res.writeHead(report.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(report) + '\n');
        });
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
  }

  set(state: HealthState): void {
    this.#state = state;
  }

  /** The tunnel's part of readiness. */
  get state(): HealthState {
    return this.#state;
  }

  /** Makes /readyz also ask the API server (the agent sets this once it knows its target). */
  checkApiServer(check: () => Promise<ApiServerCheck>): void {
    this.#check = check;
    this.#last = undefined;
  }

  /** The /readyz answer: the tunnel's state, and the API server's when a check is set. */
  async readiness(): Promise<ReadinessReport> {
    const tunnel = this.#state;
    if (!this.#check) return tunnel;
    const at = this.#now();
    if (!this.#last || at - this.#last.at >= this.#cacheMs) {
      this.#inFlight ??= this.#check().finally(() => (this.#inFlight = undefined));
      this.#last = { at, result: await this.#inFlight };
    }
    const api = this.#last.result;
    const apiServer = { ...api, checkedAt: new Date(this.#last.at).toISOString() };
    if (api.reachable) return { ...tunnel, apiServer };
    // The tunnel's word stays (dashboards key on it); the API server's reason leads.
    const detail = tunnel.detail ? `${api.detail}; ${tunnel.detail}` : api.detail;
    return { ...tunnel, ready: false, ...(detail ? { detail } : {}), apiServer };
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
