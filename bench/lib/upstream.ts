import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * The local HTTP upstream every path talks to (stands in for the
 * kube-apiserver). Only ever listens on 127.0.0.1.
 *
 *   GET /small           ~200-byte JSON
 *   GET /big?size=N      N bytes, in 64 KiB chunks, honouring backpressure
 *   GET /stall           endless 64 KiB chunks while the client reads (a stuck `logs -f`)
 *   GET /events?every=ms newline-delimited events carrying performance.now() at send
 */
export interface Upstream {
  port: number;
  /** Events written by /events so far. */
  eventsSent(): number;
  /** Stop writing events (streams stay open), so in-flight ones can land before counting. */
  stopEvents(): void;
  close(): Promise<void>;
}

const small = Buffer.from(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success', message: 'x'.repeat(120) }));
const chunk = Buffer.alloc(64 * 1024, 0x61);

export async function startUpstream(): Promise<Upstream> {
  const timers = new Set<NodeJS.Timeout>();
  let eventsSent = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/small') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': small.length });
      res.end(small);
    } else if (url.pathname === '/big' || url.pathname === '/stall') {
      let left = url.pathname === '/big' ? Number(url.searchParams.get('size')) : Infinity;
      res.writeHead(200, url.pathname === '/big' ? { 'content-length': left } : {});
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          const more = res.write(n === chunk.length ? chunk : chunk.subarray(0, n));
          if (left === 0) res.end();
          else if (!more) {
            res.once('drain', pump);
            return;
          }
        }
      };
      res.on('close', () => (left = 0));
      pump();
    } else if (url.pathname === '/events') {
      const every = Number(url.searchParams.get('every') ?? 100);
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const timer = setInterval(() => {
        eventsSent++;
        // Epoch-based so the other process can compare clocks (same machine).
        res.write(`{"type":"MODIFIED","t":${performance.timeOrigin + performance.now()}}\n`);
      }, every);
      timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    eventsSent: () => eventsSent,
    stopEvents() {
      for (const t of timers) clearInterval(t);
      timers.clear();
    },
    async close() {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
