#!/usr/bin/env node
import { tuneGarbageCollector } from '@hawser/protocol';
import { main } from './cli-main.js';

// Before any traffic flows; why: packages/protocol/src/gc-tuning.ts.
tuneGarbageCollector();

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
