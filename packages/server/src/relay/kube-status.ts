import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { ERROR_CODE_HEADER, kubeStatus, warningHeader } from '@hawser/contract';
import type { ErrorCode } from '../errors.js';
import type { OperatorResponse } from './operator-http.js';

export { kubeStatus, ERROR_CODE_HEADER };

/** A refusal Hawser itself answers: HTTP status, stable code, one clear sentence. */
export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  /** Extra response headers (Retry-After). */
  headers?: Record<string, string>;
  /** The cluster the request named, when it named one (details.name). */
  cluster?: string;
  /**
   * Also send the message as a `Warning` header: set for discovery
   * requests, whose errors kubectl prints only as a generic sentence.
   */
  warn?: boolean;
}

function extraHeaders(refusal: Refusal): Record<string, string> {
  return { ...refusal.headers, ...(refusal.warn ? { warning: warningHeader(refusal.message) } : {}) };
}

function body(refusal: Refusal): string {
  return kubeStatus(refusal.status, refusal.message, {
    ...(refusal.cluster ? { name: refusal.cluster } : {}),
    causes: [{ reason: refusal.code, message: refusal.message }],
  });
}

/** Answers with a Kubernetes Status object, so kubectl prints one clear sentence. */
export function sendKubeStatus(res: OperatorResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(refusal);
  res.writeHead(refusal.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    [ERROR_CODE_HEADER]: refusal.code,
    ...extraHeaders(refusal),
  });
  res.end(text);
}

/** The same on a raw socket, for refused upgrade requests (exec, port-forward). */
export function writeKubeStatus(socket: Duplex, refusal: Refusal): void {
  if (socket.destroyed) return;
  const text = body(refusal);
  const lines = [
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(text)}`,
    `${ERROR_CODE_HEADER}: ${refusal.code}`,
    'connection: close',
    ...Object.entries(extraHeaders(refusal)).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
}
