/**
 * Inputs for the relay fuzzer: a corpus of raw HTTP/1.1 request strings an
 * attacker would try on the relay (every method, both body framings,
 * pipelined pairs with different tokens, bodies that are themselves
 * requests with identity headers, upgrades, TE/CL conflicts, obs-fold,
 * duplicate headers, odd whitespace, targets from the request-info refusal
 * list), and byte-level mutations of them. Everything comes from one
 * seeded xorshift32, so an input is reproduced from the seed and its index.
 */

export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }

  next(): number {
    let s = this.#state;
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    this.#state = s;
    return s / 0x1_0000_0000;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

/** Bearer tokens: the stub authenticator knows mallory (read tier) and alice (admin). */
export const TOKENS = ['mallory', 'mallory', 'alice', 'alice', 'alice', 'nobody', ''] as const;

const METHODS = ['GET', 'GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'POST', 'PUT', 'PATCH', 'DELETE', 'DELETE', 'OPTIONS', 'PROPFIND', 'TRACE'];
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'get']);
/** Methods Node's parser refuses or routes elsewhere: rare, or nearly every input would stop there. */
const ODD_METHODS = ['get', 'CONNECT', 'PRI', 'G\x00ET', 'SEARCH', 'QUERY'];
const CLUSTERS = ['prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', 'prod', '%E0', '%', 'pr%6Fd', '', 'nope', 'prod%2F..', 'prod%00'];
const PATHS = [
  '/api/v1/namespaces/default/pods',
  '/api/v1/namespaces/default/pods',
  '/api/v1/namespaces/default/pods?watch=1',
  '/api/v1/namespaces/default/pods/p',
  '/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Dp&labelSelector=a',
  '/apis/authentication.k8s.io/v1/selfsubjectreviews',
  '/apis/apps/v1/namespaces/default/deployments/d/scale',
  '/api/v1/namespaces/default/secrets/db',
  '/api/v1/nodes/n/proxy/x',
  '/api/v1/proxy/nodes/n',
  '/api/v1/watch/namespaces/default/pods',
  '/api',
  '/apis',
  '/version',
  '/openapi/v2',
  '/api/v1/namespaces/default/pods/p/exec?command=sh',
  '/api/v1/namespaces/default/pods/p/portforward',
  // The request-info refusal list: readings two stacks could disagree on.
  '//evil/api',
  '/api/v1/namespaces/default/configmaps/%2e%2e/x',
  '/api/v1/namespaces/default/pods/%2F..%2Fsecrets',
  '/api/v1/namespaces/default/./pods',
  '/api/v1/namespaces/default/../kube-system/secrets',
  '/api/v1//namespaces/default/pods',
  '/api/v1/namespaces/default/pods%3Fwatch=1',
  '/api/v1/namespaces/default/pods;x=1',
  '/api/v1/namespaces/default/pods%00',
  '/api/v1/namespaces/def%61ult/pods',
  '/api/v1/namespaces/default/pods#frag',
  '/api/v1/namespaces/default/pods\\..\\x',
  '/api/v1/namespaces/%E0%80/pods',
  '',
];
/** Identity, credential and ordinary headers Node parses. */
const HEADERS = [
  'X-Hawser-User: hawser:alice',
  'X-Hawser-Group: hawser:tier:admin',
  'X-Hawser-Request-Id: forged',
  'Impersonate-User: system:admin',
  'Impersonate-User: hawser:alice',
  'Impersonate-Group: system:masters',
  'Impersonate-Uid: 0',
  'Impersonate-Extra-Scopes: all',
  'Impersonate-Extra-hawser.dev%2frequest-id: forged',
  'X-Remote-User: admin',
  'X-Remote-Group: system:masters',
  'Authorization: Bearer alice',
  'authorization: Basic YWxpY2U6eA==',
  'Proxy-Authorization: Bearer alice',
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Upgrade: SPDY/3.1',
  'Expect: 100-continue',
  'Connection: close',
  'Connection: keep-alive, X-Hawser-User, Impersonate-User',
  'Host: evil',
  'Trailer: X-Hawser-User',
  'Accept: application/json',
  'User-Agent: kubectl/v1.36',
  'Content-Type: application/json',
  'Impersonate-User:hawser:alice',
  'Impersonate-User:  hawser:alice  ',
];
/** Framing conflicts, folds and odd spellings: many of these Node refuses, so they come in sparingly. */
const ODD_HEADERS = [
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding : chunked',
  'Transfer-Encoding:\tchunked',
  'Content-Length: 0',
  'Content-Length: 7',
  'Content-Length: 7, 7',
  'Content-Length: +7',
  'X-Fold: a\r\n X-Hawser-User: hawser:alice',
  'X-Fold: a\r\n\tImpersonate-User: system:admin',
  ' X-Hawser-User: hawser:alice',
  'X-Hawser-User : hawser:alice',
  'X_Hawser_User: hawser:alice',
  'X-Hawser-User\t: hawser:alice',
];

/** A request an attacker hides in a body, hoping something reads it as a request. */
function smuggled(rng: Rng): string {
  return `POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1\r\nHost: k\r\n${rng.pick(HEADERS)}\r\nX-Hawser-Group: hawser:tier:admin\r\nImpersonate-User: hawser:alice\r\nContent-Length: 2\r\n\r\n{}`;
}

function body(rng: Rng): string {
  switch (rng.int(9)) {
    case 0: case 5: case 6: case 7: return '';
    case 1: {
      const b = smuggled(rng);
      return `${b.length.toString(16)}${rng.next() < 0.3 ? ';ext=1' : ''}\r\n${b}\r\n0\r\n${rng.next() < 0.3 ? 'X-Hawser-User: hawser:root\r\n' : ''}\r\n`;
    }
    case 2: return smuggled(rng);
    case 3: return '{"kind":"DeleteOptions"}';
    default: return 'hello\r\n';
  }
}

function chunked(rng: Rng, b: string): string {
  if (b.startsWith('0\r\n') || /^[0-9a-f]+(;ext=1)?\r\n/.test(b)) return b;
  const cut = rng.int(b.length + 1);
  const chunks = [b.slice(0, cut), b.slice(cut)].filter((c) => c.length);
  return `${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
}

function request(rng: Rng): string {
  const headers = Array.from({ length: rng.int(4) }, () => rng.pick(HEADERS));
  if (rng.next() < 0.08) headers.splice(rng.int(headers.length + 1), 0, rng.pick(ODD_HEADERS));
  if (rng.next() < 0.1) headers.push(...headers); // duplicate headers
  const token = rng.pick(TOKENS);
  const method = rng.next() < 0.03 ? rng.pick(ODD_METHODS) : rng.pick(METHODS);
  // Bodies mostly where an API request has one: a body on GET is refused at once, a cheap and rarer case.
  let b = BODYLESS.has(method) && rng.next() < 0.85 ? '' : body(rng);
  if (b && !headers.some((h) => /transfer-encoding|content-length/i.test(h))) {
    if (rng.next() < 0.5) headers.push(`Content-Length: ${Buffer.byteLength(b, 'latin1')}`);
    else {
      headers.push('Transfer-Encoding: chunked');
      b = chunked(rng, b);
    }
  }
  const auth = token ? `Authorization: ${rng.next() < 0.05 ? 'bearer' : 'Bearer'} ${token}\r\n` : '';
  const sp = rng.next() < 0.02 ? rng.pick(['  ', '\t', ' \t']) : ' ';
  const version = rng.next() < 0.03 ? rng.pick(['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1']) : 'HTTP/1.1';
  return `${method}${sp}/clusters/${rng.pick(CLUSTERS)}${rng.pick(PATHS)} ${version}\r\nHost: h\r\n${auth}${headers.map((h) => `${h}\r\n`).join('')}\r\n${b}`;
}

/** One input: one to three pipelined requests, a quarter of them mutated (fresh each time, or spliced with the last). */
export let MUTATE = 0.35;
export function setMutate(p: number): void {
  MUTATE = p;
}
export function nextInput(rng: Rng, previous: string): string {
  let input = Array.from({ length: 1 + rng.int(3) }, () => request(rng)).join('');
  if (rng.next() < MUTATE) input = mutate(rng, input, previous);
  return input;
}

export function mutate(rng: Rng, s: string, other: string): string {
  let b = Buffer.from(s, 'latin1');
  for (let n = 1 + rng.int(3); n > 0 && b.length; n--) {
    const at = rng.int(b.length);
    switch (rng.int(9)) {
      case 0: b[at] = b[at]! ^ (1 << rng.int(8)); break; // flip a bit
      case 1: b[at] = rng.pick([0x0d, 0x0a, 0x00, 0x20, 0x3a, 0x09, 0x2c, 0x3b, 0x25, 0x2f, 0x7f, 0xff]); break;
      case 2: b = b.subarray(0, at); break; // truncate
      case 3: b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(['\r\n', '\n', '\r', ' ', '\t', '0\r\n\r\n', 'Transfer-Encoding: chunked\r\n', 'X-Hawser-User: hawser:alice\r\n', 'Impersonate-User: hawser:alice\r\n'])), b.subarray(at)]); break;
      case 4: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]); break; // delete a run
      case 5: { // splice with the previous input
        const o = Buffer.from(other, 'latin1');
        b = Buffer.concat([b.subarray(0, at), o.subarray(rng.int(o.length + 1))]);
        break;
      }
      case 6: { // duplicate a line
        const text = b.toString('latin1');
        const lines = text.split('\r\n');
        const i = rng.int(lines.length);
        lines.splice(i, 0, lines[i]!);
        b = Buffer.from(lines.join('\r\n'), 'latin1');
        break;
      }
      case 7: { // one CRLF becomes a bare LF
        const i = b.indexOf('\r\n', at);
        if (i >= 0) b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
        break;
      }
      default: b = Buffer.concat([b, b.subarray(at, Math.min(b.length, at + rng.int(200)))]); // repeat a tail
    }
  }
  return b.toString('latin1');
}
