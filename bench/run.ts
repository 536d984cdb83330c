/** npm run bench: every benchmark, one after another (never part of `npm test`). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
let failed = 0;
for (const bench of ['tunnel.ts', 'relay.ts']) {
  const file = fileURLToPath(new URL(`./${bench}`, import.meta.url));
  process.stderr.write(`\n== bench/${bench}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
