import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * Raw HTTP/1.1 on one connection, for tests that send what no well-behaved
 * client would (smuggling, pipelining, half-closes) and must see every
 * response that comes back, in order.
 */
export interface RawOptions {
  /** Resolve once this many complete responses are in. */
  count?: number;
  /** Half-close after writing. */
  halfClose?: boolean;
  timeoutMs?: number;
  /** Response i answers a HEAD request (no body, whatever its headers say). */
  heads?: boolean[];
  /** Speak TLS, trusting this CA. */
  ca?: string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends raw bytes on one TCP connection and parses the responses that come
 * back: resolves once `count` complete responses are in, or when the
 * server closes the connection (a Node server aborts what is in flight
 * when a client half-closes, so `halfClose` is for that case only).
 */
export function rawExchange(port: number, bytes: string | Buffer, opts: RawOptions = {}): Promise<RawResponse[]> {
  return new Promise((resolve) => {
    const socket = opts.ca ? tlsConnect({ host: '127.0.0.1', port, ca: opts.ca }) : connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), opts.timeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (opts.count !== undefined && parseResponses(Buffer.concat(chunks), false, opts.heads).length >= opts.count) socket.destroy();
    });
    // A reset ends the exchange like a close: what arrived is the answer.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponses(Buffer.concat(chunks), true, opts.heads));
    });
    socket.write(bytes);
    if (opts.halfClose) socket.end();
  });
}

/** Complete responses in `buf`; `closed`: the connection is over, so a close-delimited body is whole. */
export function parseResponses(buf: Buffer, closed: boolean, heads: boolean[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...lines] = buf.toString('latin1', at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      const name = l.slice(0, i).trim().toLowerCase();
      headers[name] = headers[name] !== undefined ? `${headers[name]}, ${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
    }
    const status = Number(statusLine!.split(' ')[1]);
    at = end + 4;
    let body = '';
    if (heads[out.length]) {
      // The answer to a HEAD request: headers only, whatever they say.
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (status !== 101 && at + n > buf.length) break;
      body = buf.toString('utf8', at, at + n);
      at += n;
    } else if (headers['transfer-encoding'] === 'chunked') {
      let whole = false;
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', at);
        if (lineEnd < 0) break;
        const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
        at = lineEnd + 2;
        if (!size) {
          at += 2;
          whole = true;
          break;
        }
        body += buf.toString('utf8', at, at + size);
        at += size + 2;
      }
      if (!whole) break;
    } else if (status !== 101 && status !== 204 && status !== 304) {
      if (!closed) break;
      body = buf.toString('utf8', at);
      at = buf.length;
    }
    out.push({ status, headers, body });
    if (status === 101) break;
  }
  return out;
}
