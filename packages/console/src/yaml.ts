/**
 * JSON as YAML, for reading an object as kubectl's `-o yaml` shows it. A
 * small printer rather than a YAML library: the console only ever prints
 * plain JSON values, and the bundle stays small. Strings that YAML would
 * read as something else are double-quoted (JSON strings are valid YAML).
 */

// Plain scalars that YAML 1.1 or 1.2 would read as booleans, null or numbers.
const RESERVED = /^(true|false|yes|no|on|off|y|n|null|~|[-+]?(\.inf|\.nan)|[-+]?[0-9][0-9a-zA-Z_.:+-]*|[-+]?\.[0-9].*)$/i;
// Characters that start an indicator, or sequences that would end or comment a plain scalar.
const INDICATOR = /^[-?:,[\]{}#&*!|>'"%@`\s]|: |:$| #|\s$|\p{Cc}/u;

function scalar(s: string): string {
  return s === '' || RESERVED.test(s) || INDICATOR.test(s) ? JSON.stringify(s) : s;
}

function block(s: string, indent: string): string | undefined {
  // A literal block keeps multi-line text readable; text whose first line
  // starts with a space or that has control characters stays quoted.
  if (!s.includes('\n') || /^[ \t]/.test(s) || /\p{Cc}/u.test(s.replace(/[\n\t]/g, '')) || /[ \t]\n/.test(s)) return undefined;
  const chomp = s.endsWith('\n') ? (s.endsWith('\n\n') ? '+' : '') : '-';
  const body = (chomp === '' ? s.slice(0, -1) : chomp === '+' ? s.slice(0, -1) : s).split('\n');
  return `|${chomp}\n${body.map((l) => (l ? `${indent}${l}` : '')).join('\n')}`;
}

function isCollection(v: unknown): v is object {
  return typeof v === 'object' && v !== null && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
}

function value(v: unknown, indent: string): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return block(v, `${indent}  `) ?? scalar(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return '[]';
  return '{}';
}

function lines(v: unknown, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item: unknown) => {
      if (!isCollection(item)) return [`${indent}- ${value(item, indent)}`];
      const inner = lines(item, `${indent}  `);
      // The first line of the item goes on the dash's line.
      return [`${indent}- ${inner[0]!.slice(indent.length + 2)}`, ...inner.slice(1)];
    });
  }
  return Object.entries(v as Record<string, unknown>).flatMap(([k, item]) => {
    const key = scalar(k);
    if (!isCollection(item)) return [`${indent}${key}: ${value(item, indent)}`];
    // Sequences under a key sit at the key's indentation, as kubectl prints them.
    return [`${indent}${key}:`, ...lines(item, Array.isArray(item) ? indent : `${indent}  `)];
  });
}

/** The YAML text of a JSON value, ending with a newline. */
export function toYaml(v: unknown): string {
  return isCollection(v) ? `${lines(v, '').join('\n')}\n` : `${value(v, '')}\n`;
}
