/**
 * Fuzz the relay end to end in one process: random and mutated HTTP/1.1
 * bytes on raw sockets to the server's ClusterRelay, over an in-memory
 * tunnel to the agent's real Relay, in front of a recording HTTPS
 * stand-in for the API server (packages/server/test/support/relay-pair.ts).
 *
 *   npm run fuzz                              # protocol targets, then this one
 *   tsx packages/server/fuzz/relay-fuzz.ts --relay-iterations 3000 --seed 7
 *
 * The oracle: every request that reaches the API server carries the request
 * id of one audited request, and exactly the identity, verb and path the
 * server authorized for it (the audit event names them); no X-Hawser-*,
 * X-Remote-* or client credential ever arrives. Any other outcome, a 500,
 * or an uncaught exception exits 1 with the seed and the input.
 */
import { parseRequestInfo } from '@hawser/contract';
import { rawExchange, startRelayPair } from '../test/support/relay-pair.js';
import type { SeenRequest } from '../../agent/test/support/recording-upstream.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
// Its own count: the protocol targets' --iterations (a million) would take hours here.
const iterations = arg('relay-iterations', 2000);
const seed = arg('seed', Date.now() % 1_000_000);

let state = seed >>> 0 || 1;
function rnd(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 0x1_0000_0000;
}
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

let current = '';
function crash(what: string, detail: unknown): never {
  console.error(`CRASH in relay fuzz (seed ${seed}): ${what}: ${detail instanceof Error ? detail.stack : JSON.stringify(detail)}`);
  console.error(`input: ${JSON.stringify(current.slice(0, 4000))}`);
  process.exit(1);
}
process.on('uncaughtException', (err) => crash('uncaught exception', err));
process.on('unhandledRejection', (err) => crash('unhandled rejection', err));

const TOKENS = ['mallory', 'mallory', 'mallory', 'alice', 'alice', 'alice', 'nobody', ''];
const METHODS = ['GET', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'DELETE', 'OPTIONS', 'get', 'PROPFIND', 'TRACE'];
const CLUSTERS = ['prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', '%E0', '%', 'pr%6Fd', '', 'nope', 'prod%2F..', 'prod%00'];
const PATHS = [
  '/api/v1/namespaces/default/pods',
  '/api/v1/namespaces/default/pods?watch=1',
  '/apis/authentication.k8s.io/v1/selfsubjectreviews',
  '/api/v1/namespaces/default/secrets/db',
  '/version',
  '/api/v1/namespaces/default/pods/p/exec?command=sh',
  '//evil/api',
  '/api/v1/namespaces/default/configmaps/%2e%2e/x',
  '',
];
const HEADERS = [
  'X-Hawser-User: hawser:alice',
  'X-Hawser-Group: hawser:tier:admin',
  'X-Hawser-Request-Id: forged',
  'Impersonate-User: system:admin',
  'Impersonate-Group: system:masters',
  'Impersonate-Extra-Scopes: all',
  'X-Remote-User: admin',
  'Authorization: Bearer alice',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: xchunked',
  'Content-Length: 0',
  'Content-Length: 7',
  'Content-Length: 7, 7',
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Upgrade: SPDY/3.1',
  'Expect: 100-continue',
  'Connection: close',
  'Connection: keep-alive, X-Hawser-User',
  'Host: evil',
  'Trailer: X-Hawser-User',
  'Accept: application/json',
  'Accept: application/json',
  'User-Agent: kubectl/v1.36',
  'Content-Type: application/json',
  'X-Hawser-User: hawser:alice',
  'Impersonate-User: hawser:alice',
  ' X-Hawser-User: hawser:alice',
];

function smuggled(): string {
  return `POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: k\r\n${pick(HEADERS)}\r\nX-Hawser-Group: hawser:tier:admin\r\nContent-Length: 2\r\n\r\n{}`;
}

function body(): string {
  switch (int(8)) {
    case 0: case 5: case 6: case 7: return '';
    case 1: {
      const b = smuggled();
      return `${b.length.toString(16)}${rnd() < 0.3 ? ';ext=1' : ''}\r\n${b}\r\n0\r\n${rnd() < 0.3 ? 'X-Hawser-User: hawser:root\r\n' : ''}\r\n`;
    }
    case 2: return smuggled();
    case 3: return '{"kind":"DeleteOptions"}';
    default: return 'hello\r\n';
  }
}

function request(): string {
  const headers = Array.from({ length: int(3) }, () => pick(HEADERS));
  const token = pick(TOKENS);
  const b = body();
  if (b && !headers.some((h) => /transfer-encoding|content-length/i.test(h))) headers.push(rnd() < 0.5 ? `Content-Length: ${Buffer.byteLength(b)}` : 'Transfer-Encoding: chunked');
  return `${pick(METHODS)} /clusters/${pick(CLUSTERS)}${pick(PATHS)} HTTP/1.1\r\nHost: h\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}${headers.map((h) => `${h}\r\n`).join('')}\r\n${b}`;
}

function mutate(s: string): string {
  const b = Buffer.from(s, 'latin1');
  for (let n = 1 + int(3); n > 0 && b.length; n--) {
    const at = int(b.length);
    switch (int(5)) {
      case 0: b[at] = int(256); break;
      case 1: b[at] = pick([0x0d, 0x0a, 0x00, 0x20, 0x3a, 0x09]); break;
      case 2: return b.subarray(0, at).toString('latin1');
      case 3: return b.toString('latin1', 0, at) + '\r\n' + b.toString('latin1', at);
      default: return b.toString('latin1') + b.toString('latin1', at, Math.min(b.length, at + int(200)));
    }
  }
  return b.toString('latin1');
}

const tiers: Record<string, string> = { mallory: 'read', alice: 'admin' };
const REQUEST_ID = 'impersonate-extra-hawser.dev%2frequest-id';

const cleanup: (() => unknown)[] = [];
const pair = await startRelayPair(cleanup);
let checkedUpstream = 0;
let checkedAudit = 0;
let unmatched: SeenRequest[] = [];
/** Audit events by request id: an event may come before its request reaches upstream (the client left first). */
const audited = new Map<string, (typeof pair.audit)[number]>();

function check(final: boolean): void {
  const fresh = [...unmatched, ...pair.upstream.seen.slice(checkedUpstream)];
  checkedUpstream = pair.upstream.seen.length;
  unmatched = [];
  for (const e of pair.audit.slice(checkedAudit)) {
    if (e.status === 500) crash('the relay answered 500', e);
    audited.set(e.requestId, e);
  }
  checkedAudit = pair.audit.length;
  for (const seen of fresh) {
    for (const h of Object.keys(seen.headers)) {
      if (h.startsWith('x-hawser-') || h.startsWith('x-remote-')) crash('an identity header reached the API server', seen);
    }
    if (seen.headers.authorization?.join() !== 'Bearer agent-sa-token') crash('a client credential reached the API server', seen);
    const id = seen.headers[REQUEST_ID]?.[0];
    if (!id) crash('a request without a request id reached the API server', seen);
    const event = audited.get(id);
    if (!event) {
      if (final) crash('a request reached the API server that was never audited', seen);
      unmatched.push(seen);
      continue;
    }
    const tier = tiers[event.user];
    if (!tier || event.tier !== tier) crash('a request of an operator without a tier reached the API server', { seen, event });
    const expected = { user: [`hawser:${event.user}`], groups: [`hawser:tier:${tier}`] };
    const got = { user: seen.headers['impersonate-user'], groups: seen.headers['impersonate-group'] };
    if (JSON.stringify(expected) !== JSON.stringify(got)) crash('the API server saw another identity than the server authorized', { expected, got, event });
    if (seen.url.split('?')[0] !== event.path) crash('the API server saw another path than the server authorized', { url: seen.url, event });
    if (parseRequestInfo(seen.method, seen.url).verb !== event.verb) crash('the API server saw another verb than the server authorized', { seen: seen.method, event });
  }
}

const started = performance.now();
let requests = 0;
const hist = new Map<string, number>();
for (let i = 0; i < iterations; i++) {
  const n = 1 + int(3);
  let input = Array.from({ length: n }, request).join('');
  if (rnd() < 0.25) input = mutate(input);
  current = input;
  requests += n;
  const responses = await rawExchange(pair.port, Buffer.from(input, 'latin1'), { count: n, halfClose: rnd() < 0.3, timeoutMs: 150 });
  for (const r of responses) hist.set(`${r.status}${r.headers["x-hawser-error"] ? ` ${r.headers["x-hawser-error"]}` : ""}`, (hist.get(`${r.status}${r.headers["x-hawser-error"] ? ` ${r.headers["x-hawser-error"]}` : ""}`) ?? 0) + 1);
  for (const r of responses) if (r.status === 500) crash('a 500 reached the client', r);
  await new Promise((resolve) => setImmediate(resolve));
  check(false);
}
// Let the last streams finish, then everything seen upstream must be audited.
await new Promise((resolve) => setTimeout(resolve, 500));
check(true);
const seconds = (performance.now() - started) / 1000;
console.log(`relay fuzz: ${iterations} inputs (${requests} requests, ${checkedUpstream} reached the API server) in ${seconds.toFixed(1)} s, ${Math.round(iterations / seconds)} inputs/s, seed ${seed}: no identity crossed`);
console.log(`responses by status: ${[...hist].sort().map(([k, v]) => `${k}: ${v}`).join(", ")}`);
for (const c of cleanup.reverse()) await c();
process.exit(0);
