import { tuneGarbageCollector } from '../../packages/protocol/src/index.js';

/**
 * The bench's processes stand in for the agent and server, so they run with
 * the same garbage-collector settings as the real entry points.
 * BENCH_GC_TUNING=off leaves V8's defaults, for an A/B in one run of each.
 */
export function benchGcTuning(): 'on' | 'off' | 'n/a' {
  if (process.env.BENCH_GC_TUNING === 'off') return 'off';
  return tuneGarbageCollector() ? 'on' : 'n/a';
}
