/**
 * Characters a terminal may act on instead of showing: C0 controls (ESC
 * starts colour, cursor and title sequences; CR and LF forge lines), DEL,
 * the C1 controls (U+009B is a one-byte CSI in some terminals), and the
 * Unicode line separators and bidi overrides that reorder what is shown.
 * Values the CLI prints come from the server, and some of them from agents.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** What JSON.stringify leaves raw inside strings; its own C0 escapes and the layout's line breaks stay. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/**
 * The one sanitizer for everything the CLI prints from the server: each
 * unsafe character becomes a visible escape (`\x1b`, `\x0a`), so a value can
 * neither drive the terminal nor forge a line or a table row.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** Lines of text for the terminal: every line's content passes {@link printable}; the line breaks are ours. */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}

/** JSON for the terminal: JSON.stringify escapes C0 controls but not C1 or bidi characters; this escapes those too. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}
