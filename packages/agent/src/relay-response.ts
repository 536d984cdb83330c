import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AgentErrorCodes, type AgentErrorCode } from './errors.js';
import { ERROR_CODE_HEADER, ERROR_RULE_HEADER, HOP_BY_HOP, encodeResponseHead, kubeStatus, type HeaderPair } from '@hawser/contract';
import { describeOwnRefusal, readOwnRefusal } from './own-refusal.js';

/** The most of a 403 body the agent reads to see whose rights it names; a Status is far smaller. */
const FORBIDDEN_BODY_LIMIT = 64 * 1024;

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
  // A policy refusal's first cause names its rule; the server counts refusals by it.
  const rule = (details.causes as { reason?: unknown }[] | undefined)?.[0]?.reason;
  stream.write(
    encodeResponseHead({
      v: 1,
      status: code,
      statusText: STATUS_CODES[code] ?? '',
      headers: [
        ['content-type', 'application/json'],
        ['content-length', String(body.length)],
        [ERROR_CODE_HEADER, errorCode],
        ...(typeof rule === 'string' ? [[ERROR_RULE_HEADER, rule] as HeaderPair] : []),
      ],
    }),
  );
  stream.end(body);
}

/**
 * The API server's response onto the stream. A 403: when its JSON Status names the agent's own
 * ServiceAccount and an impersonation verb (own-refusal.ts), it is answered
 * in the operator's terms, still 403, with a Hawser code; any other 403
 * goes on byte for byte.
 */
export function relayResponse(stream: Duplex, up: IncomingMessage): void {
  const type = String(up.headers['content-type'] ?? '');
  if (up.statusCode !== 403 || !/^application\/json\b/i.test(type) || up.headers['content-encoding'] !== undefined) {
    if (!writeUpstreamHead(stream, up)) return void up.destroy();
    up.pipe(stream);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const passOn = (): void => {
    up.removeListener('data', onData);
    up.removeListener('end', onEnd);
    if (!writeUpstreamHead(stream, up)) return void up.destroy();
    for (const c of chunks) stream.write(c);
    up.pipe(stream);
    up.resume();
  };
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size > FORBIDDEN_BODY_LIMIT) {
      up.pause();
      passOn();
    }
  };
  const onEnd = (): void => {
    if (stream.destroyed) return;
    const text = Buffer.concat(chunks).toString('utf8');
    let status: { kind?: unknown; message?: unknown; details?: Record<string, unknown> } | undefined;
    try {
      status = JSON.parse(text) as typeof status;
    } catch {
      status = undefined;
    }
    const own = status?.kind === 'Status' && typeof status.message === 'string' ? readOwnRefusal(status.message) : undefined;
    if (!own) {
      if (!writeUpstreamHead(stream, up)) return;
      stream.end(Buffer.concat(chunks));
      return;
    }
    const details = status!.details ?? {};
    endWithStatus(stream, 403, AgentErrorCodes.AGENT_RBAC_DENIED, describeOwnRefusal(own), {
      ...details,
      causes: [{ reason: 'APIServerMessage', message: status!.message }, ...((details.causes as unknown[] | undefined) ?? [])],
    });
  };
  up.on('data', onData);
  up.on('end', onEnd);
}

/** A status text from the API server, cut to what a head may carry. */
function sanitizeText(text: string): string {
  return text.replace(/[^\t\x20-\x7e]/g, '').slice(0, 256);
}
