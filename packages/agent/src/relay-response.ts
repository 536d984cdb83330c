import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AgentErrorCodes, type AgentErrorCode } from './errors.js';
import { ERROR_CODE_HEADER, HOP_BY_HOP, encodeResponseHead, kubeStatus, type HeaderPair } from '@hawser/contract';

/** Wire code for stream resets the agent sends (application range, >= 0x1000). */
export const RelayResetCode = {
  /** The stream carried no valid request head. */
  HEAD_INVALID: 0x1001,
  /** The body did not match the length the head declared. */
  BODY_MISMATCH: 0x1002,
  /** The API server failed after the response head went out. */
  UPSTREAM_FAILED: 0x1003,
} as const;

/**
 * The API server's response headers as pairs, without hop-by-hop fields;
 * `keepUpgrade` keeps the Upgrade field of a 101, which the server needs
 * to write its own 101 to the operator.
 */
export function responseHeaderPairs(up: IncomingMessage, keepUpgrade = false): HeaderPair[] {
  const pairs: HeaderPair[] = [];
  const raw = up.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-length' || (keepUpgrade && name === 'upgrade') || !HOP_BY_HOP.has(name)) pairs.push([name, raw[i + 1]!]);
  }
  return pairs;
}

/**
 * Writes the API server's response head onto the stream. An answer the head
 * cannot carry (headers beyond its size limit) becomes a 502 Status instead;
 * returns whether the API server's own head went out.
 */
export function writeUpstreamHead(stream: Duplex, up: IncomingMessage, keepUpgrade = false): boolean {
  const status = up.statusCode ?? 502;
  let head: Buffer;
  try {
    head = encodeResponseHead({ v: 1, status, statusText: sanitizeText(up.statusMessage ?? STATUS_CODES[status] ?? ''), headers: responseHeaderPairs(up, keepUpgrade) });
  } catch (err) {
    endWithStatus(stream, 502, AgentErrorCodes.UPSTREAM_FAILED, `hawser-agent cannot relay the API server's answer: ${(err as Error).message}`);
    return false;
  }
  stream.write(head);
  return true;
}

/** Answers on the stream with a Kubernetes Status carrying a stable code, then ends it. */
export function endWithStatus(stream: Duplex, code: number, errorCode: AgentErrorCode, message: string, details: Record<string, unknown> = {}): void {
  if (stream.destroyed || stream.writableEnded) return;
  const causes = [{ reason: errorCode, message }, ...((details.causes as unknown[] | undefined) ?? [])];
  const body = Buffer.from(kubeStatus(code, message, { ...details, causes }), 'utf8');
  stream.write(
    encodeResponseHead({
      v: 1,
      status: code,
      statusText: STATUS_CODES[code] ?? '',
      headers: [
        ['content-type', 'application/json'],
        ['content-length', String(body.length)],
        [ERROR_CODE_HEADER, errorCode],
      ],
    }),
  );
  stream.end(body);
}

/** A status text from the API server, cut to what a head may carry. */
function sanitizeText(text: string): string {
  return text.replace(/[^\t\x20-\x7e]/g, '').slice(0, 256);
}
