/**
 * The relay's floor: a bare reverse proxy in a process of its own. Two of
 * them chained (bench/relay.ts) take the hops Hawser's server and agent take,
 * TLS from the client, a plain loopback hop between them, TLS to the API
 * server with the agent's token and impersonation headers, and do nothing
 * else: no authentication, policy, audit, tunnel or flow control. What
 * they add over direct is what any server-plus-agent design costs on this
 * machine; Hawser minus the floor is what Hawser itself costs.
 *
 * Run by fork(); the configuration is the first IPC message, the reply is
 * the listening port. Only 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FloorProxyConfig {
  /** Serve TLS with this certificate (PEM) instead of plain HTTP. */
  tls?: { cert: string; key: string };
  /** Where requests go: `http://127.0.0.1:PORT` or the API server's URL. */
  upstream: string;
  /** CA for an https upstream. */
  ca?: string;
  /** Replace the caller's Authorization with this bearer token and impersonate, as the agent does. */
  impersonate?: { token: string; user: string; groups: string[] };
}

const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);

function start(config: FloorProxyConfig): Promise<number> {
  const target = new URL(config.upstream);
  const secure = target.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, ca: config.ca }) : new http.Agent({ keepAlive: true });
  const send = secure ? https.request : http.request;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!hopByHop.has(k)) headers[k] = v;
    if (config.impersonate) {
      headers.authorization = `Bearer ${config.impersonate.token}`;
      headers['impersonate-user'] = config.impersonate.user;
      headers['impersonate-group'] = config.impersonate.groups;
      headers['impersonate-extra-hawser.dev%2frequest-id'] = randomUUID();
    }
    const up = send({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent }, (r) => {
      const out: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!hopByHop.has(k)) out[k] = v;
      res.writeHead(r.statusCode ?? 502, out);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };
  const server = config.tls ? https.createServer({ cert: config.tls.cert, key: config.tls.key }, handler) : http.createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

process.once('message', (config: FloorProxyConfig) => {
  void start(config).then((port) => process.send?.({ port }));
});
process.on('disconnect', () => process.exit(0));
