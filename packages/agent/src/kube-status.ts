import type { ServerResponse } from 'node:http';
import { kubeStatus } from '@hawser/contract';

export { kubeStatus };

/** Answers with a Kubernetes Status object (built by the contract), so kubectl prints one clear sentence. */
export function sendStatus(res: ServerResponse, code: number, message: string, details?: Record<string, unknown>): void {
  const body = kubeStatus(code, message, details);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
