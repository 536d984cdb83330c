import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './audit/metrics.js';
import type { ListenAddress } from './config.js';
import type { Logger } from './log.js';
import type { Readiness } from './readiness.js';

/**
 * The plain-HTTP listener of `--metrics-listen`: `/metrics`, and `/livez`,
 * `/readyz`, `/healthz` for probes that should not need TLS. Nothing else
 * is served here, so it can sit on loopback or a pod port that only the
 * cluster's Prometheus reaches, away from the operator listener.
 */
export class MetricsListener {
  readonly #server: Server;

  constructor(metrics: Metrics, readiness: Readiness, log: Logger) {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      } else if (path === '/metrics') {
        metrics.render().then(
          (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
          (err: unknown) => {
            log.error({ err }, 'metrics could not be collected');
            res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n');
          },
        );
      } else if (path === '/livez' || path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
      } else if (path === '/readyz') {
        void readiness.check().then((r) => res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r) + '\n'));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this listener serves /metrics, /livez, /readyz\n');
      }
    });
  }

  listen(address: ListenAddress): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
