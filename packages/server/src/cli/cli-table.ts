import { printable } from '../printable.js';

export { printable, printableJson, printableLines } from '../printable.js';

/** Left-aligned columns separated by two spaces, kubectl-style; the first row is the header. Cells pass {@link printable}. */
export function table(rows: string[][]): string {
  const safe = rows.map((r) => r.map((c) => printable(c ?? '')));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((r) => (r[i] ?? '').length)));
  return safe.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
