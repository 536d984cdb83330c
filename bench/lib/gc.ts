import { tuneGarbageCollector } from '../../packages/server/src/gc-tuning.js';

/**
 * The bench process stands in for the server, so it runs with the server's
 * garbage-collector settings (the agent process, like the real agent, keeps
 * V8's defaults). HAWSER_GC_TUNING=off turns them off here too, for an A/B.
 */
export function benchGcTuning(): 'on' | 'off' | 'n/a: Node < 24' {
  if (process.env.HAWSER_GC_TUNING === 'off') return 'off';
  return tuneGarbageCollector() ? 'on' : 'n/a: Node < 24';
}
