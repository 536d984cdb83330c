import type { Duplex } from 'node:stream';
import { request, type Agent } from 'node:https';
import type { ErrorBody } from '@hawser/contract';

/** One JSON request to a Hawser server. */
export interface JsonRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: URL;
  /** Sent as JSON when given. */
  body?: unknown;
  headers?: Record<string, string>;
  /** CA certificate(s) to trust instead of the system store. */
  ca?: string | string[] | undefined;
  /** Client certificate and key, for mTLS. */
  cert?: string | undefined;
  key?: string | undefined;
  /** Connection pool and TLS settings to use (the agent's API-server client); exclusive with createConnection. */
  agent?: Agent | undefined;
  /**
   * Opens the connection instead of node:https (the agent's proxy-aware
   * connector). Node uses it only when no `agent` is given, so none is.
   */
  createConnection?: (options: unknown, callback: (err: Error | null, socket?: Duplex) => void) => Duplex | undefined;
  /** No answer within this long destroys the request. */
  timeoutMs: number;
}

/** What came back: the status, the body as text and, when it is JSON, parsed. */
export interface JsonResponse {
  status: number;
  text: string;
  /** The parsed body; undefined when it is not JSON (a proxy's error page, say). An empty body is `{}`. */
  json: unknown;
}

/**
 * Sends a request and reads the whole answer. It rejects only when no
 * answer arrived (DNS, TCP, TLS, timeout); every HTTP status resolves, and
 * the caller decides what a status and the error code in the body mean.
 */
export function requestJson(req: JsonRequest): Promise<JsonResponse> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      req.url,
      {
        method: req.method,
        ...(req.ca !== undefined ? { ca: req.ca } : {}),
        ...(req.cert !== undefined ? { cert: req.cert } : {}),
        ...(req.key !== undefined ? { key: req.key } : {}),
        ...(req.agent ? { agent: req.agent } : {}),
        ...(req.createConnection ? { createConnection: req.createConnection as never } : {}),
        timeout: req.timeoutMs,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...req.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : {};
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error(`${req.url.host} did not answer within ${Math.round(req.timeoutMs / 1000)} s`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** The `{ error: { code, message } }` both server listeners answer failures with, if that is what came back. */
export function errorOf(res: JsonResponse): { code: string; message: string } | undefined {
  const error = (res.json as Partial<ErrorBody> | undefined)?.error;
  if (!error || typeof error !== 'object') return undefined;
  return { code: typeof error.code === 'string' ? error.code : '', message: typeof error.message === 'string' ? error.message : '' };
}

/** 2xx. */
export function isSuccess(res: JsonResponse): boolean {
  return res.status >= 200 && res.status < 300;
}
