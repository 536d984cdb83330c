/**
 * What a Kubernetes API request is, decided from its method and request
 * target exactly the way kube-apiserver's RequestInfoFactory does (Go
 * net/http decodes the path, then RequestInfoFactory splits it; nothing
 * resolves dot segments), so the agent's policy sees the verb and resource
 * that RBAC and the audit log will see. The rules, with links to the Go
 * source they copy, are in docs/security.md ("How the agent reads a request
 * path").
 *
 * `classifyRequest` adds a gate in front of that reading: a target whose
 * reading could differ between two HTTP stacks (encoded slashes, dot
 * segments, empty segments, control bytes, ...) is refused before any
 * policy runs, so no proxy, router or API server in between can read it as
 * something else.
 */
export interface RequestInfo {
  /** False for discovery, /version, /openapi, /healthz and other non-resource paths. */
  readonly isResourceRequest: boolean;
  /**
   * Kubernetes verb (get, list, watch, create, update, patch, delete,
   * deletecollection, proxy; "" for a method the API server has no verb for)
   * or, for non-resource paths, the lower-case method.
   */
  readonly verb: string;
  readonly apiGroup: string;
  readonly apiVersion: string;
  readonly namespace: string;
  readonly resource: string;
  readonly subresource: string;
  readonly name: string;
}

export type Classification = { ok: true; info: RequestInfo } | { ok: false; reason: string };

/** Longest request target the gate lets through, in bytes (Go and Node both allow more; nothing legitimate needs it). */
export const MAX_TARGET_BYTES = 8192;

const namespaceSubresources = new Set(['status', 'finalize']);
const specialVerbs = new Set(['proxy', 'watch']);
const hex = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/**
 * The API server's reading of a request, without the gate. Targets Go's
 * net/http would answer 400 itself (an invalid %-escape in the path) read
 * as a non-resource request for the raw path. Callers that decide anything
 * on it must use classifyRequest.
 */
export function parseRequestInfo(method: string, target: string): RequestInfo {
  return readTarget(method, target)?.info ?? nonResource(method);
}

/** The gate, then the API server's reading: refused, or exactly what kube-apiserver will see. */
export function classifyRequest(method: string, target: string): Classification {
  const refused = gate(method, target);
  if (refused) return { ok: false, reason: refused };
  const read = readTarget(method, target);
  if (!read) return { ok: false, reason: 'the request target cannot be parsed' };
  if (read.nameFromFieldSelector && read.labelSelector) {
    // The API server takes the name from fieldSelector only when the whole
    // ListOptions decode succeeds, which depends on labels.Parse; the agent
    // does not reimplement that grammar, so it does not guess.
    return { ok: false, reason: 'a list naming metadata.name in fieldSelector may not also carry a labelSelector' };
  }
  if (read.specialVerb && method !== 'GET' && method !== 'HEAD') {
    // /watch/... and /proxy/... set the verb from the path whatever the
    // method; only reads use them.
    return { ok: false, reason: `the /${read.specialVerb}/ path prefix is only for GET` };
  }
  return { ok: true, info: read.info };
}

interface Reading {
  info: RequestInfo;
  specialVerb: string | undefined;
  nameFromFieldSelector: boolean;
  labelSelector: string;
}

/** Go's url.ParseRequestURI + RequestInfoFactory.NewRequestInfo. undefined where Go answers 400. */
function readTarget(method: string, target: string): Reading | undefined {
  let rest = target;
  // Absolute-form: Go takes the path after scheme://authority.
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(rest);
  if (absolute) rest = rest.slice(absolute[0].length);
  const q = rest.indexOf('?');
  const rawPath = q < 0 ? rest : rest.slice(0, q);
  const rawQuery = q < 0 ? '' : rest.slice(q + 1);
  const pathBytes = unescapeBytes(rawPath, false);
  if (!pathBytes) return undefined;
  const path = lenientUtf8.decode(pathBytes);
  const query = parseQuery(rawQuery);
  const base: Reading = { info: nonResource(method), specialVerb: undefined, nameFromFieldSelector: false, labelSelector: '' };

  const all = splitPath(path);
  const prefix = all[0];
  if (all.length < 3 || (prefix !== 'api' && prefix !== 'apis')) return base;
  let parts = all.slice(1);
  let apiGroup = '';
  if (prefix === 'apis') {
    if (parts.length < 3) return base;
    apiGroup = parts[0]!;
    parts = parts.slice(1);
  }
  const apiVersion = parts[0]!;
  parts = parts.slice(1);
  let verb: string;
  let specialVerb: string | undefined;
  if (specialVerbs.has(parts[0]!)) {
    // Go returns an error here and WithRequestInfo answers 500; this
    // reading calls it unparseable, so classifyRequest refuses it.
    if (parts.length < 2) return undefined;
    verb = specialVerb = parts[0]!;
    parts = parts.slice(1);
  } else {
    verb = methodVerb(method);
  }
  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !namespaceSubresources.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? '';
  let name = parts[1] ?? '';
  const subresource = parts.length >= 3 && verb !== 'proxy' ? parts[2]! : '';

  let nameFromFieldSelector = false;
  const labelSelector = query.get('labelSelector')?.[0] ?? '';
  if (!name && verb === 'get') {
    const watch = query.get('watch');
    verb = watch && watch.length > 0 && watch[0] !== '0' && watch[0]!.toLowerCase() !== 'false' ? 'watch' : 'list';
    const fieldName = listOptionsDecode(query);
    if (fieldName !== undefined && isPathSegmentName(fieldName)) {
      name = fieldName;
      nameFromFieldSelector = name !== '';
    }
  }
  if (!name && verb === 'delete') verb = 'deletecollection';
  return {
    info: { isResourceRequest: true, verb, apiGroup, apiVersion, namespace, resource, subresource, name },
    specialVerb,
    nameFromFieldSelector,
    labelSelector,
  };
}

function nonResource(method: string): RequestInfo {
  return { isResourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '' };
}

/** RequestInfoFactory's switch: case-sensitive, and "" for any other method. */
function methodVerb(method: string): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}

/** requestinfo.go splitPath: trim every leading and trailing "/", then split. */
function splitPath(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/** Go's url.unescape: every "%" needs two hex digits; in a query "+" is a space. undefined on a bad escape. */
function unescapeBytes(s: string, query: boolean): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const h = s.slice(i + 1, i + 3);
      if (!hex.test(h)) return undefined;
      out.push(parseInt(h, 16));
      i += 2;
    } else if (query && c === 0x2b) {
      out.push(0x20);
    } else {
      // Node hands over the raw bytes as latin1; anything wider is not a byte.
      if (c > 0xff) return undefined;
      out.push(c);
    }
  }
  return Buffer.from(out);
}

/** Go's url.ParseQuery as Request.URL.Query() uses it: "&" only; a pair with ";" or a bad escape is dropped. */
function parseQuery(raw: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const pair of raw.split('&')) {
    if (pair === '' || pair.includes(';')) continue;
    const eq = pair.indexOf('=');
    const k = unescapeBytes(eq < 0 ? pair : pair.slice(0, eq), true);
    const v = unescapeBytes(eq < 0 ? '' : pair.slice(eq + 1), true);
    if (!k || !v) continue;
    const key = lenientUtf8.decode(k);
    values.set(key, [...(values.get(key) ?? []), lenientUtf8.decode(v)]);
  }
  return values;
}

/**
 * DecodeParameters into metainternalversion.ListOptions: undefined when it
 * fails (strconv.ParseInt of limit/timeoutSeconds, fields.ParseSelector),
 * else fieldSelector's RequiresExactMatch("metadata.name") ("" when none).
 * labels.Parse is assumed to succeed; classifyRequest refuses the one case
 * where that matters.
 */
function listOptionsDecode(query: Map<string, string[]>): string | undefined {
  for (const key of ['limit', 'timeoutSeconds']) {
    const v = query.get(key)?.[0];
    if (v !== undefined && !isInt64(v)) return undefined;
  }
  const selector = query.get('fieldSelector')?.[0];
  if (selector === undefined) return '';
  return fieldSelectorName(selector);
}

function isInt64(v: string): boolean {
  if (!/^[+-]?[0-9]+$/.test(v)) return false;
  const n = BigInt(v);
  return n >= -(2n ** 63n) && n < 2n ** 63n;
}

/** fields.ParseSelector + RequiresExactMatch("metadata.name"); undefined when the selector does not parse. */
export function fieldSelectorName(selector: string): string | undefined {
  const terms = splitTerms(selector).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  let found: string | undefined;
  for (const term of terms) {
    if (term === '') continue;
    const split = splitTerm(term);
    if (!split) return undefined;
    const value = unescapeFieldValue(split.rhs);
    if (value === undefined) return undefined;
    if (found === undefined && split.op !== '!=' && split.lhs === 'metadata.name') found = value;
  }
  return found ?? '';
}

function splitTerms(selector: string): string[] {
  if (selector === '') return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

function splitTerm(term: string): { lhs: string; op: string; rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
    }
  }
  return undefined;
}

function unescapeFieldValue(s: string): string | undefined {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return undefined;
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') return undefined;
    else out += c;
  }
  return inSlash ? undefined : out;
}

/** content.IsPathSegmentName: not "." or "..", no "/" or "%". */
function isPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/**
 * Why a target's reading could differ between two HTTP stacks, or
 * undefined when it cannot. Every rule here is listed in docs/security.md.
 */
function gate(method: string, target: string): string | undefined {
  if (!/^[A-Z]+$/.test(method)) return `the method "${method}" is not an upper-case token`;
  if (Buffer.byteLength(target, 'latin1') > MAX_TARGET_BYTES) return `the request target is longer than ${MAX_TARGET_BYTES} bytes`;
  if (!target.startsWith('/')) return 'the request target does not start with "/" (absolute-form and authority-form are refused)';
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) return `the request target contains the control or space byte 0x${c.toString(16).padStart(2, '0')}`;
    if (c > 0x7e) return 'the request target contains a raw non-ASCII byte';
  }
  if (target.includes('#')) return 'the request target contains "#"';
  if (target.includes('\\')) return 'the request target contains a raw "\\"';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const rawQuery = q < 0 ? '' : target.slice(q + 1);
  return gatePath(rawPath) ?? gateQuery(rawQuery);
}

/** Delimiters that must never arrive %-encoded in a path: some stack would decode them and re-read the path. */
const encodedDelimiters: Record<number, string> = { 0x2f: '/', 0x5c: '\\', 0x25: '%', 0x3f: '?', 0x23: '#', 0x3b: ';' };

function gatePath(rawPath: string): string | undefined {
  if (rawPath.includes(';')) return 'the path contains ";"';
  if (rawPath === '/') return undefined;
  const segments = rawPath.slice(1).split('/');
  // One trailing "/" is meaningful to proxy subresources (".../proxy/")
  // and trimmed by RequestInfo, so every stack reads the same resource.
  if (segments.length > 1 && segments.at(-1) === '') segments.pop();
  for (const segment of segments) {
    if (segment === '') return 'the path has an empty segment ("//")';
    const bytes = gateEscapes(segment, 'path');
    if (typeof bytes === 'string') return bytes;
    for (let i = 0; i < segment.length; i++) {
      if (segment[i] !== '%') continue;
      const b = parseInt(segment.slice(i + 1, i + 3), 16);
      if (encodedDelimiters[b]) return `the path contains an encoded "${encodedDelimiters[b]}" (${segment.slice(i, i + 3)})`;
    }
    const decoded = bytes.toString('latin1');
    if (decoded === '.' || decoded === '..') return `the path has a dot segment ("${segment}")`;
  }
  return undefined;
}

function gateQuery(rawQuery: string): string | undefined {
  if (rawQuery.includes(';')) return 'the query contains ";" (Go drops such pairs, other stacks split on it)';
  let watchKeys = 0;
  for (const pair of rawQuery.split('&')) {
    const eq = pair.indexOf('=');
    const key = gateEscapes(eq < 0 ? pair : pair.slice(0, eq), 'query');
    if (typeof key === 'string') return key;
    const value = gateEscapes(eq < 0 ? '' : pair.slice(eq + 1), 'query');
    if (typeof value === 'string') return value;
    if (key.toString('latin1').replace(/\+/g, ' ') === 'watch') {
      if (++watchKeys > 1) return 'the query repeats "watch"';
      if (/[^\x20-\x7e]/.test(value.toString('latin1'))) return 'the watch value is not ASCII';
    }
  }
  return undefined;
}

/** Checks one %-escaped component: valid escapes, no control bytes, valid UTF-8. The decoded bytes, or why not. */
function gateEscapes(s: string, where: 'path' | 'query'): Buffer | string {
  const bytes = unescapeBytes(s, where === 'query');
  if (!bytes) return `the ${where} contains an invalid %-escape`;
  for (const b of bytes) {
    if (b < 0x20 || b === 0x7f) return `the ${where} contains an encoded control byte 0x${b.toString(16).padStart(2, '0')}`;
  }
  try {
    utf8.decode(bytes);
  } catch {
    return `the ${where} decodes to invalid or overlong UTF-8`;
  }
  return bytes;
}
