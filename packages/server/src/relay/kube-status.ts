import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { kubeStatus } from '@hawser/contract';

export { kubeStatus };

/** Answers with a Kubernetes Status object, so kubectl prints one clear sentence. */
export function sendKubeStatus(res: ServerResponse, code: number, message: string, headers: Record<string, string> = {}): void {
  const body = kubeStatus(code, message);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** The same on a raw socket, for refused upgrade requests (exec, port-forward). */
export function writeKubeStatus(socket: Duplex, code: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = kubeStatus(code, message);
  const lines = [
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
