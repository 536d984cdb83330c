import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/**
 * The operator listener speaks HTTP/2 and HTTP/1.1 on one port (ALPN), so
 * a relayed request arrives as either Node's HTTP/1 pair or the HTTP/2
 * compatibility pair. The relay uses only what both offer; the few places
 * where they differ are the functions below.
 */
export type OperatorRequest = IncomingMessage | Http2ServerRequest;
export type OperatorResponse = ServerResponse | Http2ServerResponse;

/** Whether the request came over HTTP/2 (one stream of a multiplexed session). */
export function isHttp2(req: OperatorRequest): req is Http2ServerRequest {
  // Not httpVersionMajor: Node's HTTP/1 parser takes a request line that
  // says "HTTP/2.0" and reports major 2 (found by the relay fuzz).
  return 'stream' in req;
}

/**
 * The response's status and headers. HTTP/2 has no reason phrase (Node warns
 * once per process when given one), and connection-specific fields are
 * forbidden there (RFC 9113 8.2.2): the relay never passes any on
 * (relay-exchange.ts `responseHeaders`), and Node would throw if it did.
 */
export function writeResponseHead(res: OperatorResponse, status: number, statusText: string, headers: OutgoingHttpHeaders): void {
  if (isHttp2Response(res)) res.writeHead(status, headers);
  else res.writeHead(status, statusText, headers);
}

/** Writes body bytes; false when the client's window or socket is full (wait for 'drain'). */
export function writeBody(res: OperatorResponse, chunk: Buffer | string): boolean {
  return isHttp2Response(res) ? res.write(chunk) : res.write(chunk);
}

/** Sends the status and headers now, before any body (a watch may be silent for minutes). */
export function flushHead(res: OperatorResponse): void {
  // Node's HTTP/2 compatibility response has flushHeaders; its types do not.
  if (isHttp2Response(res)) {
    if (!res.headersSent) res.writeHead(res.statusCode);
  } else res.flushHeaders();
}

/** Whether the response is still waiting on 'drain' (Node 20's HTTP/2 compatibility response has no writableNeedDrain). */
export function needsDrain(res: OperatorResponse): boolean {
  return isHttp2Response(res) ? res.stream.writableNeedDrain : res.writableNeedDrain;
}

/** Whether the response can no longer be written (reset stream, closed connection). */
export function responseGone(res: OperatorResponse): boolean {
  return isHttp2Response(res) ? res.stream.destroyed : res.destroyed;
}

/**
 * Whether the relay ended the response itself (as opposed to the client
 * leaving first). An HTTP/2 response reports writableFinished once its
 * stream closes, a client's RST_STREAM (a cancelled watch) included, so
 * there the question is whether end() was called.
 */
export function responseEnded(res: OperatorResponse): boolean {
  return isHttp2Response(res) ? res.writableEnded : res.writableFinished;
}

function isHttp2Response(res: OperatorResponse): res is Http2ServerResponse {
  return 'stream' in res;
}
