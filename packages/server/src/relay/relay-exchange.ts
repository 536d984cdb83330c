import type { OutgoingHttpHeaders } from 'node:http';
import { HOP_BY_HOP, ResponseHeadReader, type HeaderPair, type ResponseHead } from '@hawser/contract';
import type { TunnelStream } from '@hawser/protocol';

/**
 * Waits for the agent's response head on a request stream. `onHead` gets
 * the head and any body bytes that came with it, with the stream paused
 * (attach your reader, then resume). `onFail` gets why there is no head:
 * the stream was reset or ended first, or the head was malformed (the
 * stream is then destroyed). Exactly one of the two is called, once.
 */
export function awaitResponseHead(
  stream: TunnelStream,
  onHead: (head: ResponseHead, rest: Buffer) => void,
  onFail: (err: Error, malformed: boolean) => void,
): void {
  const reader = new ResponseHeadReader();
  let settled = false;
  const settle = (): boolean => {
    if (settled) return false;
    settled = true;
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.pause();
    return true;
  };
  const onData = (chunk: Buffer): void => {
    let got: ReturnType<ResponseHeadReader['push']>;
    try {
      got = reader.push(chunk);
    } catch (err) {
      if (!settle()) return;
      stream.destroy();
      return onFail(err as Error, true);
    }
    if (got && settle()) onHead(got.head, got.rest);
  };
  const onEnd = (): void => {
    if (settle()) onFail(new Error('the agent ended the stream without a response head'), false);
  };
  const onError = (err: Error): void => {
    if (settle()) onFail(err, false);
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
}

/**
 * The agent's response header pairs as Node response headers: repeated
 * names become arrays; hop-by-hop fields stay behind (the agent drops them
 * too), except Content-Length, which frames the body toward the client,
 * and, on a 101, Upgrade.
 */
export function responseHeaders(pairs: readonly HeaderPair[], upgrade = false): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of pairs) {
    if (HOP_BY_HOP.has(name) && name !== 'content-length' && !(upgrade && name === 'upgrade')) continue;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value];
  }
  return out;
}

/** A status line and header block for a raw socket (upgrade answers). */
export function rawHead(head: ResponseHead, extra: readonly string[]): string {
  const lines = [`HTTP/1.1 ${head.status} ${head.statusText}`, ...extra];
  for (const [name, values] of Object.entries(responseHeaders(head.headers, head.status === 101))) {
    for (const v of Array.isArray(values) ? values : [values]) lines.push(`${name}: ${String(v)}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}
