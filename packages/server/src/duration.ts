import { ErrorCodes, HawserServerError } from './errors.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Parses a duration such as `90s`, `15m`, `1h` or `30d` (or a number of
 * milliseconds) into milliseconds. Compound forms (`1h30m`) are not accepted:
 * one unit keeps flags and config files unambiguous.
 */
export function parseDuration(value: string | number, field = 'duration'): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value > 0) return Math.round(value);
  } else {
    const match = DURATION.exec(value.trim());
    if (match) {
      const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
      if (ms > 0) return Math.round(ms);
    }
  }
  throw new HawserServerError(
    ErrorCodes.DURATION_INVALID,
    `${field}: expected a positive duration such as 90s, 15m, 1h or 30d, got ${JSON.stringify(value)}`,
  );
}
