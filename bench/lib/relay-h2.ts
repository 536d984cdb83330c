import { readFileSync } from 'node:fs';
import { connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request } from 'node:https';
import type { Socket } from 'node:net';
import { fmtMs, summarize } from './stats.js';

/**
 * HTTP/2 against HTTP/1.1 on Hawser's operator listener, for bench:relay:
 *
 *   watches  N concurrent watches from one client, over one HTTP/2
 *            connection vs N HTTP/1.1 connections (one per watch, as
 *            client-go without HTTP/2 opens them): event-delivery delay
 *            p50/p99, the server's RSS growth while they are open, and the
 *            TCP connections the client opened
 *   GETs     small GET latency p50/p99 over one HTTP/2 session vs one
 *            HTTP/1.1 keep-alive connection, alternating in blocks
 */
export interface H2Target {
  /** `https://HOST:PORT/clusters/NAME`. */
  base: string;
  ca: string;
  token: string;
  /** The server's pid, for its RSS (Linux /proc). */
  serverPid: number | undefined;
}

export interface H2Results {
  h2: ProtocolResult;
  h1: ProtocolResult;
}

export interface ProtocolResult {
  getP50: number;
  getP99: number;
  watchP50: number;
  watchP99: number;
  received: number;
  expected: number;
  /** Server RSS growth (MB) with the watches open. */
  rssMb: number;
  connections: number;
}

/** Writes one event: the caller's ConfigMap replace; resolves when the API server acknowledged it. */
export type WriteEvent = (name: string, value: string) => Promise<void>;

export async function measureHttp2(t: H2Target, opts: { watchNs: string; getNs: string; watches: number; events: number; eventEveryMs: number; gets: number; write: WriteEvent }): Promise<H2Results> {
  const session = connect(new URL(t.base).origin, { ca: t.ca });
  session.on('error', () => {});
  const h1Sockets = new Set<Socket>();
  const agent = new Agent({ keepAlive: true, maxSockets: opts.watches + 1, ca: t.ca });
  try {
    const h2Get = (path: string) => h2Request(session, t, path);
    const h1Get = (path: string) => h1Request(agent, t, path, h1Sockets);
    const gets = { h2: [] as number[], h1: [] as number[] };
    const target = (i: number) => `/api/v1/namespaces/${opts.getNs}/configmaps/cm-${i % 100}`;
    for (let i = 0; i < 200; i++) await Promise.all([h2Get(target(i)), h1Get(target(i))]);
    for (let i = 0; i < opts.gets; i += 20) {
      for (let j = i; j < i + 20; j++) gets.h2.push((await h2Get(target(j))).ms);
      for (let j = i; j < i + 20; j++) gets.h1.push((await h1Get(target(j))).ms);
    }
    const h2Watches = await watchDelay(t, opts, (path, onLine) => h2Watch(session, t, path, onLine));
    const h1Watches = await watchDelay(t, opts, (path, onLine) => h1Watch(agent, t, path, onLine, h1Sockets));
    const g2 = summarize(gets.h2);
    const g1 = summarize(gets.h1);
    return {
      // One session for everything: the GETs' and the watches'.
      h2: { getP50: g2.p50, getP99: g2.p99, ...h2Watches, connections: 1 },
      h1: { getP50: g1.p50, getP99: g1.p99, ...h1Watches, connections: h1Sockets.size },
    };
  } finally {
    session.destroy();
    agent.destroy();
  }
}

type OpenWatch = (path: string, onLine: (line: string) => void) => Promise<() => void>;

async function watchDelay(t: H2Target, opts: { watchNs: string; watches: number; events: number; eventEveryMs: number; write: WriteEvent }, open: OpenWatch) {
  const sentAt = new Map<string, number>();
  const delays: number[] = [];
  const onLine = (line: string): void => {
    const ev = JSON.parse(line) as { type: string; object: { metadata: { name: string }; data?: Record<string, string> } };
    const at = sentAt.get(`${ev.object.metadata.name}@${ev.object.data?.v ?? ''}`);
    if (ev.type === 'MODIFIED' && at !== undefined) delays.push(performance.now() - at);
  };
  const before = rssMb(t.serverPid);
  const path = `/api/v1/namespaces/${opts.watchNs}/configmaps?watch=true&allowWatchBookmarks=false`;
  const closers = await Promise.all(Array.from({ length: opts.watches }, () => open(path, onLine)));
  await new Promise((r) => setTimeout(r, 500));
  const rss = rssMb(t.serverPid) - before;
  const tag = `${Date.now()}`;
  for (let i = 0; i < opts.events; i++) {
    const name = `w-${i % 10}`;
    const value = `${tag}-${i}`;
    sentAt.set(`${name}@${value}`, performance.now());
    await opts.write(name, value);
    await new Promise((r) => setTimeout(r, opts.eventEveryMs));
  }
  await new Promise((r) => setTimeout(r, 1000));
  for (const close of closers) close();
  const s = summarize(delays);
  return { watchP50: s.p50, watchP99: s.p99, received: delays.length, expected: opts.watches * opts.events, rssMb: rss };
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function lines(onLine: (line: string) => void): (d: string) => void {
  let buf = '';
  return (d) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  };
}

function h2Request(session: ClientHttp2Session, t: H2Target, path: string): Promise<{ ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': new URL(t.base).pathname + path, authorization: `Bearer ${t.token}`, accept: 'application/json' }, { endStream: true });
    let status = 0;
    s.on('response', (h) => (status = Number(h[':status'])));
    s.on('data', () => {});
    s.on('end', () => (status === 200 ? resolve({ ms: performance.now() - started }) : reject(new Error(`h2 GET answered ${status}`))));
    s.on('error', reject);
  });
}

function h1Request(agent: Agent, t: H2Target, path: string, sockets: Set<Socket>): Promise<{ ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(new URL(t.base + path), { agent, headers: { authorization: `Bearer ${t.token}`, accept: 'application/json' } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - started }) : reject(new Error(`h1 GET answered ${res.statusCode}`))));
    });
    req.on('socket', (s: Socket) => sockets.add(s));
    req.on('error', reject);
    req.end();
  });
}

function h2Watch(session: ClientHttp2Session, t: H2Target, path: string, onLine: (line: string) => void): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': new URL(t.base).pathname + path, authorization: `Bearer ${t.token}` }, { endStream: true });
    s.setEncoding('utf8');
    s.on('data', lines(onLine));
    s.on('error', () => {});
    s.once('response', () => resolve(() => s.close()));
    s.once('close', () => reject(new Error('h2 watch closed before a response')));
  });
}

function h1Watch(agent: Agent, t: H2Target, path: string, onLine: (line: string) => void, sockets: Set<Socket>): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(t.base + path), { agent, headers: { authorization: `Bearer ${t.token}` } });
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', lines(onLine));
      resolve(() => req.destroy());
    });
    req.on('socket', (s: Socket) => sockets.add(s));
    req.on('error', reject);
    req.end();
  });
}

/** The markdown table bench:relay prints and writes. */
export function h2Rows(r: H2Results, watches: number): string[] {
  const row = (name: string, f: (p: ProtocolResult) => string) => `| ${name} | ${f(r.h2)} | ${f(r.h1)} |`;
  return [
    '| hawser operator listener | HTTP/2 (one connection) | HTTP/1.1 |',
    '| --- | --- | --- |',
    row('small GET p50 (ms)', (p) => fmtMs(p.getP50)),
    row('small GET p99 (ms)', (p) => fmtMs(p.getP99)),
    row(`${watches} watches: event delay p50 (ms)`, (p) => fmtMs(p.watchP50)),
    row(`${watches} watches: event delay p99 (ms)`, (p) => fmtMs(p.watchP99)),
    row('watch events delivered', (p) => `${p.received}/${p.expected}`),
    row(`server RSS growth with ${watches} watches open (MB)`, (p) => p.rssMb.toFixed(1)),
    row('TCP connections the client opened', (p) => String(p.connections)),
  ];
}
