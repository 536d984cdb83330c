/**
 * The request and response heads that travel on a tunnel stream
 * (docs/protocol.md, "Requests on streams"). One relayed request per
 * stream, never reused: the request head is the stream's OPEN payload, the
 * stream's bytes toward the agent are exactly the request body, and the
 * bytes back are a length-prefixed response head followed by the raw body.
 * No HTTP parser reads anything on either side of the tunnel, so nothing a
 * client puts in a body can ever be read as a request or as an identity.
 *
 * Pure: no I/O and no imports, so both ends (and, later, a shared contract
 * package) use this one file. Every decoder treats its input as hostile.
 */

/** The one format both ends speak; a head with any other version is refused. */
export const STREAM_HEAD_VERSION = 1;
/** What an agent that speaks this format announces in its HELLO. */
export const REQUEST_HEAD_CAPABILITY = 'request-head-v1';
/** Largest encoded request head (the protocol's default `limits.maxHeaderSize`). */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;
/** Largest encoded response head (API server answers carry a handful of headers). */
export const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;
/** Bytes of the big-endian length before a response head. */
export const RESPONSE_HEAD_PREFIX_BYTES = 4;

const MAX_HEADERS = 256;
const MAX_NAME = 256;
const MAX_VALUE = 8 * 1024;
const MAX_TARGET = 8 * 1024;
const MAX_GROUPS = 64;

/** Who the agent acts as. `null` in a head: the agent acts as itself (shared mode). */
export interface HeadIdentity {
  user: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

export type HeaderPair = [name: string, value: string];

export interface RequestHead {
  v: typeof STREAM_HEAD_VERSION;
  method: string;
  /** Path and query, exactly as the server decided it; always starts with "/". */
  target: string;
  /** Already filtered by the server: no hop-by-hop, credential or identity headers. */
  headers: HeaderPair[];
  identity: HeadIdentity | null;
  requestId: string;
  /** Body bytes that follow on the stream: 0 none, a number exact, absent unknown (read to FIN). */
  bodyLength?: number;
  /** The Upgrade protocol (e.g. "websocket", "SPDY/3.1") for exec, attach, port-forward. */
  upgrade?: string;
}

export interface ResponseHead {
  v: typeof STREAM_HEAD_VERSION;
  status: number;
  statusText: string;
  headers: HeaderPair[];
}

/** Why a head was refused: `field` names what was wrong. */
export class StreamHeadError extends Error {
  readonly field: string;
  readonly tooLarge: boolean;

  constructor(field: string, message: string, tooLarge = false) {
    super(`${field}: ${message}`);
    this.name = 'StreamHeadError';
    this.field = field;
    this.tooLarge = tooLarge;
  }
}

/** RFC 9110 token: methods and header names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field value: visible ASCII, space, tab, obs-text; never CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Request target: origin-form, visible ASCII only (a space or CR/LF would end the request line). */
const TARGET = /^\/[\x21-\x7e]*$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function fail(field: string, message: string): never {
  throw new StreamHeadError(field, message);
}

function str(field: string, v: unknown, max: number, pattern: RegExp, allowEmpty = false): string {
  if (typeof v !== 'string') fail(field, `must be a string, got ${v === null ? 'null' : typeof v}`);
  if (!allowEmpty && v.length === 0) fail(field, 'must not be empty');
  if (v.length > max) fail(field, `is longer than ${max} characters`);
  if (!pattern.test(v)) fail(field, 'has characters that are not allowed (control characters, CR, LF, NUL or non-ASCII)');
  return v;
}

function object(field: string, v: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'must be an object');
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(field, `has an unknown field "${k.slice(0, 64)}"`);
  return v as Record<string, unknown>;
}

function headerPairs(field: string, v: unknown): HeaderPair[] {
  if (!Array.isArray(v)) fail(field, 'must be an array of [name, value] pairs');
  if (v.length > MAX_HEADERS) fail(field, `has more than ${MAX_HEADERS} entries`);
  return v.map((pair: unknown, i): HeaderPair => {
    if (!Array.isArray(pair) || pair.length !== 2) fail(`${field}[${i}]`, 'must be a [name, value] pair');
    return [str(`${field}[${i}] name`, pair[0], MAX_NAME, TOKEN), str(`${field}[${i}] value`, pair[1], MAX_VALUE, FIELD_VALUE, true)];
  });
}

function identityOf(v: unknown): HeadIdentity | null {
  if (v === null) return null;
  const o = object('identity', v, ['user', 'groups', 'uid', 'extra']);
  const user = str('identity.user', o.user, MAX_NAME, FIELD_VALUE);
  if (!Array.isArray(o.groups)) fail('identity.groups', 'must be an array of strings');
  if (o.groups.length > MAX_GROUPS) fail('identity.groups', `has more than ${MAX_GROUPS} entries`);
  const groups = o.groups.map((g: unknown, i) => str(`identity.groups[${i}]`, g, MAX_NAME, FIELD_VALUE));
  const out: HeadIdentity = { user, groups };
  if (o.uid !== undefined) out.uid = str('identity.uid', o.uid, MAX_NAME, FIELD_VALUE);
  if (o.extra !== undefined) {
    if (typeof o.extra !== 'object' || o.extra === null || Array.isArray(o.extra)) fail('identity.extra', 'must be an object');
    // No prototype: a key named "__proto__" stays a key.
    out.extra = Object.create(null) as Record<string, string[]>;
    for (const [k, values] of Object.entries(o.extra)) {
      str('identity.extra key', k, MAX_NAME, TOKEN);
      if (!Array.isArray(values)) fail(`identity.extra.${k}`, 'must be an array of strings');
      out.extra[k] = values.map((x: unknown, i) => str(`identity.extra.${k}[${i}]`, x, MAX_VALUE, FIELD_VALUE, true));
    }
  }
  return out;
}

function parseJson(field: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (err) {
    return fail(field, `is not UTF-8 JSON (${(err as Error).message.slice(0, 120)})`);
  }
}

function version(field: string, v: unknown): typeof STREAM_HEAD_VERSION {
  if (v !== STREAM_HEAD_VERSION) fail(`${field}.v`, `version ${JSON.stringify(v)?.slice(0, 20)} is not supported (this side speaks ${STREAM_HEAD_VERSION})`);
  return STREAM_HEAD_VERSION;
}

/** Checks a request head from the wire or from our own caller; returns a clean copy. */
export function validateRequestHead(value: unknown): RequestHead {
  const o = object('request head', value, ['v', 'method', 'target', 'headers', 'identity', 'requestId', 'bodyLength', 'upgrade']);
  const head: RequestHead = {
    v: version('request head', o.v),
    method: str('method', o.method, 32, TOKEN),
    target: str('target', o.target, MAX_TARGET, TARGET),
    headers: headerPairs('headers', o.headers),
    identity: identityOf(o.identity),
    requestId: str('requestId', o.requestId, 128, REQUEST_ID),
  };
  if (o.bodyLength !== undefined) {
    if (typeof o.bodyLength !== 'number' || !Number.isSafeInteger(o.bodyLength) || o.bodyLength < 0) fail('bodyLength', 'must be a non-negative integer');
    head.bodyLength = o.bodyLength;
  }
  if (o.upgrade !== undefined) head.upgrade = str('upgrade', o.upgrade, MAX_NAME, FIELD_VALUE);
  return head;
}

/** The OPEN payload of a request stream. Throws StreamHeadError (tooLarge set) above `limit`. */
export function encodeRequestHead(head: RequestHead, limit = MAX_REQUEST_HEAD_BYTES): Buffer {
  const bytes = Buffer.from(JSON.stringify(validateRequestHead(head)), 'utf8');
  if (bytes.length > limit) throw new StreamHeadError('request head', `is ${bytes.length} bytes, more than the ${limit} allowed`, true);
  return bytes;
}

export function decodeRequestHead(bytes: Uint8Array, limit = MAX_REQUEST_HEAD_BYTES): RequestHead {
  if (bytes.length === 0) fail('request head', 'is missing (the stream carries no head: a server too old for this agent?)');
  if (bytes.length > limit) throw new StreamHeadError('request head', `is ${bytes.length} bytes, more than the ${limit} allowed`, true);
  return validateRequestHead(parseJson('request head', bytes));
}

export function validateResponseHead(value: unknown): ResponseHead {
  const o = object('response head', value, ['v', 'status', 'statusText', 'headers']);
  const status = o.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 101 || status > 599) fail('status', 'must be an integer in 101..599');
  return {
    v: version('response head', o.v),
    status,
    statusText: str('statusText', o.statusText, MAX_NAME, FIELD_VALUE, true),
    headers: headerPairs('headers', o.headers),
  };
}

/** The first bytes of a response stream: u32 BE length, then the head as JSON. */
export function encodeResponseHead(head: ResponseHead): Buffer {
  const json = Buffer.from(JSON.stringify(validateResponseHead(head)), 'utf8');
  if (json.length > MAX_RESPONSE_HEAD_BYTES) throw new StreamHeadError('response head', `is ${json.length} bytes, more than the ${MAX_RESPONSE_HEAD_BYTES} allowed`, true);
  const out = Buffer.allocUnsafe(RESPONSE_HEAD_PREFIX_BYTES + json.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, RESPONSE_HEAD_PREFIX_BYTES);
  return out;
}

/**
 * Collects the response head from the first chunks of a stream. `push`
 * returns undefined until the whole head is in, then the head and whatever
 * body bytes came with it; it throws StreamHeadError on a bad head.
 */
export class ResponseHeadReader {
  #chunks: Buffer[] = [];
  #bytes = 0;
  #done = false;

  push(chunk: Buffer): { head: ResponseHead; rest: Buffer } | undefined {
    if (this.#done) throw new StreamHeadError('response head', 'already read');
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes < RESPONSE_HEAD_PREFIX_BYTES) return undefined;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [all];
    const length = all.readUInt32BE(0);
    if (length > MAX_RESPONSE_HEAD_BYTES) throw new StreamHeadError('response head', `declares ${length} bytes, more than the ${MAX_RESPONSE_HEAD_BYTES} allowed`, true);
    if (all.length < RESPONSE_HEAD_PREFIX_BYTES + length) return undefined;
    this.#done = true;
    this.#chunks = [];
    const head = validateResponseHead(parseJson('response head', all.subarray(RESPONSE_HEAD_PREFIX_BYTES, RESPONSE_HEAD_PREFIX_BYTES + length)));
    return { head, rest: all.subarray(RESPONSE_HEAD_PREFIX_BYTES + length) };
  }
}

/** Hop-by-hop fields (RFC 9110 7.6.1) and framing: never copied from one connection to the next. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/**
 * Whether a request header may travel from an operator toward an API server:
 * no hop-by-hop or framing field, no credential, and nothing that names an
 * identity (the head's identity is the only one). Both ends apply it.
 */
export function isForwardableRequestHeader(name: string): boolean {
  const n = name.toLowerCase();
  return (
    !HOP_BY_HOP.has(n) &&
    n !== 'authorization' &&
    !n.startsWith('impersonate-') &&
    !n.startsWith('x-hawser-') &&
    !n.startsWith('x-remote-')
  );
}
