/**
 * Self-time summary of a .cpuprofile (from `node --cpu-prof` or
 * `npm run bench:profile`), optionally of one phase only:
 *
 *   npm run bench:profile-summary -- FILE [--from US --to US] [--top N]
 *
 * `--from`/`--to` are monotonic microseconds (process.hrtime), as
 * bench/relay.ts prints for its small-GET phase.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cut, summarize, type CpuProfile } from './lib/cpu-profile.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string' } } });
for (const file of positionals) {
  let profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (values.from || values.to) profile = cut(profile, Number(values.from ?? 0), Number(values.to ?? Infinity));
  console.log(`${file}:\n${summarize(profile, Number(values.top ?? 12))}`);
}
