#!/usr/bin/env node
import { main } from './cli/cli-main.js';
import { tuneGarbageCollector, tuneWasmCompilation } from './gc-tuning.js';

// Before any traffic flows; why: gc-tuning.ts.
tuneGarbageCollector();
tuneWasmCompilation();

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
