import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { AgentError, AgentErrorCodes } from './errors.js';

/**
 * Whether `host` bypasses the proxy under NO_PROXY rules as curl and Go read
 * them: `*` matches all, an entry matches the host itself and its
 * subdomains (with or without a leading dot), `host:port` entries match
 * that port only.
 */
export function bypassesProxy(host: string, port: number, noProxy: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return noProxy.some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (entry === '*') return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry)!;
    const name = m[1]!.replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
    if (m[2] && Number(m[2]) !== port) return false;
    return h === name || h.endsWith(`.${name}`);
  });
}

/**
 * Opens a TCP tunnel to host:port through an HTTP(S) proxy with CONNECT. The
 * returned socket is raw; the caller runs TLS to the real server over it,
 * so the proxy sees only the host name and encrypted bytes.
 */
export function connectThroughProxy(proxyUrl: string, host: string, port: number, timeoutMs = 15_000): Promise<Socket> {
  const proxy = new URL(proxyUrl);
  const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: target };
  if (proxy.username) {
    const cred = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    headers['proxy-authorization'] = `Basic ${Buffer.from(cred).toString('base64')}`;
  }
  const request = proxy.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: target,
      headers,
      timeout: timeoutMs,
      agent: false,
    });
    req.on('connect', (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new AgentError(AgentErrorCodes.PROXY_CONNECT_FAILED, `proxy ${proxy.host} refused CONNECT ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
        return;
      }
      // Bytes the proxy sent past its response belong to the tunnel.
      if (head.length) socket.unshift(head);
      resolve(socket);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => {
      reject(err instanceof AgentError ? err : new AgentError(AgentErrorCodes.PROXY_CONNECT_FAILED, `cannot reach proxy ${proxy.host}: ${err.message}`, { cause: err }));
    });
    req.end();
  });
}
