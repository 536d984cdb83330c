#!/usr/bin/env node
import process from 'node:process';
// Committed shim: it exists when `npm ci` links workspace bins (dist/ does
// not yet), so `npx hawser` works on a fresh clone once `npm run build` ran.
import('../dist/cli.js').catch((err) => {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('/dist/cli.js')) {
    process.stderr.write('hawser: not built yet: run `npm run build` in the repository first\n');
    process.exit(1);
  }
  throw err;
});
